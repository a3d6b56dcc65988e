"""The job graph of the paper's grid (configs/grid-ml-1m.yaml on a tiny dataset), planned but not run:
report labels and references, shared alignment and phase-1 runs, Kendall's τ inputs, figure
selection, and params that hold no runtime settings. The real run of this grid is tests/test_grid.py."""

from __future__ import annotations

import copy
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml

from plan_jobs import plan
from synthetic import tiny_grid_config

REPO = Path(__file__).resolve().parents[1]
GRID = yaml.safe_load((REPO / "configs" / "grid-ml-1m.yaml").read_text())
SEED_DIR = "results/tiny/sasrec/seed0"
pytestmark = pytest.mark.workflow


def plan_grid(root: Path, edit=None) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The tiny grid's config (``edit``-ed in place first, if given) and the jobs a dry run plans for it;
    the encoders are folders with an empty config.json, since nothing runs."""
    root.mkdir(parents=True, exist_ok=True)
    grid = tiny_grid_config(root, copy.deepcopy(GRID), root / "llama", root / "bert")
    for name in ("llama", "bert"):
        (root / name).mkdir(exist_ok=True)
        (root / name / "config.json").write_text("{}")
    if edit:
        edit(grid)
    (root / "config.yaml").write_text((REPO / "config.yaml").read_text())
    (root / "grid.yaml").write_text(yaml.safe_dump(grid))
    return grid, plan(REPO / "Snakefile", root, root / "grid.yaml")


@pytest.fixture(scope="module")
def grid_plan(tmp_path_factory):
    return plan_grid(tmp_path_factory.mktemp("grid-plan"))


def jobs_of(jobs: list[dict[str, Any]], rule: str) -> list[dict[str, Any]]:
    return [job for job in jobs if job["rule"] == rule]


def report_job(jobs: list[dict[str, Any]]) -> dict[str, Any]:
    (job,) = jobs_of(jobs, "report")
    return job


def test_every_grid_model_gets_one_report_row_with_its_label_and_reference(grid_plan):
    grid, jobs = grid_plan
    runs = report_job(jobs)["params"]["runs"]
    labels = [run["model"] for run in runs]
    assert len(labels) == len(set(labels))
    expected = {"SASRec", "GRU4Rec", "Caser", "Hybrid (tinyllama, SASRec)", "MoRec (tinyllama, SASRec)",
                "CTRL (tinyllama, SASRec)", "MAKE (tinyllama, SASRec)", "SMEM (tinyllama, SASRec)",
                "PAD (tinyllama, SASRec)", "PAD (tinyllama, GRU4Rec)", "PAD (tinyllama, Caser)",
                "PAD (tinybert, SASRec)", "DisCo-style (tinyllama, SASRec)", "PAD (gate network) (tinyllama, SASRec)",
                "SASRec (full softmax)", "PAD (full softmax) (tinyllama, SASRec)"}
    assert expected <= set(labels)
    sasrec_block, backbones_block, plm_block = grid["run"]["experiments"]
    assert len(labels) == (len(sasrec_block["variants"]) + 2 * len(backbones_block["variants"])
                           + len(plm_block["variants"]))
    reference = {run["model"]: run["reference"] for run in runs}
    assert reference["PAD (full softmax) (tinyllama, SASRec)"] == "sasrec-ce"
    assert reference["PAD (tinyllama, Caser)"] == reference["Caser"] == "sasrec"
    # every row is evaluated exactly once, by the job that writes its metrics
    evaluated = [job["output"][0] for job in jobs if job["rule"] in ("evaluate_id", "evaluate_variant")]
    assert sorted(evaluated) == sorted(run["metrics"] for run in runs)


def test_ablations_share_one_alignment_and_anchorings_do_not(grid_plan):
    _, jobs = grid_plan
    aligned = sorted(job["wildcards"]["alignment"] for job in jobs_of(jobs, "align")
                     if job["wildcards"]["backbone"] == "sasrec" and job["wildcards"]["encoder"] == "tinyllama")
    assert aligned == ["pad", "pad-ce", "pad-cosine", "pad-frozen", "pad-infonce", "pad-laplacian", "pad-linear",
                       "pad-nonanchored", "smem"]
    finetune = {job["wildcards"]["variant"]: job for job in jobs_of(jobs, "finetune")
                if job["wildcards"]["backbone"] == "sasrec" and job["wildcards"]["encoder"] == "tinyllama"}
    for ablation in ("pad-wo-id", "pad-only-text", "pad-shared-gate", "pad-gate-network"):
        assert f"{SEED_DIR}/tinyllama/align/pad/model.pt" in finetune[ablation]["input"]
    assert f"{SEED_DIR}/tinyllama/align/pad-frozen/model.pt" in finetune["pad-frozen"]["input"]


def test_full_softmax_variants_get_their_own_phase_1_model(grid_plan):
    _, jobs = grid_plan
    pretrains = Counter((job["wildcards"]["backbone"], job["wildcards"]["pretrain"])
                        for job in jobs_of(jobs, "pretrain"))
    assert pretrains == {("sasrec", "id"): 1, ("sasrec", "id-loss-softmax"): 1, ("gru4rec", "id"): 1,
                         ("caser", "id"): 1}
    (softmax,) = [job for job in jobs_of(jobs, "pretrain") if job["wildcards"]["pretrain"] == "id-loss-softmax"]
    assert softmax["params"]["stage"]["train"]["loss"] == "softmax"
    (align,) = [job for job in jobs_of(jobs, "align") if job["wildcards"]["alignment"] == "pad-ce"]
    assert f"{SEED_DIR}/id-loss-softmax/model.pt" in align["input"]
    assert align["params"]["stage"]["train"]["loss"] == "softmax"
    (pad,) = [job for job in jobs_of(jobs, "align")
              if job["wildcards"]["alignment"] == "pad" and job["wildcards"]["backbone"] == "sasrec"
              and job["wildcards"]["encoder"] == "tinyllama"]
    assert f"{SEED_DIR}/id/model.pt" in pad["input"] and pad["params"]["stage"]["train"]["loss"] == "bce"


def test_kendall_compares_the_unmodified_alignments_with_the_pretrained_ids(grid_plan):
    _, jobs = grid_plan
    (kendall,) = jobs_of(jobs, "kendall")
    assert kendall["wildcards"] == {"dataset": "tiny", "backbone": "sasrec", "seed": "0", "encoder": "tinyllama"}
    compared = {Path(path).parent.name for path in kendall["input"] if "/align/" in path}
    assert compared == {"pad", "smem", "pad-laplacian", "pad-linear", "pad-cosine", "pad-infonce", "pad-nonanchored",
                        "pad-frozen"}   # not pad-ce: it starts from another phase-1 model
    assert f"{SEED_DIR}/id/model.pt" in kendall["input"]
    (entry,) = report_job(jobs)["params"]["kendall"]
    assert entry["path"] == kendall["output"][0]
    assert set(entry["labels"]) == compared
    assert entry["labels"]["pad-frozen"] == "PAD (rec-anchored, ID frozen)" and entry["labels"]["smem"] == "SMEM"


def test_every_configured_figure_with_data_is_drawn(grid_plan, tmp_path):
    grid, jobs = grid_plan
    figures = [Path(p).stem for p in report_job(jobs)["output"] if "/figures/" in p]
    assert figures == [figure["name"] for figure in grid["report"]["figures"]]

    def anchored_only(config):
        block = config["run"]["experiments"][0]
        block["variants"] = [v for v in block["variants"] if v != "pad-nonanchored"]

    _, pruned = plan_grid(tmp_path / "anchored", anchored_only)
    figures = [Path(p).stem for p in report_job(pruned)["output"] if "/figures/" in p]
    assert figures == [f["name"] for f in grid["report"]["figures"] if f["kind"] != "kendall"]
    assert not jobs_of(pruned, "kendall") and report_job(pruned)["params"]["kendall"] == []


def find_keys(value: Any, keys: set[str], path: str = "") -> list[str]:
    """Every path in ``value`` (nested dicts and lists) to a dict key in ``keys``."""
    found = []
    if isinstance(value, dict):
        for key, item in value.items():
            if key in keys:
                found.append(f"{path}.{key}")
            found += find_keys(item, keys, f"{path}.{key}")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            found += find_keys(item, keys, f"{path}[{i}]")
    return found


def test_no_stage_params_hold_the_device_or_a_label(grid_plan):
    """The device is a runtime setting and labels only name report rows: neither may trigger a rerun."""
    _, jobs = grid_plan
    for job in jobs:
        if job["rule"] != "report":
            assert not find_keys(job["params"], {"device", "label", "labels"}), job["rule"]
    assert {job["rule"] for job in jobs} >= {"data", "embed", "pretrain", "align", "finetune", "scratch",
                                             "make_experts", "evaluate_id", "evaluate_variant", "kendall"}
