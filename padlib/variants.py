"""Model variants: the paper's baselines, alignment losses, anchorings and ablations as one grid.

A variant is a method plus overrides of the default ``align`` / ``finetune`` config:

    variants:
      sasrec:     {method: id}      # phase 1 alone, labelled by its backbone
      pad:        {method: pad}
      smem:       {method: pad, label: SMEM, align: {gamma: 0}}
      pad-no-id:  {method: pad, finetune: {experts: [aligned, text]}}
      make:       {method: make, text_from: morec}
      sasrec-ce:  {method: id, train: {loss: softmax}}   # ``train`` applies to all its phases
      pad-xavier: {method: pad, model: {init: xavier}}    # so do ``model`` and ``backbones``

Variants whose effective alignment config is the same share one align run (``align/<name>/model.pt``),
named after the plainest of them: no ``finetune`` override, then no ``align`` override, then the
shortest name (so ``pad``, whatever order the config files list the variants in). The ablations of
phase 3 reuse PAD's phase 2 instead of repeating it, and editing ``align.gamma`` reruns that same artifact.
Likewise the phase-1 model: variants without a ``train``, ``model`` or ``backbones`` override share
``id/model.pt``; those with one share the run named after it (``{loss: softmax}`` →
``id-loss-softmax/model.pt``, ``model: {init: xavier}`` → ``id-init-xavier``,
``backbones: {sasrec: {block: official}}`` → ``id-sasrec.block-official``).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from padlib.errors import ConfigError

METHODS = ("id", "pad", "hybrid", "morec", "ctrl", "make", "disco")
TEXT_METHODS = ("pad", "hybrid", "morec", "ctrl", "make", "disco")
SCRATCH_METHODS = ("hybrid", "morec", "ctrl", "disco")  # the baselines trained from nothing (rule `scratch`)
PRETRAINED_METHODS = ("id", "pad", "make")  # methods that train (id) or start from the phase-1 model
DEFAULT_LABELS = {"id": "ID-only", "pad": "PAD", "hybrid": "Hybrid", "morec": "MoRec", "ctrl": "CTRL",
                  "make": "MAKE", "disco": "DisCo-style"}
DEFAULT_PRETRAIN = "id"
# A variant's overrides that change its phase-1 model (and so every later phase).
PHASE1_OVERRIDES = ("train", "model", "backbones")
# ``model`` keys only the text path reads: they neither name nor retrain the ID-only phase-1 model.
TEXT_MODEL_KEYS = ("text_norm", "projection_layers", "projection_dropout", "fusion_dropout", "item_passes")


def phase1_settings(model: dict[str, Any]) -> dict[str, Any]:
    """The ``model`` settings the ID-only phase 1 reads (``TEXT_MODEL_KEYS`` left out)."""
    return {key: value for key, value in model.items() if key not in TEXT_MODEL_KEYS}


@dataclass(frozen=True)
class Variant:
    name: str
    method: str
    label: str
    align: dict[str, Any] | None
    align_tag: str | None
    finetune: dict[str, Any] | None
    text_from: str | None
    train: dict[str, Any]
    pretrain_tag: str
    model: dict[str, Any] = field(default_factory=dict)
    backbones: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def overrides(self) -> dict[str, Any]:
        """Its ``train``, ``model`` and ``backbones`` overrides (``PHASE1_OVERRIDES``): they decide its
        phase-1 run and enter the params of every stage it trains."""
        return {key: getattr(self, key) for key in PHASE1_OVERRIDES}

    @property
    def needs_text(self) -> bool:
        return self.method in TEXT_METHODS

    def phase_train(self, phase: str) -> dict[str, Any]:
        """This variant's overrides of the ``train`` block in ``phase``: its own ``train``
        (every phase), then ``align.train`` / ``finetune.train`` (that phase only)."""
        section = {"align": self.align, "finetune": self.finetune}.get(phase) or {}
        return {**self.train, **section.get("train", {})}


def _merged(base: dict[str, Any], override: dict[str, Any] | None) -> dict[str, Any]:
    merged = copy.deepcopy(base)
    merged.update(copy.deepcopy(override or {}))
    return merged


def resolve_variants(config: dict[str, Any]) -> dict[str, Variant]:
    """Every variant of ``config['variants']`` with its effective align/finetune config."""
    default_align = {k: v for k, v in config["align"].items() if k != "train"}
    default_finetune = {k: v for k, v in config["finetune"].items() if k != "train"}
    specs = config["variants"]
    effective = {}
    for name, spec in specs.items():
        method = spec["method"]
        if method not in METHODS:
            raise ConfigError(f"config key variants.{name}.method: {method!r} is not one of {METHODS}")
        align = _merged(default_align, spec.get("align")) if method == "pad" else None
        finetune = _merged(default_finetune, spec.get("finetune")) if method in ("pad", "make") else None
        base = {key: copy.deepcopy(spec.get(key) or {}) for key in PHASE1_OVERRIDES}
        effective[name] = (method, align, finetune, base)
    variants: dict[str, Variant] = {}
    for name, (method, align, finetune, base) in effective.items():
        owner = None
        if align is not None:
            sharers = [n for n, e in effective.items() if e[1] is not None and (e[1], e[3]) == (align, base)]
            owner = min(sharers, key=lambda n: (bool(specs[n].get("finetune")), bool(specs[n].get("align")), len(n), n))
        variants[name] = Variant(name=name, method=method, label=specs[name].get("label", DEFAULT_LABELS[method]),
                                 align=align, align_tag=owner, finetune=finetune, text_from=specs[name].get("text_from"),
                                 pretrain_tag=pretrain_name(**base), **base)
    for variant in variants.values():
        if variant.method == "disco" and "disco" not in config:
            raise ConfigError(f"config key disco: missing; variant {variant.name!r} (method disco) needs its loss weights")
        if variant.method == "disco" and {**config["train"], **variant.train}.get("loss") == "softmax":
            raise ConfigError(f"config key variants.{variant.name}: DisCo trains with the BCE loss; "
                              "its sufficiency terms need the sampled negatives (set train.loss: bce)")
        if variant.align and variant.align["anchoring"] == "none" and variant.align["gamma"] == 0:
            raise ConfigError(f"config key variants.{variant.name}.align: anchoring none with gamma 0 leaves "
                              "phase 2 without any loss")
        if variant.method == "make":
            source = variants.get(variant.text_from or "")
            if source is None or source.method != "morec":
                raise ConfigError(f"config key variants.{variant.name}.text_from: must name a variant with method "
                                  f"morec (got {variant.text_from!r})")
    for key, block in _blocks(config):
        unknown = [n for n in block["variants"] if n not in variants]
        if unknown:
            raise ConfigError(f"config key {key}.variants: {unknown} not defined under variants "
                              f"(defined: {sorted(variants)})")
        unknown = [n for n in block["encoders"] if n not in config["encoders"]]
        if unknown:
            raise ConfigError(f"config key {key}.encoders: {unknown} not defined under encoders")
        unknown = [n for n in block["backbones"] if n not in config["backbones"]]
        if unknown:
            raise ConfigError(f"config key {key}.backbones: {unknown} have no options under backbones")
    return variants


def pretrain_name(train: dict[str, Any], model: dict[str, Any] | None = None,
                  backbones: dict[str, dict[str, Any]] | None = None) -> str:
    """The phase-1 run a variant's overrides train: ``id``, or ``id-`` + its settings
    (``id-loss-softmax``, ``id-init-xavier``, ``id-sasrec.block-official``)."""
    settings = [*sorted(train.items()), *sorted(phase1_settings(model or {}).items()),
                *sorted((f"{name}.{key}", value) for name, options in (backbones or {}).items()
                        for key, value in options.items())]
    return "-".join([DEFAULT_PRETRAIN, *(f"{key}-{value}" for key, value in settings)])


def _blocks(config: dict[str, Any]) -> list[tuple[str, dict[str, list[str]]]]:
    run = config["run"]
    if run.get("experiments"):
        return [(f"run.experiments.{i}", block) for i, block in enumerate(run["experiments"])]
    return [("run", {k: run[k] for k in ("backbones", "encoders", "variants")})]


@dataclass(frozen=True)
class Experiment:
    """One trained model of the grid (the encoder is None for ID-only variants)."""

    backbone: str
    encoder: str | None
    variant: Variant


def experiments(config: dict[str, Any], variants: dict[str, Variant]) -> list[Experiment]:
    """The models ``run`` asks for, without repeats, in config order (per dataset and seed)."""
    seen: dict[tuple[str, str | None, str], Experiment] = {}
    for _, block in _blocks(config):
        for backbone in block["backbones"]:
            for name in block["variants"]:
                variant = variants[name]
                for encoder in block["encoders"] if variant.needs_text else [None]:
                    seen.setdefault((backbone, encoder, name), Experiment(backbone, encoder, variant))
    return list(seen.values())


def alignments(variants: dict[str, Variant]) -> dict[str, Variant]:
    """align run name → the variant that names it (its ``align`` and ``train`` configs are the run's)."""
    return {v.align_tag: variants[v.align_tag] for v in variants.values() if v.align_tag is not None}


def pretrains(variants: dict[str, Variant]) -> dict[str, dict[str, Any]]:
    """phase-1 run name (``id``, ``id-loss-softmax``, ...) → its overrides (``PHASE1_OVERRIDES``),
    over the variants that use one."""
    runs: dict[str, dict[str, Any]] = {DEFAULT_PRETRAIN: {key: {} for key in PHASE1_OVERRIDES}}
    for v in variants.values():
        if v.method in PRETRAINED_METHODS:
            runs.setdefault(v.pretrain_tag, v.overrides)
    return runs
