"""Text-embedding throughput of the SmolLM2 encoder, batched as the embed stage batches, with its
achieved FLOP/s (the table compares them with the measured matmul peak). Without the downloaded
weights it embeds with the same architecture and random weights: the speed does not depend on them."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

import polars as pl
import torch

from padlib.text.encoder import encode, load_text_encoder

from benchmarks import ROOT
from benchmarks.hardware import sync

MODEL_DIR = ROOT / "resources/models/smollm2"


def item_texts(data_dir: str, n: int) -> list[str]:
    """The first ``n`` item titles of a processed dataset (its last column when it has no title)."""
    items = pl.read_parquet(Path(data_dir) / "items.parquet")
    column = "title" if "title" in items.columns else items.columns[-1]
    return [str(t) for t in items[column].to_list()[:n]]


def model_dir() -> tuple[Path, str]:
    """The encoder's folder and what it holds: the weights, or a copy of the architecture with random ones."""
    if (MODEL_DIR / "model.safetensors").exists():
        return MODEL_DIR, "SmolLM2-135M weights"
    from transformers import AutoConfig, AutoModel
    random_dir = Path(tempfile.mkdtemp()) / "smollm2-random"
    AutoModel.from_config(AutoConfig.from_pretrained(MODEL_DIR)).save_pretrained(random_dir)
    for name in ("tokenizer.json", "tokenizer_config.json"):
        (random_dir / name).write_bytes((MODEL_DIR / name).read_bytes())
    return random_dir, "SmolLM2-135M architecture, random weights"


def embedding(device: torch.device, texts: list[str], encoder_cfg: dict[str, Any]) -> dict[str, Any]:
    """Texts/s, tokens/s and achieved FLOP/s of the SmolLM2 encoder over ``texts``, batched as the
    embed stage batches them (``batch_size`` and ``max_tokens`` of the encoder's config)."""
    folder, source = model_dir()
    encoder = load_text_encoder(folder, "llm2vec", device=device)
    lengths = [len(ids) for ids in encoder.tokenizer(texts, truncation=True, max_length=512)["input_ids"]]
    cfg = encoder.model.config
    params = sum(p.numel() for n, p in encoder.model.named_parameters() if "embed_tokens" not in n)
    # 2 FLOPs per weight per token, plus attention scores and mixing: 4·layers·hidden per token pair
    flops = sum(2 * params * t + 4 * cfg.num_hidden_layers * cfg.hidden_size * t * t for t in lengths)
    batching = {"batch_size": encoder_cfg["batch_size"], "max_tokens": encoder_cfg.get("max_tokens")}
    encode(encoder, texts[:64], progress=False, **batching)  # warm-up
    sync(device)
    start = time.perf_counter()
    encode(encoder, texts, progress=False, **batching)
    sync(device)
    seconds = time.perf_counter() - start
    return {"texts": len(texts), "tokens": sum(lengths), "seconds": seconds, "texts_per_s": len(texts) / seconds,
            "tokens_per_s": sum(lengths) / seconds, "gflops": flops / seconds / 1e9,
            "dtype": str(next(encoder.model.parameters()).dtype).removeprefix("torch."), "source": source, **batching}
