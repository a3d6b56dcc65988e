"""The processed datasets a worker times: ``--dataset name=DATA_DIR[,EMBEDDINGS]`` and their text."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from padlib.data.dataset import SequenceData
from padlib.text.normalize import normalize_text
from padlib.text.store import read_embeddings


def parse_dataset(spec: str) -> tuple[str, str, str]:
    """``name=DATA_DIR[,EMBEDDINGS]`` → (name, data dir, embeddings path or "")."""
    name, _, paths = spec.partition("=")
    data_dir, _, embeddings = paths.partition(",")
    if not name or not data_dir:
        raise SystemExit(f"--dataset {spec!r}: expected name=DATA_DIR[,EMBEDDINGS.parquet]")
    return name, data_dir, embeddings


def load_dataset(data_dir: str, embeddings: str | None, config: dict[str, Any],
                 text_dim: int) -> tuple[SequenceData, torch.Tensor]:
    """The processed dataset and its text matrix (random of ``text_dim`` when no embeddings file:
    the speed does not depend on the vectors)."""
    protocol = config["protocol"]
    data = SequenceData.load(data_dir, protocol["n_buckets"], protocol["max_input_length"])
    if embeddings and Path(embeddings).is_file():
        matrix, _ = read_embeddings(embeddings, data.n_items)
        text = torch.from_numpy(normalize_text(matrix, config["model"]["text_norm"]))
    else:
        text = torch.randn(data.n_items + 1, text_dim, generator=torch.Generator().manual_seed(0))
        text[0] = 0
    return data, text
