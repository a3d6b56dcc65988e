"""Serving without the LLM: a user's top-k items from a trained PAD model and stored embeddings,
the items added with ``pad add-items`` ranked with the rest (``padlib.serving``)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import polars as pl
import torch

from padlib.data.dataset import left_pad
from padlib.errors import PadError
from padlib.io import read_parquet
from padlib.models.newitems import NewItemPolicy
from padlib.serving.served import ServedModel, find_model

__all__ = ["Recommendation", "find_model", "recommend"]


@dataclass
class Recommendation:
    user_id: str
    history: list[str]
    items: list[str]
    scores: list[float]
    seconds: float
    added: int = 0           # items served beyond the trained catalogue (pad add-items)
    policy: NewItemPolicy | None = None


def recommend(results: str | Path, dataset: str, user: str, k: int = 10, backbone: str | None = None,
              seed: int | None = None, encoder: str | None = None, history_shown: int = 10,
              variant: str = "pad") -> Recommendation:
    results = Path(results)
    model_path = find_model(results, dataset, backbone, seed, encoder, variant)
    data_dir = results / dataset / "data"
    sequences = read_parquet(data_dir / "sequences.parquet")
    row = sequences.filter(pl.col("user_id") == str(user))
    if row.height == 0:
        raise PadError(f"user {user!r} is not in {data_dir / 'sequences.parquet'} (raw user ids, e.g. "
                       f"{sequences['user_id'][:3].to_list()})")
    start = time.perf_counter()
    embeddings = results / dataset / "embeddings" / f"{model_path.parents[1].name}.parquet"
    served = ServedModel.load(model_path, data_dir, embeddings)
    n_items = served.n_items
    seq = row["items"][0].to_list()
    history = torch.as_tensor(left_pad([seq], served.max_length))
    rankable = n_items - len(set(history[0].tolist()) - {0})  # the user's history is never recommended
    if not 1 <= k <= rankable:
        raise PadError(f"-k {k}: expected 1 ≤ k ≤ {rankable} (the {n_items} items of {dataset} less the "
                       f"{n_items - rankable} in user {user!r}'s history)")
    top_items, top_scores = served.top_k(history, k)
    seconds = time.perf_counter() - start
    return Recommendation(
        user_id=str(user),
        history=[served.labels[i - 1] for i in seq[-history_shown:]],
        items=[served.labels[i - 1] for i in top_items[0]],
        scores=[float(s) for s in top_scores[0]],
        seconds=seconds,
        added=served.n_added,
        policy=served.policy,
    )
