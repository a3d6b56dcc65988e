"""Top-10 serving latency over a synthetic PAD catalogue (random text vectors, random histories):
one user at a time after loading, the float16 screen against fp32 alone, and a batch of users.
Older trees have no prepared catalogue (``model.catalog``) or no item-major layout; what a tree
lacks it is measured without."""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import numpy as np
import torch
from torch import nn

from padlib.evaluation import ranking
from padlib.models.build import ModelConfig, pad_model

from benchmarks.hardware import sync
from benchmarks.params import phase_params

TEXT_DIM = 576  # SmolLM2-135M's hidden size
HISTORY = 20


def one_user_latency(model: nn.Module, histories: torch.Tensor, n_items: int, device: torch.device,
                     kwargs: dict[str, Any]) -> tuple[float, list[np.ndarray]]:
    """Median ms of one user's top-10 (after a warm-up call), and each user's items."""
    ranking.top_k(model, histories[:1], n_items, 10, device=device, **kwargs)
    times, found = [], []
    for u in range(histories.shape[0]):
        start = time.perf_counter()
        items, _ = ranking.top_k(model, histories[u:u + 1], n_items, 10, device=device, **kwargs)
        sync(device)
        times.append(time.perf_counter() - start)
        found.append(items)
    return 1e3 * sorted(times)[len(times) // 2], found


def serving(config: dict[str, Any], device: torch.device, n_items: int, users: int, batch: int) -> dict[str, Any]:
    """Top-10 over ``n_items`` items for ``users`` users one at a time, then ``batch`` users at once."""
    torch.manual_seed(0)
    params = phase_params(config, "finetune")
    ft = params["finetune"]
    n_buckets = config["protocol"]["n_buckets"]
    text = torch.randn(n_items + 1, TEXT_DIM)
    buckets = torch.randint(1, n_buckets + 1, (n_items + 1,))
    model = pad_model(n_items, text, buckets, n_buckets, ModelConfig.from_dict(params["model"]), HISTORY,
                      ft["gate_init"], tuple(ft["experts"])).to(device)
    model.eval()
    histories = torch.randint(1, n_items + 1, (max(users, batch), HISTORY))
    prepared = hasattr(model, "catalog")
    out: dict[str, Any] = {"n_items": n_items, "prepared_catalog": prepared}
    with torch.inference_mode():
        start = time.perf_counter()
        catalog = model.catalog() if prepared else None
        if hasattr(catalog, "for_serving"):
            catalog = catalog.for_serving()
        sync(device)
        out["load_s"] = time.perf_counter() - start
        kwargs = {"catalog": catalog} if prepared else {}
        out["latency_ms"], found = one_user_latency(model, histories[:users], n_items, device, kwargs)
        if getattr(catalog, "screen", None) is not None:  # the float16 screen against fp32 alone
            fp32 = {"catalog": dataclasses.replace(catalog, screen=None)}
            out["fp32_latency_ms"], exact = one_user_latency(model, histories[:users], n_items, device, fp32)
            out["screen_exact"] = f"{sum((a == b).all() for a, b in zip(found, exact))}/{users}"
        if prepared:
            start = time.perf_counter()
            ranking.top_k(model, histories[:batch], n_items, 10, device=device, **kwargs)
            sync(device)
            out["batched_ms_per_user"] = 1e3 * (time.perf_counter() - start) / batch
            out["batch"] = batch
    return out
