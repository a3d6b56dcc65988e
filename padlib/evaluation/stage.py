"""The evaluate stage: test the best-validation checkpoint with full ranking (known items left out)."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import polars as pl

from padlib.data.dataset import load_data
from padlib.device import resolve_device
from padlib.evaluation.diagnostics import mixture_diagnostics
from padlib.evaluation.metrics import summarize
from padlib.evaluation.new_items import catalog_with_new_items
from padlib.evaluation.ranking import target_ranks
from padlib.io import manifest_path, read_json, write_json, write_manifest, write_parquet
from padlib.models.build import ModelConfig, rebuild
from padlib.models.checkpoint import load_checkpoint
from padlib.models.newitems import NewItemPolicy
from padlib.models.recommender import PADModel
from padlib.text.store import load_text


def evaluate_checkpoint(data_dir: str, checkpoint_path: str, embeddings: str | None, out_metrics: str,
                        out_ranks: str, params: dict[str, Any], phase1_path: str | None = None, *,
                        device: str = "auto") -> dict[str, Any]:
    """Valid and test full-ranking metrics of one checkpoint; a gated mixture also gets ``diagnostics``
    (each expert alone, its gate per bucket and, given the phase-1 checkpoint ``phase1_path``, the
    gate-prior-only ranking: ``padlib.evaluation.diagnostics``). ``params`` holds only what changes
    the numbers (protocol, evaluate), so a new device or report label reruns nothing."""
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
    model.eval()
    policy = NewItemPolicy.from_dict(params["evaluate"].get("new_items"))
    catalog = catalog_with_new_items(model, data.held_out.to(device), policy)
    ranks = {name: target_ranks(model, s.history, s.target, data.n_items, batch, device=device,
                                source=checkpoint_path, known=s.known, repeat_target=s.repeat_target,
                                catalog=catalog)
             for name, s in splits.items()}
    buckets, unseen = data.item_buckets.numpy(), data.unseen.numpy()
    targets = {name: s.target.numpy() for name, s in splits.items()}
    train_manifest = read_json(manifest_path(checkpoint_path))
    metrics = {
        "checkpoint": checkpoint_path,
        "seed": checkpoint.get("seed"),
        "best_epoch": checkpoint["fit"]["best_epoch"],
        "train_wall_time_s": checkpoint["fit"]["wall_time_s"],
        "train_device": train_manifest.get("device"),
        **{name: summarize(r, buckets[targets[name]], data.n_buckets, k, unseen[targets[name]])
           for name, r in ranks.items()},
    }
    if isinstance(model, PADModel):
        phase1 = None
        if phase1_path is not None:
            phase1 = rebuild(load_checkpoint(phase1_path), text, data.item_buckets).to(device)
        metrics["diagnostics"] = mixture_diagnostics(
            model, checkpoint["gate_init"], data.test, data.n_items, data.n_buckets, k, batch, device,
            checkpoint_path, phase1, data.held_out, policy, data.unseen)
    per_user = pl.DataFrame({
        "user_idx": splits["test"].user_idx.numpy(),
        "target": targets["test"],
        "bucket": buckets[targets["test"]],
        "new": unseen[targets["test"]],
        "rank": ranks["test"].astype(np.int64),
    })
    write_parquet(out_ranks, per_user.to_arrow())
    write_json(out_metrics, metrics)
    inputs = [checkpoint_path, *([phase1_path] if phase1_path else [])]
    for out in (out_ranks, out_metrics):  # the report verifies both against these
        write_manifest(out, config=params, inputs=inputs, seed=metrics["seed"],
                       wall_time_s=time.perf_counter() - start, device=str(device))
    return metrics


