"""Serving without the LLM: a user's top-k items from a trained PAD model and stored embeddings.

The frozen item-text vectors were computed once by the embed stage; here only the
projection MLPs, the backbones and one matrix product per expert run.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import polars as pl
import torch

from padlib.data.dataset import left_pad
from padlib.errors import PadError
from padlib.evaluation.ranking import top_k
from padlib.io import read_parquet
from padlib.models.build import ModelConfig, rebuild
from padlib.models.checkpoint import load_checkpoint
from padlib.text.normalize import normalize_text
from padlib.text.store import read_embeddings


@dataclass
class Recommendation:
    user_id: str
    history: list[str]
    items: list[str]
    scores: list[float]
    seconds: float


def find_model(results: Path, dataset: str, backbone: str | None, seed: int | None, encoder: str | None,
               variant: str = "pad") -> Path:
    pattern = f"{backbone or '*'}/seed{'*' if seed is None else seed}/{encoder or '*'}/{variant}/model.pt"
    found = sorted((results / dataset).glob(pattern))
    if not found:
        raise PadError(f"no trained PAD model matches {results / dataset / pattern}; run the workflow first")
    if len(found) > 1:
        listing = "\n  ".join(str(p) for p in found)
        raise PadError(f"several PAD models match; choose with --backbone/--seed/--encoder:\n  {listing}")
    return found[0]


def recommend(results: str | Path, dataset: str, user: str, k: int = 10, backbone: str | None = None,
              seed: int | None = None, encoder: str | None = None, history_shown: int = 10) -> Recommendation:
    results = Path(results)
    model_path = find_model(results, dataset, backbone, seed, encoder)
    data_dir = results / dataset / "data"
    items = read_parquet(data_dir / "items.parquet").sort("item_idx")
    sequences = read_parquet(data_dir / "sequences.parquet")
    row = sequences.filter(pl.col("user_id") == str(user))
    if row.height == 0:
        raise PadError(f"user {user!r} is not in {data_dir / 'sequences.parquet'} (raw user ids, e.g. "
                       f"{sequences['user_id'][:3].to_list()})")
    start = time.perf_counter()
    checkpoint = load_checkpoint(model_path)
    n_items = checkpoint["n_items"]
    embeddings = results / dataset / "embeddings" / f"{model_path.parents[1].name}.parquet"
    matrix, _ = read_embeddings(embeddings, n_items)
    text = torch.from_numpy(normalize_text(matrix, ModelConfig.from_dict(checkpoint["model"]).text_norm))
    buckets = torch.zeros(n_items + 1, dtype=torch.long)
    index = torch.tensor(items["item_idx"].to_numpy(), dtype=torch.long)
    buckets[index] = torch.tensor(items["bucket"].to_numpy(), dtype=torch.long)
    model = rebuild(checkpoint, text, buckets)
    seq = row["items"][0].to_list()
    history = torch.as_tensor(left_pad([seq], checkpoint["max_length"]))
    rankable = n_items - len(set(history[0].tolist()) - {0})  # the user's history is never recommended
    if not 1 <= k <= rankable:
        raise PadError(f"-k {k}: expected 1 ≤ k ≤ {rankable} (the {n_items} items of {dataset} less the "
                       f"{n_items - rankable} in user {user!r}'s history)")
    top_items, top_scores = top_k(model, history, n_items, k, source=str(model_path))
    seconds = time.perf_counter() - start
    titles = items["title"].to_list() if "title" in items.columns else items["item_id"].to_list()
    return Recommendation(
        user_id=str(user),
        history=[titles[i - 1] for i in seq[-history_shown:]],
        items=[titles[i - 1] for i in top_items[0]],
        scores=[float(s) for s in top_scores[0]],
        seconds=seconds,
    )
