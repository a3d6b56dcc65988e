"""The SLURM profile sizes every job of the workflow: each rule has its own entry, GPU rules get a GPU
and the CPUs their torch threads use, and no rule is left to the small cluster defaults by omission."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
PROFILE = yaml.safe_load((REPO / "profiles" / "slurm" / "config.yaml").read_text())


def rule_blocks() -> dict[str, str]:
    """rule name → its text, for every rule in rules/*.smk that runs something (a script or shell)."""
    blocks = {}
    for path in sorted((REPO / "rules").glob("*.smk")):
        parts = re.split(r"^rule (\w+):\n", path.read_text(), flags=re.MULTILINE)
        for name, body in zip(parts[1::2], parts[2::2]):
            if re.search(r"^    (script|shell|run):", body, flags=re.MULTILINE):
                blocks[name] = body
    return blocks


RULES = rule_blocks()
GPU_RULES = {name for name, body in RULES.items() if re.search(r"^        gpu=\d", body, flags=re.MULTILINE)}


def test_the_rules_are_found():
    assert {"pretrain", "scratch", "kendall", "report", "embed"} <= set(RULES)
    assert {"pretrain", "scratch", "evaluate_variant", "embed"} <= GPU_RULES and "kendall" not in GPU_RULES


@pytest.mark.parametrize("rule", sorted(RULES))
def test_every_rule_has_its_own_slurm_resources(rule):
    resources = PROFILE["set-resources"][rule]
    assert resources["mem_mb"] > 0 and resources["runtime"] > 0


@pytest.mark.parametrize("rule", sorted(RULES))
def test_gpu_rules_get_a_gpu_and_the_cpus_their_threads_use(rule):
    resources = PROFILE["set-resources"][rule]
    if rule in GPU_RULES:
        assert resources["gpu"] == 1
        assert resources["cpus_per_task"] == PROFILE["set-threads"][rule] >= 8
        assert resources["mem_mb"] >= 32000
    else:
        assert "gpu" not in resources and rule not in PROFILE["set-threads"]


def test_the_profile_names_no_unknown_rule():
    assert set(PROFILE["set-resources"]) <= set(RULES) and set(PROFILE["set-threads"]) <= set(RULES)
