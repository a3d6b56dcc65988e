"""The training loop every phase shares: BCE on one sampled negative per position (the
paper's loss; or, as an option, full-softmax cross-entropy over the catalogue), AdamW,
early stopping on validation nDCG@k, and the best-validation weights kept (and tested).

A non-finite loss or gradient stops training with ``NumericalError`` (a diverged model gets
no checkpoint and no metrics), and a ``Resume`` file lets a killed job continue."""

from __future__ import annotations

import copy
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from padlib.data.dataset import EvalSplit, SequenceData
from padlib.device import native_bf16
from padlib.errors import ConfigError, NumericalError
from padlib.evaluation.metrics import hit_rate, ndcg
from padlib.evaluation.new_items import catalog_with_new_items
from padlib.evaluation.ranking import target_ranks
from padlib.models.newitems import NewItemPolicy
from padlib.models.recommender import softmax_logits
from padlib.training.resume import Resume
from padlib.training.sampling import sample_negatives

LOSSES = ("bce", "softmax")
SELECT_METRICS = ("ndcg", "hr")  # the validation metric that picks the checkpoint (official: HR@10)
PRECISIONS = ("auto", "fp32", "bf16")


@dataclass(frozen=True)
class Batch:
    """One training batch: left-padded inputs, next-item targets (0 = none), the sampled
    negatives (None under full softmax) and the distinct non-padding items it touches."""

    history: torch.Tensor
    target: torch.Tensor
    negatives: torch.Tensor | None
    items: torch.Tensor


ExtraLoss = Callable[[nn.Module, Batch], torch.Tensor]


@dataclass(frozen=True)
class TrainConfig:
    batch_size: int = 128
    lr: float = 0.004
    weight_decay: float = 0.1
    max_epochs: int = 200
    patience: int = 20
    eval_batch_size: int = 512
    k: int = 10
    rec_weight: float = 1.0  # weight of the recommendation loss (whichever ``loss`` is)
    loss: str = "bce"        # "bce": one sampled negative per position; "softmax": full catalogue
    precision: str = "auto"  # matmuls under bf16 autocast ("bf16") or not; auto = bf16 where it is native
    valid_every: int = 1     # validate every this many epochs; patience still counts epochs
    validate_untrained: bool = True  # the untrained start is a candidate (False: the official code's, from epoch 1)
    select_metric: str = "ndcg"      # validation nDCG@k or HR@k (the official code's) picks the checkpoint

    def __post_init__(self) -> None:
        if self.loss not in LOSSES:
            raise ConfigError(f"train.loss: {self.loss!r} is not one of {list(LOSSES)}")
        if self.precision not in PRECISIONS:
            raise ConfigError(f"train.precision: {self.precision!r} is not one of {list(PRECISIONS)}")
        if self.select_metric not in SELECT_METRICS:
            raise ConfigError(f"train.select_metric: {self.select_metric!r} is not one of {list(SELECT_METRICS)}")
        if self.valid_every < 1:
            raise ConfigError(f"train.valid_every: expected an integer ≥ 1, got {self.valid_every}")

    def autocast(self, device: torch.device) -> torch.autocast:
        """The forward pass's autocast context: bf16 matmuls with fp32 weights and optimizer state."""
        bf16 = self.precision == "bf16" or (self.precision == "auto" and native_bf16(device))
        return torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16)


@dataclass
class FitResult:
    best_epoch: int
    best_valid_ndcg: float
    epochs_run: int
    wall_time_s: float
    history: list[dict] = field(default_factory=list)


def bce_loss(pos: torch.Tensor, neg: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """BCE(pos, 1) + BCE(neg, 0) averaged over non-padding positions."""
    per_position = (F.binary_cross_entropy_with_logits(pos, torch.ones_like(pos), reduction="none")
                    + F.binary_cross_entropy_with_logits(neg, torch.zeros_like(neg), reduction="none"))
    return (per_position * valid).sum() / valid.sum().clamp_min(1)


def softmax_loss(logits: torch.Tensor, target: torch.Tensor, excluded: torch.Tensor | None = None) -> torch.Tensor:
    """Cross-entropy of the target over items 1..N (padding left out of the softmax), averaged
    over the scored positions: logits [P, N], target [P] in 1..N; 0 when nothing is scored.
    ``excluded`` [N + 1] (bool): items left out of the softmax (held out of training)."""
    if target.numel() == 0:
        return logits.sum() * 0.0
    if excluded is not None:
        logits = logits.masked_fill(excluded[1:], float("-inf"))
    return F.cross_entropy(logits, target - 1)


def recommendation_loss(model: nn.Module, history: torch.Tensor, target: torch.Tensor,
                        negatives: torch.Tensor | None, excluded: torch.Tensor | None = None) -> torch.Tensor:
    """BCE on (target, sampled negative) when ``negatives`` is given, else full-softmax CE over the
    items not ``excluded`` (the sampled negatives already avoid them)."""
    if negatives is None:
        where = target != 0
        return softmax_loss(softmax_logits(model, history, where), target[where], excluded)
    logits = model.position_logits(history, torch.stack([target, negatives], -1))
    return bce_loss(logits[..., 0], logits[..., 1], (target != 0).float())


def validation_metrics(model: nn.Module, split: EvalSplit, data: SequenceData, cfg: TrainConfig,
                       device: torch.device, source: str = "model") -> dict[str, float]:
    """Model selection's nDCG@k and HR@k, the backbones run at the training precision (``cfg.autocast``);
    held-out items (``protocol.new_items``) are scored as new ones, with the default new-item policy."""
    catalog = None
    if bool(data.held_out.any()):
        model.eval()
        catalog = catalog_with_new_items(model, data.held_out, NewItemPolicy())
    ranks = target_ranks(model, split.history, split.target, data.n_items, cfg.eval_batch_size, device=device,
                         autocast=cfg.autocast(device), source=source, known=split.known,
                         repeat_target=split.repeat_target, catalog=catalog)
    return {"ndcg": float(ndcg(ranks, cfg.k).mean()), "hr": float(hit_rate(ranks, cfg.k).mean())}


def validation_ndcg(model: nn.Module, split: EvalSplit, data: SequenceData, cfg: TrainConfig,
                    device: torch.device, source: str = "model") -> float:
    """Model selection's nDCG@k (``validation_metrics``)."""
    return validation_metrics(model, split, data, cfg, device, source)["ndcg"]


def train_epoch(model: nn.Module, data: SequenceData, cfg: TrainConfig, optimizer: torch.optim.Optimizer,
                gen: torch.Generator, device: torch.device, extra_loss: ExtraLoss | None = None,
                desc: str = "train", epoch: int = 1) -> float:
    """One pass over the users in a random order; returns the mean loss.

    Raises ``NumericalError`` naming ``desc``, the epoch and the first bad step when a loss or
    gradient norm is not finite. The check runs once at the end of the epoch, so the steps
    never wait on a device-to-host copy.
    """
    model.train()
    n_users = data.train_input.shape[0]
    order = torch.randperm(n_users, generator=gen)
    trained = [p for p in model.parameters() if p.requires_grad]
    excluded = data.held_out if bool(data.held_out.any()) else None  # never a negative, in either loss
    excluded_on_device = None if excluded is None else excluded.to(device)
    losses, grad_norms = [], []
    for lo in range(0, n_users, cfg.batch_size):
        rows = order[lo:lo + cfg.batch_size]
        history_b, target_b = data.train_input[rows].to(device), data.train_target[rows].to(device)
        negatives = None
        if cfg.loss == "bce":
            negatives = sample_negatives(data.train_items[rows], tuple(target_b.shape), data.n_items, gen,
                                         excluded=excluded)
            negatives = negatives.to(device)
        with cfg.autocast(device):
            loss = torch.zeros((), device=device)
            if cfg.rec_weight:
                loss = cfg.rec_weight * recommendation_loss(model, history_b, target_b, negatives, excluded_on_device)
            if extra_loss is not None:
                seen = [history_b.flatten(), target_b.flatten()] + ([] if negatives is None else [negatives.flatten()])
                batch_items = torch.unique(torch.cat(seen))
                loss = loss + extra_loss(model, Batch(history_b, target_b, negatives, batch_items[batch_items != 0]))
        optimizer.zero_grad(set_to_none=True)
        loss.float().backward()
        grad_norms.append(torch.nn.utils.get_total_norm([p.grad for p in trained if p.grad is not None]))
        optimizer.step()
        losses.append(loss.detach().float())
    losses_t, norms_t = torch.stack(losses), torch.stack(grad_norms)
    bad = ~(torch.isfinite(losses_t) & torch.isfinite(norms_t))
    if bool(bad.any()):
        step = int(bad.nonzero()[0, 0])
        what = "loss" if not torch.isfinite(losses_t[step]) else "gradient norm"
        raise NumericalError(
            f"{desc}: non-finite {what} ({float(losses_t[step]) if what == 'loss' else float(norms_t[step])}) "
            f"at epoch {epoch}, step {step + 1} of {len(losses)}; training diverged, so no model is written "
            f"(try a lower train.lr; it is {cfg.lr:g})")
    return float(losses_t.mean())


def param_groups(model: nn.Module, lr: float, lr_by_prefix: dict[str, float] | None = None) -> list[dict]:
    """The optimizer's parameter groups: trainable parameters at ``lr``, except those whose name
    starts with a prefix of ``lr_by_prefix`` (phase 3: the new text expert and the gate)."""
    by_lr: dict[float, list[nn.Parameter]] = {}
    for name, p in model.named_parameters():
        if p.requires_grad:
            rate = next((r for prefix, r in (lr_by_prefix or {}).items() if name.startswith(prefix)), lr)
            by_lr.setdefault(rate, []).append(p)
    return [{"params": ps, "lr": rate} for rate, ps in by_lr.items()]


def fit(model: nn.Module, data: SequenceData, cfg: TrainConfig, seed: int, device: torch.device,
        extra_loss: ExtraLoss | None = None, desc: str = "train", resume: Resume | None = None,
        lr_by_prefix: dict[str, float] | None = None) -> FitResult:
    """Train ``model`` in place; on return it holds the best-validation weights.

    Validation runs every ``valid_every`` epochs (and before the first, unless
    ``validate_untrained`` is off: the official code's selection starts at epoch 1); training stops
    once ``patience`` epochs have passed without a better validation nDCG (the official
    ``early_stop_count > 20`` is ``patience: 21``). Each history entry
    records the epoch's training and validation seconds. With ``resume``, the state after
    every epoch is saved there, and a saved state of the same run is continued from.
    ``lr_by_prefix`` gives parameters whose names start with a prefix their own learning rate.
    """
    began = time.perf_counter()
    gen = torch.Generator().manual_seed(seed)
    model.to(device)
    optimizer = torch.optim.AdamW(param_groups(model, cfg.lr, lr_by_prefix), lr=cfg.lr, weight_decay=cfg.weight_decay)
    saved = resume.load() if resume is not None else None
    if saved is None:
        best_state = copy.deepcopy(model.state_dict())
        tick = time.perf_counter()
        start = validation_metrics(model, data.valid, data, cfg, device) if cfg.validate_untrained else {}
        best_score, best_epoch = start.get(cfg.select_metric, -math.inf), 0
        history: list[dict] = [{"epoch": 0, "loss": None, "valid_ndcg": start.get("ndcg"), "valid_hr": start.get("hr"),
                                "train_s": 0.0, "valid_s": time.perf_counter() - tick}]
        earlier_s = 0.0
    else:
        best_state, best_score, best_epoch, history, earlier_s = _restore(saved, model, optimizer, gen, device)
        logging.getLogger(__name__).info("%s: resuming after epoch %d of %d (%s)", desc, history[-1]["epoch"],
                                         cfg.max_epochs, resume.path)
    bar = tqdm(range(history[-1]["epoch"] + 1, cfg.max_epochs + 1), desc=desc, unit="epoch", mininterval=2.0)
    for epoch in bar:
        tick = time.perf_counter()
        loss = train_epoch(model, data, cfg, optimizer, gen, device, extra_loss, desc=desc, epoch=epoch)
        entry = {"epoch": epoch, "loss": loss, "valid_ndcg": None, "valid_hr": None,
                 "train_s": time.perf_counter() - tick, "valid_s": 0.0}
        history.append(entry)
        if epoch % cfg.valid_every == 0 or epoch == cfg.max_epochs:
            tick = time.perf_counter()
            scores = validation_metrics(model, data.valid, data, cfg, device, source=f"{desc}, epoch {epoch}")
            entry.update(valid_ndcg=scores["ndcg"], valid_hr=scores["hr"], valid_s=time.perf_counter() - tick)
            score = scores[cfg.select_metric]
            bar.set_postfix(loss=f"{loss:.4f}", valid_ndcg=f"{scores['ndcg']:.4f}", best=f"{best_score:.4f}")
            if score > best_score:
                best_score, best_epoch = score, epoch
                best_state = copy.deepcopy(model.state_dict())
            elif epoch - best_epoch >= cfg.patience:
                break
        if resume is not None and epoch < cfg.max_epochs:
            resume.save(_snapshot(model, optimizer, gen, device, best_state, best_score, best_epoch, history,
                                  earlier_s + time.perf_counter() - began))
    bar.close()
    model.load_state_dict(best_state)
    return FitResult(best_epoch, history[best_epoch]["valid_ndcg"], len(history) - 1,
                     earlier_s + time.perf_counter() - began, history)


def _snapshot(model: nn.Module, optimizer: torch.optim.Optimizer, gen: torch.Generator, device: torch.device,
              best_state: dict, best_score: float, best_epoch: int, history: list[dict], elapsed_s: float) -> dict:
    """Everything the next epoch depends on, as tensors and plain containers (``weights_only`` loads it)."""
    return {"model": model.state_dict(), "optimizer": optimizer.state_dict(), "generator": gen.get_state(),
            "torch_rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state(device) if device.type == "cuda" else None,
            "best_state": best_state, "best_score": best_score, "best_epoch": best_epoch, "history": history,
            "elapsed_s": elapsed_s}


def _restore(saved: dict, model: nn.Module, optimizer: torch.optim.Optimizer, gen: torch.Generator,
             device: torch.device) -> tuple[dict, float, int, list[dict], float]:
    model.load_state_dict(saved["model"])
    optimizer.load_state_dict(saved["optimizer"])
    gen.set_state(saved["generator"])
    torch.set_rng_state(saved["torch_rng"])
    if device.type == "cuda" and saved["cuda_rng"] is not None:
        torch.cuda.set_rng_state(saved["cuda_rng"], device)
    best_state = {k: v.to(device) for k, v in saved["best_state"].items()}
    best_score = saved.get("best_score", saved.get("best_ndcg"))  # resume files written before select_metric
    return best_state, best_score, saved["best_epoch"], saved["history"], saved["elapsed_s"]
