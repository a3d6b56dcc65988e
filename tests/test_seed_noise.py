"""padlib.training.seed_noise trains each phase with the params the workflow gives the PAD variant's
runs (``Plan.stage_params``), each phase's own ``--<phase>-train`` overrides reaching that phase alone."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from padlib.errors import ConfigError
from padlib.io import manifest_path
from padlib.training.seed_noise import PHASES, load_plan, main, phase_params
from synthetic import write_training_inputs

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = str(ROOT / "schemas/config.schema.yaml")
TINY = {"model": {"dim": 16}, "backbones": {"sasrec": {"blocks": 1, "heads": 1, "ffn_dim": 16}}}


def test_each_phase_trains_with_the_workflow_params(tmp_path):
    write_training_inputs(tmp_path, {}, n_users=40)
    overlay = tmp_path / "tiny.yaml"
    overlay.write_text(yaml.safe_dump(TINY))
    configs = [str(ROOT / "config.yaml"), str(overlay)]
    out = tmp_path / "noise"
    rows = main(["--config", *configs, "--schema", SCHEMA, "--data", str(tmp_path), "--embeddings",
                 str(tmp_path / "text.parquet"), "--seeds", "0", "--out", str(out), "--train", '{"max_epochs": 1}',
                 "--align-train", '{"lr": 0.002}'])
    assert [r["phase"] for r in rows] == list(PHASES)
    assert json.loads((out / "results.json").read_text()) == rows
    plan = load_plan(configs, SCHEMA)
    for phase in PHASES:
        overrides = {"max_epochs": 1, **({"lr": 0.002} if phase == "align" else {})}
        expected = phase_params(plan, phase, "pad", "sasrec", overrides)
        recorded = json.loads(manifest_path(out / "seed0" / f"{phase}.pt").read_text())["config"]
        assert recorded == json.loads(json.dumps(expected))
    assert plan.stage_params("finetune", "sasrec", "pad")["train"]["lr"] != 0.002


def test_a_variant_without_phase_two_is_refused():
    plan = load_plan([str(ROOT / "config.yaml")], SCHEMA)
    with pytest.raises(ConfigError, match="not a PAD variant"):
        phase_params(plan, "align", "morec", "sasrec", {})
