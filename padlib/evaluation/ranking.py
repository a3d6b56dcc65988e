"""Full-catalogue ranking with the user's known items left out (the input window, or the whole known
prefix: ``protocol.eval_mask``), in user batches and item chunks.

A target that is itself among the left-out items (a repeat purchase) is a miss by default, as in
the official code, which sets every known item's score to -inf before ranking
(``protocol.repeat_target: miss``); ``ranked`` ranks it against the items not left out.

Scoring a user costs one backbone forward per expert and one matrix product per item
chunk, so a catalogue of 10^6 items never needs a [users × items] matrix at once.

Ties are not wins: the target's rank is the number of items scoring strictly higher plus a
uniformly random (seeded) position among the items scoring the same. Its expectation is the
mean rank over the tie, and a model that scores every item the same gets chance-level
metrics (HR@k ≈ k/N), not perfect ones. Non-finite scores raise ``NumericalError``.
"""

from __future__ import annotations

import contextlib
import math

import numpy as np
import torch
from torch import nn

from padlib.data.dataset import REPEAT_TARGETS
from padlib.errors import ConfigError, NumericalError
from padlib.models.catalog import Catalog


def _history_mask(history: torch.Tensor, lo: int, size: int) -> torch.Tensor:
    """[B, size] True where item lo + j is padding or in the user's history.

    Built by scattering the history into the chunk, O(B·L) rather than comparing every pair.
    """
    offset = history - lo
    inside = (offset >= 0) & (offset < size)
    mask = torch.zeros(history.shape[0], size + 1, dtype=torch.bool, device=history.device)
    mask.scatter_(1, torch.where(inside, offset, size), True)
    mask = mask[:, :size]
    if lo == 0:
        mask[:, 0] = True
    return mask


def _left_out(seen: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """[B, H + 2]: per user the items that are not ranked (padding item 0, the target, each known
    item), each once; repeats are -1. Counting every item and then taking these back costs two
    passes over a [B, chunk] score block instead of building a [B, chunk] mask."""
    items = torch.cat([torch.zeros_like(target).unsqueeze(-1), target.unsqueeze(-1), seen], 1).sort(1).values
    repeat = torch.zeros_like(items, dtype=torch.bool)
    repeat[:, 1:] = items[:, 1:] == items[:, :-1]
    return items.masked_fill(repeat, -1)


def _count(flags: torch.Tensor) -> torch.Tensor:
    """Row counts of a bool matrix (int32 accumulation: several times faster than the default int64)."""
    return flags.sum(-1, dtype=torch.int32)


def check_finite(values: torch.Tensor, what: str, source: str) -> None:
    if not bool(torch.isfinite(values).all()):
        bad = int((~torch.isfinite(values)).flatten(1).any(-1).sum()) if values.dim() > 1 else 1
        raise NumericalError(f"{source}: {what} are not finite ({bad} rows with NaN or inf); the model "
                             "diverged, so it has no metrics (retrain it, e.g. with a lower train.lr)")


@torch.inference_mode()
def target_ranks(model: nn.Module, history: torch.Tensor, target: torch.Tensor, n_items: int,
                 batch_size: int = 256, chunk_size: int = 65536, device: torch.device | str = "cpu",
                 autocast: contextlib.AbstractContextManager | None = None, source: str = "model",
                 tie_seed: int = 0, known: torch.Tensor | None = None, repeat_target: str = "miss",
                 catalog: Catalog | None = None) -> np.ndarray:
    """0-based rank of each user's target among all items not in their history (0 = top).

    ``known`` [U, H] (left-padded) replaces ``history`` as the items left out of the ranking
    (``EvalSplit.known``: the whole known prefix rather than the input window). A target among
    them gets rank ``n_items`` (below every item: a miss at any k < n_items) under ``repeat_target="miss"``.

    Ties with the target count against it: see the module docstring (``tie_seed`` seeds the
    position drawn inside a tie). ``source`` (the checkpoint) names the model in errors.

    The catalogue (every item's vector, the text projection included) is computed once per
    call, not per user batch; each user batch then costs one backbone pass per expert and one
    matrix product per item chunk. ``autocast`` (validation during training: the training
    precision) wraps the backbone passes only; the catalogue and the scores stay in fp32.
    ``catalog``: a prepared one instead of ``model.catalog()`` (held-out items scored as new ones:
    ``padlib.evaluation.new_items``).
    """
    if repeat_target not in REPEAT_TARGETS:
        raise ConfigError(f"protocol.repeat_target: {repeat_target!r} is not one of {list(REPEAT_TARGETS)}")
    model.eval()
    catalog = model.catalog() if catalog is None else catalog
    check_finite(catalog.matrix[1:n_items + 1], "item vectors", source)
    tie_draw = torch.rand(history.shape[0], generator=torch.Generator().manual_seed(tie_seed), dtype=torch.float64)
    ranks = []
    for start in range(0, history.shape[0], batch_size):
        hist = history[start:start + batch_size].to(device)
        seen = hist if known is None else known[start:start + batch_size].to(device)
        tgt = target[start:start + batch_size].to(device)
        with autocast or contextlib.nullcontext():
            users = model.users(hist, catalog)
        users = users.float()
        check_finite(users, "user vectors", source)
        target_score = (users @ catalog.matrix[tgt].T).diagonal().unsqueeze(-1)
        left_out = _left_out(seen, tgt)
        greater, ties = torch.zeros_like(tgt), torch.zeros_like(tgt)
        for lo in range(0, n_items + 1, chunk_size):
            hi = min(lo + chunk_size, n_items + 1)
            scores = users @ catalog.columns(lo, hi)
            inside = (left_out >= lo) & (left_out < hi)
            dropped = scores.gather(1, torch.where(inside, left_out - lo, 0))
            greater += _count(scores > target_score) - _count((dropped > target_score) & inside)
            ties += _count(scores == target_score) - _count((dropped == target_score) & inside)
        position = (tie_draw[start:start + batch_size] * (ties.cpu() + 1).double()).long()
        rank = greater.cpu() + position
        if repeat_target == "miss":
            rank[(seen == tgt.unsqueeze(-1)).any(-1).cpu()] = n_items
        ranks.append(rank)
    return torch.cat(ranks).numpy()


@torch.inference_mode()
def top_k(model: nn.Module, history: torch.Tensor, n_items: int, k: int,
          chunk_size: int | None = None, device: torch.device | str = "cpu", catalog=None,
          source: str = "model") -> tuple[np.ndarray, np.ndarray]:
    """Top-k items (and scores) per user, history and padding excluded, merged over item chunks.

    ``catalog`` (``model.catalog()``, or its ``for_serving()`` layout) can be prepared once and
    reused across calls (serving); it is checked for non-finite vectors only when built here.
    Chunks hold about 2^22 scores (one user: the whole catalogue at once). One user against a
    ``for_serving()`` catalogue goes through its float16 screen, with the same fp32 top-k.
    """
    model.eval()
    if catalog is None:
        catalog = model.catalog()
        check_finite(catalog.matrix[1:n_items + 1], "item vectors", source)
    hist = history.to(device)
    users = model.users(hist, catalog)
    check_finite(users, "user vectors", source)
    if getattr(catalog, "screen", None) is not None and hist.shape[0] == 1:
        found = _screened_top_k(catalog, users[0], hist, n_items, k)
        if found is not None:
            return found
    chunk_size = chunk_size or max(65536, (1 << 22) // hist.shape[0])
    best_scores = torch.full((hist.shape[0], 0), -math.inf, device=device)
    best_items = torch.zeros((hist.shape[0], 0), dtype=torch.long, device=device)
    for lo in range(0, n_items + 1, chunk_size):
        hi = min(lo + chunk_size, n_items + 1)
        items = torch.arange(lo, hi, device=device)
        scores = (users @ catalog.columns(lo, hi)).masked_fill(_history_mask(hist, lo, hi - lo), -math.inf)
        scores = torch.cat([best_scores, scores], 1)
        cand = torch.cat([best_items, items.expand(hist.shape[0], -1)], 1)
        best_scores, pos = scores.topk(min(k, scores.shape[1]), dim=1)
        best_items = cand.gather(1, pos)
    return best_items.cpu().numpy(), best_scores.cpu().numpy()


def _screened_top_k(catalog, user: torch.Tensor, hist: torch.Tensor, n_items: int,
                    k: int) -> tuple[np.ndarray, np.ndarray] | None:
    """One user's top-k through the catalogue's float16 screen: a shortlist of the best
    ``max(4k, 64)`` by screened score, rescored in fp32; None when the k-th fp32 score does not
    clear the shortlist's ceiling (the caller then scores every item in fp32)."""
    if catalog.screen.rows.shape[0] != n_items + 1:
        return None
    excluded = _history_mask(hist, 0, n_items + 1)[0]
    candidates, ceiling = catalog.screen.shortlist(user, excluded, max(4 * k, 64))
    exact = catalog.rescore(user, candidates).masked_fill(excluded[candidates], -math.inf)
    best, pos = exact.topk(min(k, exact.numel()))
    if best.numel() < min(k, n_items + 1) or not best[-1] > ceiling:
        return None
    return candidates[pos].unsqueeze(0).cpu().numpy(), best.unsqueeze(0).cpu().numpy()
