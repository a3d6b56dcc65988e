"""Per-epoch seconds of each phase, through the tree's own training loop.

An epoch is one call of the tree's ``training.loop.fit`` with ``max_epochs: 1`` over the first
``--train-users`` training users (and as many validation users), after a warm-up ``fit`` over two
batches of users; its training seconds are scaled to all users. Where ``fit`` records each epoch's
seconds in its history (this tree), they are read from there. Older trees (b12c064) record none:
``validation_clock`` then times the stretch between ``fit``'s validation before training and the one
after the epoch, which holds the epoch and the creation of its (disabled) progress bar. The
validation pass itself is timed apart, over every validation user.

The models come from padlib's builders (``models.build``) with random weights, as each phase
function builds them; the phase functions themselves read files and train to early stopping (they
are what ``--full`` runs). What they set up around the model is not repeated here: phase 2's
``keep_text`` (so its alignment loss projects the batch's text again rather than reusing the
forward's), its anchoring switches and phase 3's per-prefix learning rates. The default config
leaves only the first of these active.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import ModuleType
from typing import Any

import torch
from torch import nn

from padlib.data.dataset import EvalSplit, SequenceData
from padlib.models.build import ModelConfig, aligned_expert, id_expert, pad_model, text_expert
from padlib.models.recommender import SingleExpert
from padlib.training import loop
from padlib.training.phases import alignment_loss

from benchmarks.hardware import sync
from benchmarks.params import phase_params

ExtraLoss = Callable[[nn.Module, Any], torch.Tensor]


def phase_model(phase: str, params: dict[str, Any], data: SequenceData,
                text: torch.Tensor) -> tuple[nn.Module, ExtraLoss | None]:
    """The model ``phase`` trains (random weights) and its extra loss (phase 2's alignment)."""
    mc = ModelConfig.from_dict(params["model"])
    length = data.max_input_length
    if phase == "pretrain":
        return SingleExpert(id_expert(data.n_items, mc, length)), None
    if phase == "align":
        return SingleExpert(aligned_expert(data.n_items, text, mc, length)), alignment_loss(params["align"])
    if phase == "morec":
        return SingleExpert(text_expert(text, mc, length)), None
    ft = params["finetune"]
    return pad_model(data.n_items, text, data.item_buckets, data.n_buckets, mc, length, ft["gate_init"],
                     tuple(ft["experts"]), gate=ft["gate"]), None


def train_config(params: dict[str, Any], **changes: Any) -> loop.TrainConfig:
    """The phase's TrainConfig with ``changes``, keeping only the keys the tree's TrainConfig knows
    (an older tree lacks some)."""
    known = {f.name for f in dataclasses.fields(loop.TrainConfig)}
    return loop.TrainConfig(**{k: v for k, v in {**params["train"], **changes}.items() if k in known})


def _first_rows(split: EvalSplit, n: int) -> EvalSplit:
    tensors = {f.name: getattr(split, f.name) for f in dataclasses.fields(split)}
    return dataclasses.replace(split, **{k: v[:n] for k, v in tensors.items() if isinstance(v, torch.Tensor)})


def users_subset(data: SequenceData, n: int) -> SequenceData:
    """``data`` with only its first ``n`` training users and first ``n`` validation and test users."""
    return dataclasses.replace(data, train_input=data.train_input[:n], train_target=data.train_target[:n],
                               train_items=data.train_items[:n], valid=_first_rows(data.valid, n),
                               test=_first_rows(data.test, n))


@contextmanager
def validation_clock(module: ModuleType) -> Iterator[list[tuple[float, float]]]:
    """(start, end) of every ``module.validation_ndcg`` call while open: the real function, timed."""
    real = module.validation_ndcg
    passes: list[tuple[float, float]] = []

    def clocked(*args: Any, **kwargs: Any) -> float:
        start = time.perf_counter()
        try:
            return real(*args, **kwargs)
        finally:
            passes.append((start, time.perf_counter()))

    module.validation_ndcg = clocked
    try:
        yield passes
    finally:
        module.validation_ndcg = real


def epoch_seconds(model: nn.Module, data: SequenceData, cfg: loop.TrainConfig, device: torch.device,
                  extra: ExtraLoss | None) -> float:
    """Training seconds of one epoch of the tree's ``fit`` over ``data`` (``cfg.max_epochs`` is 1)."""
    with validation_clock(loop) as passes:
        result = loop.fit(model, data, cfg, 0, device, extra_loss=extra)
    epoch = result.history[1]
    if "train_s" in epoch:
        return epoch["train_s"]
    if len(passes) < 2:
        raise RuntimeError("this tree's fit records no epoch seconds and validates through no validation_ndcg")
    return passes[1][0] - passes[0][1]


def time_phase(phase: str, data: SequenceData, text: torch.Tensor, config: dict[str, Any], device: torch.device,
               train_users: int) -> dict[str, Any]:
    """One epoch of ``phase`` (training scaled from ``train_users`` users, plus a validation pass)."""
    params = phase_params(config, phase)
    torch.manual_seed(0)
    model, extra = phase_model(phase, params, data, text)
    cfg = train_config(params, max_epochs=1)
    n_users = data.train_input.shape[0]
    subset = min(train_users, n_users)
    epoch_seconds(model, users_subset(data, 2 * cfg.batch_size), cfg, device, extra)  # warm-up
    train_s = epoch_seconds(model, users_subset(data, subset), cfg, device, extra) * n_users / subset
    loop.validation_ndcg(model, data.valid, data, cfg, device)  # warm-up
    sync(device)
    start = time.perf_counter()
    loop.validation_ndcg(model, data.valid, data, cfg, device)
    sync(device)
    valid_s = time.perf_counter() - start
    return {"train_s": train_s, "valid_s": valid_s, "epoch_s": train_s + valid_s, "batch_size": cfg.batch_size,
            "precision": getattr(cfg, "precision", "fp32"), "loss": getattr(cfg, "loss", "bce"),
            "steps_timed": -(-subset // cfg.batch_size)}
