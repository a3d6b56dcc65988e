"""Assertions a trained model must pass, shared by the tests that train one."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from torch import nn

from padlib.data.dataset import EvalSplit, SequenceData
from padlib.evaluation.metrics import ndcg
from padlib.evaluation.ranking import target_ranks
from padlib.models.checkpoint import load_checkpoint


def assert_learned(fit: dict[str, Any], max_epochs: int) -> None:
    """``fit`` (a checkpoint's FitResult) validated before training and after each of its epochs,
    lowered its training loss, and kept the history's best validation epoch as its best. (Whether
    validation beats the untrained model after a few epochs on a tiny dataset is seed noise.)"""
    history = fit["history"]
    assert [h["epoch"] for h in history] == list(range(max_epochs + 1)) == list(range(fit["epochs_run"] + 1))
    scores = [h["valid_ndcg"] for h in history]
    assert fit["best_valid_ndcg"] == max(scores) and fit["best_epoch"] == scores.index(max(scores))
    losses = [h["loss"] for h in history[1:]]
    assert losses[-1] < losses[0], losses


def assert_reproduces_validation(model: nn.Module, data: SequenceData, fit: dict[str, Any],
                                 batch_size: int) -> None:
    """The rebuilt model scores the validation split exactly as training recorded for the weights it
    kept (train in fp32 and validate with the same ``batch_size`` for an exact match)."""
    ranks = target_ranks(model, data.valid.history, data.valid.target, data.n_items, batch_size, known=data.valid.known,
                         repeat_target=data.valid.repeat_target)
    assert ranks.shape == (data.valid.target.shape[0],) and ranks.min() >= 0 and ranks.max() <= data.n_items
    assert float(ndcg(ranks, 10).mean()) == pytest.approx(fit["best_valid_ndcg"], abs=1e-12)


def random_ranking_ndcg(split: EvalSplit, n_items: int, k: int = 10) -> float:
    """Expected nDCG@k of a uniformly random ranking under the split's mask (a target among the masked
    items is a miss, as the evaluation counts it): the floor a model that learned anything clears."""
    gains = 1 / np.log2(np.arange(2, k + 2))
    total = 0.0
    for known, target in zip(split.known.tolist(), split.target.tolist()):
        if target in known:
            continue
        candidates = n_items - len(set(known) - {0})
        total += gains[:candidates].sum() / candidates
    return total / len(split.target)


def assert_evaluations_reproduce_training(workdir: Path) -> int:
    """Every run's evaluation (``metrics.json`` under ``workdir``/results) scored the validation split as
    its training did for the checkpoint it kept: a model lost or changed on its way from training to
    evaluation fails this whether or not a tiny run learned anything. Needs fp32 training (bf16
    validation may flip near-ties). Returns how many runs were checked."""
    runs = sorted((workdir / "results").rglob("metrics.json"))
    for path in runs:
        metrics = json.loads(path.read_text())
        fit = load_checkpoint(workdir / metrics["checkpoint"])["fit"]
        assert metrics["valid"]["overall"]["ndcg@10"] == pytest.approx(fit["best_valid_ndcg"], abs=1e-12), path
    return len(runs)
