"""Build experts and recommenders from the ``model`` config, and rebuild them from checkpoints
(the files themselves: :mod:`padlib.models.checkpoint`)."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

import torch
from torch import nn

from padlib.errors import ConfigError
from padlib.models.caser import Caser, CaserConfig
from padlib.models.disco import DisCoItems
from padlib.models.experts import Expert
from padlib.models.gru4rec import GRU4Rec, GRU4RecConfig
from padlib.models.init import initialise
from padlib.models.items import FusedItems, IdItems, TextItems
from padlib.models.recommender import FrequencyGate, NetworkGate, PADModel, SingleExpert
from padlib.models.sasrec import SASRec, SASRecConfig

EXPERT_NAMES = ("id", "aligned", "text")
GATES = ("frequency", "shared", "network")
GATE_HIDDEN = 32  # the gate network's MLP width by default (the schema's default, checked in tests/test_schema.py)

# name → (module, its config); ``dim`` and ``max_length`` come from the model/protocol, not the options.
BACKBONES: dict[str, tuple[type[nn.Module], type]] = {
    "sasrec": (SASRec, SASRecConfig),
    "gru4rec": (GRU4Rec, GRU4RecConfig),
    "caser": (Caser, CaserConfig),
}
_FIXED_OPTIONS = ("dim", "max_length")


@dataclass(frozen=True)
class ModelConfig:
    dim: int = 128
    backbone: dict[str, Any] = field(default_factory=lambda: {"name": "sasrec"})
    projection_layers: int = 4
    projection_dropout: float = 0.1
    fusion_dropout: float = 0.1
    text_norm: str = "none"  # the official raw vectors; standardize, center or l2 (padlib.text.normalize)
    init: str = "torch"  # or the official code's "xavier", or "xavier-linear" (padlib.models.init)
    item_passes: str = "distinct"  # text encoders once per distinct item per step, or per row (official)

    @classmethod
    def from_dict(cls, cfg: dict[str, Any]) -> "ModelConfig":
        return cls(**cfg)


def backbone_options(name: str) -> list[str]:
    """The ``model.backbone`` keys (besides ``name``) that backbone ``name`` accepts."""
    return [f.name for f in fields(BACKBONES[name][1]) if f.name not in _FIXED_OPTIONS]


def build_backbone(cfg: ModelConfig, max_length: int) -> nn.Module:
    options = {k: v for k, v in cfg.backbone.items() if k != "name"}
    name = cfg.backbone.get("name", "sasrec")
    if name not in BACKBONES:
        raise ConfigError(f"model.backbone.name: unknown backbone {name!r}; available: {sorted(BACKBONES)}")
    allowed = backbone_options(name)
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise ConfigError(f"model.backbone: unknown option(s) {unknown} for backbone {name!r}; "
                          f"{name} accepts {allowed}")
    module, config = BACKBONES[name]
    fixed = {"dim": cfg.dim, "max_length": max_length}
    fixed = {k: v for k, v in fixed.items() if k in {f.name for f in fields(config)}}
    return module(config(**fixed, **options))


def id_expert(n_items: int, cfg: ModelConfig, max_length: int) -> Expert:
    return initialise(Expert(IdItems(n_items, cfg.dim), build_backbone(cfg, max_length), cfg.item_passes), cfg.init)


def text_items(text: torch.Tensor, cfg: ModelConfig) -> TextItems:
    return TextItems(text, cfg.dim, cfg.projection_layers, cfg.projection_dropout)


def text_expert(text: torch.Tensor, cfg: ModelConfig, max_length: int) -> Expert:
    return initialise(Expert(text_items(text, cfg), build_backbone(cfg, max_length), cfg.item_passes), cfg.init)


def aligned_expert(n_items: int, text: torch.Tensor, cfg: ModelConfig, max_length: int) -> Expert:
    fused = FusedItems(IdItems(n_items, cfg.dim), text_items(text, cfg), cfg.dim, cfg.fusion_dropout)
    return initialise(Expert(fused, build_backbone(cfg, max_length), cfg.item_passes), cfg.init)


def disco_expert(n_items: int, text: torch.Tensor, cfg: ModelConfig, max_length: int) -> Expert:
    """DisCo items (``padlib.models.disco``) + the configured backbone; wrap in ``SingleExpert``."""
    items = DisCoItems(n_items, text, cfg.dim, cfg.projection_layers, cfg.projection_dropout)
    return initialise(Expert(items, build_backbone(cfg, max_length), cfg.item_passes), cfg.init)


def pad_model(n_items: int, text: torch.Tensor, item_buckets: torch.Tensor, n_buckets: int, cfg: ModelConfig,
              max_length: int, gate_init: dict[str, list[float]], experts: tuple[str, ...] = EXPERT_NAMES,
              gate: str = "frequency", gate_hidden: int = GATE_HIDDEN) -> PADModel:
    """Experts mixed by a gate: ``frequency`` (α per bucket), ``shared`` (one α for all items)
    or ``network`` (α per bucket + an MLP of each expert's item vector)."""
    builders = {
        "id": lambda: id_expert(n_items, cfg, max_length),
        "aligned": lambda: aligned_expert(n_items, text, cfg, max_length),
        "text": lambda: text_expert(text, cfg, max_length),
    }
    chosen = {name: builders[name]() for name in experts}
    init = [tuple(gate_init[name]) for name in experts]
    if gate not in GATES:
        raise ConfigError(f"finetune.gate: {gate!r} is not one of {list(GATES)}")
    if gate == "network":
        mixer: FrequencyGate = NetworkGate(n_buckets, init, [cfg.dim] * len(chosen), gate_hidden)
    else:
        mixer = FrequencyGate(n_buckets, init, shared=gate == "shared")
    return PADModel(chosen, mixer, item_buckets)


# Which architecture each kind of checkpoint holds.
ARCHITECTURES = {"pretrain": "id", "ctrl": "id", "align": "fused", "hybrid": "fused", "morec": "text",
                 "finetune": "mixture", "make": "mixture", "disco": "disco"}


def rebuild(checkpoint: dict[str, Any], text: torch.Tensor | None = None,
            item_buckets: torch.Tensor | None = None) -> nn.Module:
    """The recommender a checkpoint holds, weights loaded (text/buckets as the architecture needs)."""
    cfg = ModelConfig.from_dict(checkpoint["model"])
    n, length, phase = checkpoint["n_items"], checkpoint["max_length"], checkpoint["phase"]
    arch = ARCHITECTURES.get(phase)
    if arch == "id":
        model: nn.Module = SingleExpert(id_expert(n, cfg, length))
    elif arch == "fused":
        model = SingleExpert(aligned_expert(n, text, cfg, length))
    elif arch == "text":
        model = SingleExpert(text_expert(text, cfg, length))
    elif arch == "disco":
        model = SingleExpert(disco_expert(n, text, cfg, length))
    elif arch == "mixture":
        model = pad_model(n, text, item_buckets, checkpoint["n_buckets"], cfg, length, checkpoint["gate_init"],
                          tuple(checkpoint["experts"]), checkpoint.get("gate", "frequency"),
                          checkpoint.get("gate_hidden", GATE_HIDDEN))
    else:
        raise ValueError(f"unknown checkpoint phase {phase!r}; known: {sorted(ARCHITECTURES)}")
    model.load_state_dict(checkpoint["state_dict"])
    return model
