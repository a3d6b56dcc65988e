"""The params each phase trains with in a code tree: what that tree's workflow would give the rule.

Trees with ``padlib.plan`` (this one) get them from ``Plan.stage_params``, for the default variants
(``pad``, ``morec``) on the SASRec backbone. Older trees (b12c064) built them in their Snakefile
(``rules/common.smk``: ``stage_params``), which cannot be imported; ``snakefile_params`` assembles
the same dict from that tree's own ``resolve_variants`` and ``phase_train``, the one part written
out here being the assembly of those pieces.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from padlib.variants import DEFAULT_PRETRAIN

BACKBONE = "sasrec"
# phase → (the workflow rule that trains it, the run it trains: a phase-1 run, an alignment or a variant)
RULES = {"pretrain": ("pretrain", DEFAULT_PRETRAIN), "align": ("align", "pad"), "finetune": ("finetune", "pad"),
         "morec": ("scratch", "morec")}


def load_config(tree: Path, loss: str | None = None) -> dict[str, Any]:
    """``tree``'s ``config.yaml``, validated by the tree's own schema when it has one (defaults
    filled in, as its Snakefile does); ``loss`` replaces the shared ``train.loss``."""
    from padlib.config import validate_config
    config = yaml.safe_load((tree / "config.yaml").read_text())
    if loss:
        config["train"]["loss"] = loss
    schema = tree / "schemas" / "config.schema.yaml"
    return validate_config(config, schema) if schema.is_file() else config


def phase_params(config: dict[str, Any], phase: str) -> dict[str, Any]:
    """The params of ``phase`` (one of ``benchmarks.PHASES``) under ``config``."""
    try:
        from padlib.plan import Plan
    except ImportError:
        return snakefile_params(config, phase)
    rule, name = RULES[phase]
    return Plan.from_config(config).stage_params(rule, BACKBONE, name)


def snakefile_params(config: dict[str, Any], phase: str) -> dict[str, Any]:
    """b12c064's ``stage_params(rule, backbone, train=..., **sections)`` for the default ``pad``
    variant (and an override-free MoRec: that tree's config defines no ``morec`` variant)."""
    from padlib.config import phase_train
    from padlib.variants import resolve_variants
    pad = resolve_variants(config)["pad"]
    sections = {phase: getattr(pad, phase)} if phase in ("align", "finetune") else {}
    train = {**phase_train(config, RULES[phase][0]), **(pad.phase_train(phase) if sections else {})}
    model = {**config["model"], "backbone": {"name": BACKBONE, **config["backbones"][BACKBONE]}}
    return {"protocol": config["protocol"], "model": model, "train": train, **sections}
