"""Top-10 serving latency over a synthetic PAD catalogue (random text vectors, random histories):
one user at a time after loading, the float16 screen against fp32 alone, and a batch of users;
then adding items that training never saw (their rows computed and appended, into spare room and
by copying), and one user's top-10 over the grown catalogue. Older trees have no prepared catalogue
(``model.catalog``), no item-major layout or no new-item rows; what a tree lacks it is measured
without."""

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


def adding(model: nn.Module, histories: torch.Tensor, n_items: int, added: int,
           device: torch.device) -> dict[str, Any]:
    """Seconds to add ``added`` items (their text through the trained projections, appended) to a
    catalogue prepared with room to spare and to one prepared without (a copy), and the median
    top-10 latency over the grown catalogue; the embedding of their texts is not counted (the
    embedding figure above gives its rate)."""
    from padlib.models.newitems import NewItemPolicy

    text = torch.randn(added, TEXT_DIM)
    out: dict[str, Any] = {"added": added}
    for name, spare in (("add_in_place_s", 2 * added / n_items), ("add_copy_s", 0.0)):
        prepared = model.catalog().for_serving(spare=spare)
        sync(device)
        start = time.perf_counter()
        grown = prepared.extend(model.new_item_rows(text, NewItemPolicy()))
        sync(device)
        out[name] = time.perf_counter() - start
        del prepared
    out["latency_after_add_ms"], _ = one_user_latency(model, histories, n_items + added, device, {"catalog": grown})
    return out


def serving(config: dict[str, Any], device: torch.device, n_items: int, users: int, batch: int,
            added: int = 0) -> dict[str, Any]:
    """Top-10 over ``n_items`` items for ``users`` users one at a time, then ``batch`` users at once,
    then (``added`` > 0, trees that have new-item rows) adding that many items."""
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
        if added and hasattr(model, "new_item_rows"):
            del catalog, kwargs
            out |= adding(model, histories[:users], n_items, added, device)
    return out
