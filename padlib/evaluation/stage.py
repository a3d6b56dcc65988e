"""The evaluate stage: test the best-validation checkpoint with full ranking (history masked)."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import polars as pl

from padlib.device import resolve_device
from padlib.evaluation.metrics import summarize
from padlib.evaluation.ranking import target_ranks
from padlib.io import atomic_path, read_json, manifest_path, write_json, write_manifest
from padlib.models.build import ModelConfig, load_checkpoint, rebuild
from padlib.training.phases import load_data, load_text


def evaluate_checkpoint(data_dir: str, checkpoint_path: str, embeddings: str | None, out_metrics: str,
                        out_ranks: str, params: dict[str, Any], *, device: str = "auto") -> dict[str, Any]:
    """Valid and test full-ranking metrics of one checkpoint. ``params`` holds only what changes the
    numbers (protocol, evaluate), so a new device or report label reruns nothing."""
    start = time.perf_counter()
    device = resolve_device(device)
    data = load_data(data_dir, params["protocol"])
    checkpoint = load_checkpoint(checkpoint_path)
    text = None
    if embeddings is not None:
        text = load_text(embeddings, data.n_items, ModelConfig.from_dict(checkpoint["model"]).text_norm)
    model = rebuild(checkpoint, text, data.item_buckets).to(device)
    k = params["evaluate"]["k"]
    batch = params["evaluate"]["batch_size"]
    splits = {name: getattr(data, name) for name in ("valid", "test")}
    ranks = {name: target_ranks(model, s.history, s.target, data.n_items, batch, device=device)
             for name, s in splits.items()}
    buckets = data.item_buckets.numpy()
    train_manifest = read_json(manifest_path(checkpoint_path))
    metrics = {
        "checkpoint": checkpoint_path,
        "seed": checkpoint.get("seed"),
        "best_epoch": checkpoint["fit"]["best_epoch"],
        "train_wall_time_s": checkpoint["fit"]["wall_time_s"],
        "train_device": train_manifest.get("device"),
        **{name: summarize(r, buckets[splits[name].target.numpy()], data.n_buckets, k) for name, r in ranks.items()},
    }
    per_user = pl.DataFrame({
        "user_idx": splits["test"].user_idx.numpy(),
        "target": splits["test"].target.numpy(),
        "bucket": buckets[splits["test"].target.numpy()],
        "rank": ranks["test"].astype(np.int64),
    })
    with atomic_path(out_ranks) as tmp:
        per_user.write_parquet(tmp)
    write_json(out_metrics, metrics)
    write_manifest(out_metrics, config=params, inputs=[checkpoint_path], seed=metrics["seed"],
                   wall_time_s=time.perf_counter() - start, device=str(device))
    return metrics


