"""The three PAD phases as functions of files: read inputs, train, write checkpoint + manifest.

pretrain: ID embedding + backbone (SASRec alone).
align:    alignment expert initialised from pretrain; BCE + γ·MMD²(projected text, ID).
finetune: ID, aligned and text experts mixed by the frequency-aware gate; BCE only.
"""

from __future__ import annotations

from typing import Any

import torch

from padlib.errors import ConfigError
from padlib.losses.infonce import info_nce
from padlib.losses.mmd import ESTIMATORS, MULTI_KERNEL, grouped_mmd2
from padlib.models.build import GATE_HIDDEN, aligned_expert, id_expert, pad_model
from padlib.models.checkpoint import load_checkpoint
from padlib.models.recommender import SingleExpert
from padlib.training.loop import Batch, FitResult, TrainConfig
from padlib.training.stage import TrainingStage

ANCHORINGS = ("rec", "none", "frozen")
# Defaults of the optional align keys for direct calls with partial params: the workflow's params already
# carry the schema's ``default:`` values, which tests/test_schema.py checks these against.
ALIGN_DEFAULTS = {"loss": "mmd", "sample": "official", "multi_kernel": "sum", "temperature": 0.07,
                  "text_vectors": "forward", "estimator": "tllib"}
TEXT_VECTORS = ("separate", "forward")


def pretrain(data_dir: str, out: str, params: dict[str, Any], seed: int, *, device: str = "auto") -> FitResult:
    """Phase 1: SASRec on item IDs."""
    stage = TrainingStage.open(data_dir, out, params, seed, device)
    model = SingleExpert(id_expert(stage.data.n_items, stage.model_cfg, stage.data.max_input_length))
    result = stage.fit(model, TrainConfig(**params["train"]), "pretrain")
    stage.save(model, "pretrain", result)
    return result


ALIGNMENT_LOSSES = ("mmd", "infonce")


ALIGNMENT_SAMPLES = ("distinct", "rows", "official")


def sample_groups(batch: Batch, users: int | None, sample: str = "distinct") -> list[torch.Tensor]:
    """The item samples the alignment loss compares, per group of ``users`` consecutive users of the
    batch (the official code computes its MMD on each process's 16-user batch and averages the
    gradients over 8 processes), or for the whole batch when ``users`` is None.

    ``distinct``: each item of the group once. ``rows``: every non-padding row the group feeds the
    model, duplicates included: each user's sequence (inputs and the last target) and a sampled
    negative at each of its positions. ``official``: exactly the official code's rows
    (``data_utils/dataset.py``): per user the left-padded sequence of ``L + 1`` items and the
    negatives at its valid positions, item 0 at the padded ones and after the last, so the padding
    rows (item 0: the projected all-zero text against the ID table's row 0) are in the sample.
    """
    n = batch.history.shape[0]
    step = n if users is None else users
    groups = []
    for lo in range(0, n, step):
        history, target = batch.history[lo:lo + step], batch.target[lo:lo + step]
        # the user's sequence: the inputs and the last target (the other targets repeat the inputs, shifted)
        parts = [history, target if sample == "distinct" else target[:, -1:]]
        if batch.negatives is not None:
            negatives = batch.negatives[lo:lo + step]
            if sample == "official":
                negatives = torch.cat([negatives * (target != 0), negatives.new_zeros(negatives.shape[0], 1)], 1)
            parts.append(negatives)
        items = torch.cat([p.reshape(-1) for p in parts])
        if sample == "distinct":
            items = torch.unique(items)
        groups.append(items if sample == "official" else items[items != 0])
    return groups


def _at_least_fp32(x: torch.Tensor) -> torch.Tensor:
    """Autocast's half-precision vectors in fp32 for the pairwise distances; float64 stays (tests)."""
    return x if x.dtype == torch.float64 else x.float()


def alignment_loss(cfg: dict[str, Any]):
    """γ·D(projected text, ID) over the batch's items: MK-MMD² (``kernel``) or InfoNCE (``temperature``),
    averaged over samples of ``sample_users`` users each (see ``sample_groups``).

    ``anchoring: frozen`` stops the gradient into the ID side (paper Fig. 4, "Rec-Anchored and Frozen").
    The MMD's cost grows with the square of its sample, so per-group samples also keep a batch of
    128 users as cheap as the official 8 × 16.
    """
    cfg = {**ALIGN_DEFAULTS, **cfg}
    kind = cfg["loss"]
    if kind not in ALIGNMENT_LOSSES:
        raise ConfigError(f"align.loss: {kind!r} is not one of {ALIGNMENT_LOSSES}")
    sample = cfg["sample"]
    if sample not in ALIGNMENT_SAMPLES:
        raise ConfigError(f"align.sample: {sample!r} is not one of {ALIGNMENT_SAMPLES}")
    multi_kernel = cfg["multi_kernel"]
    if multi_kernel not in MULTI_KERNEL:
        raise ConfigError(f"align.multi_kernel: {multi_kernel!r} is not one of {MULTI_KERNEL}")
    if cfg["text_vectors"] not in TEXT_VECTORS:
        raise ConfigError(f"align.text_vectors: {cfg['text_vectors']!r} is not one of {TEXT_VECTORS}")
    if cfg["estimator"] not in ESTIMATORS:
        raise ConfigError(f"align.estimator: {cfg['estimator']!r} is not one of {ESTIMATORS}")
    # tllib's estimator is the Gaussian MK-MMD's (the official loss); other kernels use the V-statistic
    estimator = cfg["estimator"] if cfg["kernel"] == "gaussian" else "vstat"
    forward_text = cfg["text_vectors"] == "forward"
    gamma = cfg["gamma"]

    def loss(model: SingleExpert, batch: Batch) -> torch.Tensor:
        items = batch.items  # sorted, distinct, no padding
        if sample == "official":
            items = torch.cat([items.new_zeros(1), items])
        fused = model.expert.items
        ids = _at_least_fp32(fused.ids(items))
        if cfg["anchoring"] == "frozen":
            ids = ids.detach()
        text = _at_least_fp32(fused.kept_text(items) if forward_text else fused.text.project(items))
        groups = sample_groups(batch, cfg.get("sample_users"), sample)
        with torch.autocast(items.device.type, enabled=False):  # pairwise distances stay in fp32
            if kind == "infonce":
                total = sum(info_nce(text[rows], ids[rows], cfg["temperature"])
                            for rows in (torch.searchsorted(items, g) for g in groups))
                return gamma * total / len(groups)
            # each group's distinct items with their row counts: the same MMD as over its repeated rows
            distinct = [torch.unique(g, return_counts=True) for g in groups]
            rows = torch.zeros(len(groups), max(len(d) for d, _ in distinct), dtype=torch.long, device=items.device)
            valid = torch.zeros(rows.shape, dtype=torch.bool, device=items.device)
            counts = torch.zeros(rows.shape, dtype=torch.float32, device=items.device)
            for i, (group, count) in enumerate(distinct):
                rows[i, :len(group)] = torch.searchsorted(items, group)
                valid[i, :len(group)] = True
                counts[i, :len(group)] = count
            return gamma * grouped_mmd2(text[rows], ids[rows], valid, kernel=cfg["kernel"], multi_kernel=multi_kernel,
                                        weights=None if sample == "distinct" else counts,
                                        estimator=estimator)
    return loss


def align(data_dir: str, embeddings: str, pretrain_ckpt: str, out: str, params: dict[str, Any], seed: int, *,
          device: str = "auto") -> FitResult:
    """Phase 2: the alignment expert, initialised from the phase-1 ID table and backbone."""
    cfg = {**ALIGN_DEFAULTS, **params["align"]}
    if cfg["anchoring"] not in ANCHORINGS:
        raise ConfigError(f"align.anchoring: {cfg['anchoring']!r} is not one of {ANCHORINGS}")
    stage = TrainingStage.open(data_dir, out, params, seed, device, embeddings, (pretrain_ckpt,))
    data, model_cfg = stage.data, stage.model_cfg
    expert = aligned_expert(data.n_items, stage.text, model_cfg, data.max_input_length)
    phase1 = SingleExpert(id_expert(data.n_items, model_cfg, data.max_input_length))
    phase1.load_state_dict(load_checkpoint(pretrain_ckpt)["state_dict"])
    expert.items.ids.load_state_dict(phase1.expert.items.state_dict())
    expert.backbone.load_state_dict(phase1.expert.backbone.state_dict())
    if cfg["anchoring"] == "frozen":
        expert.items.ids.requires_grad_(False)
    model = SingleExpert(expert)
    train = TrainConfig(**{**params["train"], "rec_weight": 0.0 if cfg["anchoring"] == "none" else 1.0})
    extra = alignment_loss(cfg) if cfg["gamma"] > 0 else None
    expert.items.keep_text = extra is not None and cfg["text_vectors"] == "forward"
    result = stage.fit(model, train, "align", extra_loss=extra)
    stage.save(model, "align", result, config={**params, "align": cfg})
    return result


def finetune(data_dir: str, embeddings: str, pretrain_ckpt: str, align_ckpt: str, out: str,
             params: dict[str, Any], seed: int, *, device: str = "auto") -> FitResult:
    """Phase 3: triple experts + frequency-aware gate, BCE only."""
    return train_mixture(data_dir, embeddings, {"id": pretrain_ckpt, "aligned": align_ckpt}, out, params, seed,
                         phase="finetune", device=device)


def train_mixture(data_dir: str, embeddings: str, sources: dict[str, str], out: str, params: dict[str, Any],
                  seed: int, phase: str, device: str = "auto") -> FitResult:
    """Experts mixed by the gate (PAD, its ablations, MAKE): experts named in ``sources`` start from
    that checkpoint's weights, the others from scratch; everything is fine-tuned with BCE.
    ``finetune.new_lr`` (when set) trains the from-scratch experts and the gate at their own
    learning rate: under one small fine-tuning rate the new text expert barely moves."""
    cfg = params["finetune"]
    experts = tuple(cfg["experts"])
    stage = TrainingStage.open(data_dir, out, params, seed, device, embeddings, tuple(sources.values()))
    data = stage.data
    model = pad_model(data.n_items, stage.text, data.item_buckets, data.n_buckets, stage.model_cfg,
                      data.max_input_length, cfg["gate_init"], experts, gate=cfg["gate"],
                      gate_hidden=cfg.get("gate_hidden", GATE_HIDDEN))
    for name in experts:
        if name in sources:
            state = load_checkpoint(sources[name])["state_dict"]
            model.experts[name].load_state_dict({k.removeprefix("expert."): v for k, v in state.items()})
    new_lr = cfg.get("new_lr")
    fresh = {} if new_lr is None else {prefix: new_lr for prefix in
                                       ["gate.", *(f"experts.{n}." for n in experts if n not in sources)]}
    result = stage.fit(model, TrainConfig(**params["train"]), phase, lr_by_prefix=fresh)
    stage.save(model, phase, result, n_buckets=data.n_buckets, gate_init=cfg["gate_init"], experts=list(experts),
               gate=cfg["gate"], gate_hidden=cfg.get("gate_hidden", GATE_HIDDEN))
    return result
