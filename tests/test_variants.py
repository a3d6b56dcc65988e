"""Variants: effective configs, and which phase-1 and phase-2 runs they share."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from padlib.errors import ConfigError
from padlib.variants import alignments, pretrains, resolve_variants

REPO = Path(__file__).resolve().parents[1]
BASE = yaml.safe_load((REPO / "config.yaml").read_text())


def config_with(variants: dict) -> dict:
    config = copy.deepcopy(BASE)
    config["variants"] = variants
    config["run"]["variants"] = list(variants)
    return config


def test_train_overrides_get_their_own_phase_1_and_alignment_runs():
    variants = resolve_variants(config_with({
        "sasrec": {"method": "id"},
        "pad": {"method": "pad"},
        "pad-wo-text": {"method": "pad", "finetune": {"experts": ["id", "aligned"]}},
        "pad-ce": {"method": "pad", "train": {"loss": "softmax"}},
        "sasrec-ce": {"method": "id", "train": {"loss": "softmax"}},
        "pad-ce-lr": {"method": "pad", "train": {"loss": "softmax", "lr": 0.01}},
    }))
    assert {n: v.pretrain_tag for n, v in variants.items()} == {
        "sasrec": "id", "pad": "id", "pad-wo-text": "id", "pad-ce": "id-loss-softmax",
        "sasrec-ce": "id-loss-softmax", "pad-ce-lr": "id-loss-softmax-lr-0.01"}
    assert {n: v.align_tag for n, v in variants.items() if v.align_tag} == {
        "pad": "pad", "pad-wo-text": "pad", "pad-ce": "pad-ce", "pad-ce-lr": "pad-ce-lr"}
    assert {name: run["train"] for name, run in pretrains(variants).items()} == {
        "id": {}, "id-loss-softmax": {"loss": "softmax"}, "id-loss-softmax-lr-0.01": {"loss": "softmax", "lr": 0.01}}
    assert all(run["model"] == run["backbones"] == {} for run in pretrains(variants).values())
    assert alignments(variants)["pad-ce"].train == {"loss": "softmax"}


def test_disco_needs_its_loss_weights():
    config = config_with({"sasrec": {"method": "id"}, "disco": {"method": "disco"}})
    assert resolve_variants(config)["disco"].label == "DisCo-style"
    del config["disco"]
    with pytest.raises(ConfigError, match="config key disco: missing"):
        resolve_variants(config)


def test_configs_that_cannot_train_are_refused_before_the_run():
    config = config_with({"disco": {"method": "disco", "train": {"loss": "softmax"}}})
    with pytest.raises(ConfigError, match="variants.disco: DisCo trains with the BCE loss"):
        resolve_variants(config)
    config = config_with({"lost": {"method": "pad", "align": {"anchoring": "none", "gamma": 0.0}}})
    with pytest.raises(ConfigError, match="variants.lost.align: anchoring none with gamma 0"):
        resolve_variants(config)


def test_a_phase_can_be_trained_differently_without_touching_the_others():
    variants = resolve_variants(config_with({
        "pad": {"method": "pad"},
        "pad-slow-ft": {"method": "pad", "finetune": {"train": {"lr": 1e-4}}},
        "pad-ce": {"method": "pad", "train": {"loss": "softmax"}, "align": {"train": {"lr": 1e-4}}},
    }))
    slow, ce = variants["pad-slow-ft"], variants["pad-ce"]
    assert slow.phase_train("finetune") == {"lr": 1e-4} and slow.phase_train("align") == {}
    assert (slow.align_tag, slow.pretrain_tag) == ("pad", "id")      # phases 1 and 2 are PAD's own
    assert ce.phase_train("align") == {"loss": "softmax", "lr": 1e-4}
    assert ce.phase_train("finetune") == {"loss": "softmax"} and ce.pretrain_tag == "id-loss-softmax"


def test_shared_runs_are_named_the_same_in_any_config_order():
    specs = {"pad-wo-text": {"method": "pad", "finetune": {"experts": ["id", "aligned"]}},
             "pad-slow-ft": {"method": "pad", "finetune": {"train": {"lr": 1e-4}}},
             "smem": {"method": "pad", "align": {"gamma": 0.0}},
             "pad": {"method": "pad"}}
    for order in (list(specs), list(reversed(specs))):
        variants = resolve_variants(config_with({name: specs[name] for name in order}))
        assert {n: v.align_tag for n, v in variants.items()} == {
            "pad-wo-text": "pad", "pad-slow-ft": "pad", "smem": "smem", "pad": "pad"}
