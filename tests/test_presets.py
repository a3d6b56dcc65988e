"""The paper presets dry-run with the local and the SLURM profile against small fake raw files."""

from __future__ import annotations

import gzip
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
PRESETS = ["paper-mind", "paper-electronics", "paper-prime-pantry"]
GPU_RULES = {"embed", "pretrain", "align", "finetune", "evaluate_id", "evaluate_variant"}
CPU_RULES = {"data", "gather_embeddings", "report"}
pytestmark = pytest.mark.workflow


def fill_in(root: Path, preset: str) -> Path:
    """Write the preset with its FILL-IN paths pointing at small raw files in the published formats."""
    text = (REPO / "configs" / f"{preset}.yaml").read_text().replace("FILL-IN", str(root / "raw"))
    config = yaml.safe_load(text)
    for source in config["sources"].values():
        if source["kind"] == "mind":
            for path in source["behaviors"]:
                Path(path).parent.mkdir(parents=True, exist_ok=True)
                Path(path).write_text("1\tU1\t11/11/2019 9:05:58 AM\tN1 N2\tN3-1 N4-0\n")
            for path in source["news"]:
                Path(path).write_text("".join(f"N{i}\tnews\tsports\tTitle {i}\tAbstract\thttp://x\t[]\t[]\n"
                                              for i in range(1, 5)))
        else:
            Path(source["ratings"]).parent.mkdir(parents=True, exist_ok=True)
            Path(source["ratings"]).write_text("B1,A1,5.0,1420070400\nB2,A1,4.0,1420070500\n")
            with gzip.open(source["meta"], "wt") as fh:
                fh.write("\n".join(json.dumps({"asin": f"B{i}", "title": f"Item {i}"}) for i in (1, 2)) + "\n")
    for encoder in config["encoders"].values():
        Path(encoder["model"]["path"]).mkdir(parents=True, exist_ok=True)
        (Path(encoder["model"]["path"]) / "config.json").write_text("{}")
        for directory in encoder.get("adapters", []):
            Path(directory).mkdir(parents=True, exist_ok=True)
            (Path(directory) / "adapter_config.json").write_text("{}")
    out = root / f"{preset}.yaml"
    out.write_text(yaml.safe_dump(config))
    return out


def planned_resources(output: str) -> dict[str, list[dict[str, str]]]:
    """{rule: [resources of each planned job]} from a dry run's job listing."""
    jobs: dict[str, list[dict[str, str]]] = {}
    rule = None
    for line in output.splitlines():
        match = re.match(r"^(?:local)?rule (\w+):", line)
        if match:
            rule = match.group(1)
            jobs.setdefault(rule, [])
        elif rule and line.strip().startswith("resources:"):
            pairs = [p.split("=", 1) for p in line.split(":", 1)[1].split(", ")]
            jobs[rule].append({k.strip(): v.strip() for k, v in pairs})
    return jobs


@pytest.mark.parametrize("profile", ["default", "slurm"])
@pytest.mark.parametrize("preset", PRESETS)
def test_preset_dry_runs_with_profile(tmp_path, preset, profile):
    configfile = fill_in(tmp_path, preset)
    (tmp_path / "config.yaml").write_text((REPO / "config.yaml").read_text())
    cmd = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "--directory", str(tmp_path),
           "--dry-run", "--configfile", str(configfile), "--cores", "16"]
    if profile == "slurm":
        cmd += ["--workflow-profile", str(REPO / "profiles" / "slurm")]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    jobs = planned_resources(proc.stdout)
    assert len(jobs["embed"]) == 8          # embed.shards in the presets
    for rule in ("pretrain", "align", "finetune", "evaluate_id", "evaluate_variant"):
        assert len(jobs[rule]) == 3         # three seeds
    for rule in GPU_RULES:
        assert all(job.get("gpu") == "1" for job in jobs[rule]), rule
    for rule in CPU_RULES & jobs.keys():
        assert all("gpu" not in job for job in jobs[rule]), rule
    if profile == "slurm":
        for rule in GPU_RULES | CPU_RULES:
            for job in jobs.get(rule, []):
                assert job["slurm_account"] == "FILL-IN-ACCOUNT" and job["slurm_partition"] == "FILL-IN-PARTITION"
        assert all(job["cpus_per_task"] == "8" and job["mem_mb"] == "64000" for job in jobs["embed"])
        assert all(job["cpus_per_task"] == "2" for job in jobs["data"])


PRIME_PANTRY = REPO.parent / "shared" / "data" / "prime-pantry"


def prime_pantry_config(tmp_path: Path) -> Path:
    """configs/prime-pantry.yaml with its data path pointing at the shared copy."""
    config = yaml.safe_load((REPO / "configs" / "prime-pantry.yaml").read_text())
    config["sources"]["prime-pantry"]["path"] = str(PRIME_PANTRY)
    (tmp_path / "pp.yaml").write_text(yaml.safe_dump(config))
    return tmp_path / "pp.yaml"


def plan_of(*overlays: str):
    """The run plan of config.yaml with ``configs/<overlay>.yaml`` merged over it in order, validated,
    without Snakemake (every source a MovieLens wheel: the plan does not read the data)."""
    from padlib.config import merge_config, validate_config
    from padlib.plan import Plan

    config = yaml.safe_load((REPO / "config.yaml").read_text())
    for name in overlays:
        config = merge_config(config, yaml.safe_load((REPO / "configs" / f"{name}.yaml").read_text()))
    config["sources"] = {name: {"kind": "movielens-100k"} for name in config["sources"]}
    return Plan.from_config(validate_config(config, REPO / "schemas" / "config.schema.yaml"))


def planned_artifacts(*overlays: str) -> set[str]:
    """Every artifact the plan's runs build (each stage of each experiment and seed)."""
    plan = plan_of(*overlays)
    return {path for dataset in plan.datasets for seed in plan.seeds for e in plan.experiments
            for path in plan.stages(dataset, e.backbone, seed, e.encoder, e.variant).values()}


def dry_run(tmp_path: Path, configfiles: list[Path]) -> str:
    """The job listing of a dry run in ``tmp_path`` with config.yaml and ``configfiles`` merged over it."""
    (tmp_path / "config.yaml").write_text((REPO / "config.yaml").read_text())
    cmd = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "--directory", str(tmp_path),
           "--dry-run", "--configfile", *map(str, configfiles), "--cores", "2"]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout


@pytest.mark.skipif(not PRIME_PANTRY.is_dir(), reason="the paper's Prime Pantry data is not here")
def test_prime_pantry_config_plans_three_seeds_of_every_variant(tmp_path):
    stdout = dry_run(tmp_path, [prime_pantry_config(tmp_path)])
    jobs = {rule: len(runs) for rule, runs in planned_resources(stdout).items()}
    # per seed: phase 1 for BCE and softmax; MoRec per encoder; alignments pad, smem, pad-ce (SmolLM2) and pad
    # (MiniLM), each with its fine-tuning; 6 variant evaluations; one report over all of it
    assert {r: jobs.get(r) for r in ("embed", "pretrain", "scratch", "align", "finetune", "evaluate_id",
                                     "evaluate_variant", "report")} == {
        "embed": 2, "pretrain": 6, "scratch": 6, "align": 12, "finetune": 12, "evaluate_id": 6,
        "evaluate_variant": 18, "report": 1}


def test_ml_1m_config_plans_three_seeds_of_the_core_variants(tmp_path):
    stdout = dry_run(tmp_path, [REPO / "configs" / "ml-1m.yaml"])
    jobs = {rule: len(runs) for rule, runs in planned_resources(stdout).items()}
    # per seed: phase 1; MoRec; the alignments of pad and smem, each with its fine-tuning; 3 variant evaluations
    assert {r: jobs.get(r) for r in ("embed", "pretrain", "scratch", "align", "finetune", "evaluate_id",
                                     "evaluate_variant", "report")} == {
        "embed": 1, "pretrain": 3, "scratch": 3, "align": 6, "finetune": 6, "evaluate_id": 3,
        "evaluate_variant": 9, "report": 1}


@pytest.mark.parametrize("dataset", ["prime-pantry", "ml-1m"])
def test_fidelity_configs_plan_an_own_phase_1_per_model_override(tmp_path, dataset):
    """configs/fidelity-*.yaml: the PyTorch-init, xavier-Linear and pre-LN rows train their own phase-1 models."""
    files = [REPO / "configs" / "fidelity-prime-pantry.yaml"]
    if dataset == "prime-pantry":
        if not PRIME_PANTRY.is_dir():
            pytest.skip("the paper's Prime Pantry data is not here")
        files.insert(0, prime_pantry_config(tmp_path))
    else:
        files.append(REPO / "configs" / "fidelity-ml-1m.yaml")
    stdout = dry_run(tmp_path, files)
    phase1 = set(re.findall(rf"output: results/{dataset}/sasrec/seed0/(id[^/]*)/model\.pt", stdout))
    assert phase1 == {"id", "id-init-xavier", "id-init-xavier-linear", "id-sasrec.block-pre-ln"}
    aligned = set(re.findall(rf"output: results/{dataset}/sasrec/seed0/smollm2/align/([^/]+)/model\.pt", stdout))
    assert aligned == {"pad", "pad-mmd-mean", "pad-separate-text", "pad-xavier", "pad-xavier-linear", "pad-pre-ln"}


OFFICIAL_OPTIONS = {  # key path → the official code's value (docs/fidelity.md)
    ("protocol", "bucket_rule"): "official", ("model", "text_norm"): "none", ("model", "init"): "xavier",
    ("train", "batch_size"): 128, ("train", "lr"): 1e-5, ("train", "max_epochs"): 400, ("train", "patience"): 21,
    ("train", "select_metric"): "hr", ("train", "validate_untrained"): False,
    ("align", "estimator"): "tllib", ("align", "sample"): "official", ("align", "multi_kernel"): "sum",
    ("align", "sample_users"): 16, ("align", "text_vectors"): "forward", ("align", "train", "lr"): 1e-5,
    ("finetune", "train", "lr"): 1e-4, ("backbones", "sasrec", "blocks"): 5, ("backbones", "sasrec", "block"): "official",
}


@pytest.mark.parametrize("name", [*PRESETS, "official-prime-pantry"])
def test_paper_presets_and_the_official_config_set_every_official_option(name):
    config = yaml.safe_load((REPO / "configs" / f"{name}.yaml").read_text())
    for path, value in OFFICIAL_OPTIONS.items():
        node = config
        for key in path:
            node = node[key]
        assert node == value, (name, path)


@pytest.mark.skipif(not PRIME_PANTRY.is_dir(), reason="the paper's Prime Pantry data is not here")
def test_the_official_config_plans_its_own_results_folder():
    """configs/official-prime-pantry.yaml merged over configs/prime-pantry.yaml trains SASRec and PAD
    under results/prime-pantry-official/, leaving the defaults' results/prime-pantry/ alone."""
    paths = planned_artifacts("prime-pantry", "official-prime-pantry")
    assert {p.split("/")[1] for p in paths} == {"prime-pantry-official"}
    assert "results/prime-pantry-official/sasrec/seed0/smollm2/pad/metrics.json" in paths


def test_the_new_items_configs_plan_their_own_results_folders():
    """configs/new-items-*.yaml hold 10 % of the items out and write under results/<dataset>-new/,
    leaving the defaults' results alone."""
    for base, name, seeds in (("prime-pantry", "new-items-prime-pantry", 3), ("ml-1m", "new-items-ml-1m", 1),
                              (None, "new-items-ml-100k", 1)):
        plan = plan_of(*filter(None, (base, name)))
        dataset = plan.datasets[0]
        assert plan.datasets == [f"{(base or 'ml-100k')}-new"] and len(plan.seeds) == seeds
        assert plan.config["protocol"]["new_items"] == {"share": 0.1, "seed": 0}
        paths = planned_artifacts(*filter(None, (base, name)))
        assert {p.split("/")[1] for p in paths} == {dataset}
        assert f"results/{dataset}/sasrec/seed0/smollm2/pad/metrics.json" in paths


def test_tuning_config_plans_a_phase1_model_per_baseline_dropout():
    """configs/tuning-prime-pantry.yaml, stage A: SASRec (BCE and full softmax) at dropout 0.1 / 0.3 /
    0.5, each its own phase-1 model, and MoRec at the same three, from scratch; stage B: SASRec's
    learning rate halved and doubled at dropout 0.5."""
    paths = "\n".join(planned_artifacts("prime-pantry", "tuning-prime-pantry"))
    phase1 = set(re.findall(r"results/prime-pantry/sasrec/seed0/(id[^/]*)/model\.pt", paths))
    stage_b = {f"id{loss}-lr-{lr}-sasrec.dropout-0.5" for loss in ("", "-loss-softmax") for lr in ("0.002", "0.008")}
    stage_b |= {"id-lr-0.001-sasrec.dropout-0.5", "id-loss-softmax-lr-0.001-sasrec.dropout-0.5"}
    assert phase1 == {"id", "id-sasrec.dropout-0.3", "id-sasrec.dropout-0.5", "id-loss-softmax",
                      "id-loss-softmax-sasrec.dropout-0.3", "id-loss-softmax-sasrec.dropout-0.5"} | stage_b
    morec = set(re.findall(r"results/prime-pantry/sasrec/seed0/smollm2/(morec[^/]*)/model\.pt", paths))
    assert morec == {"morec", "morec-d3", "morec-d5"}


def test_the_fourth_round_configs_share_phase_1_and_give_row_3_its_own_data():
    """configs/fidelity4-*.yaml: the text-path rows (the earlier text normalisation and MMD, per-row projections) share
    the defaults' phase-1 model, the xavier init (row 7) trains its own; the official buckets (row 3)
    change the data, so they get their own dataset name. Validated and planned without Snakemake."""
    rows = plan_of("prime-pantry", "fidelity4-prime-pantry")
    fourth = ("pad", "pad-text-std", "pad-mmd-rows", "pad-item-rows")
    assert {rows.variants[v].pretrain_tag for v in fourth} == {"id"}
    assert rows.variants["pad-xavier"].pretrain_tag == rows.variants["sasrec-xavier"].pretrain_tag != "id"
    assert rows.stage_params("align", "sasrec", "pad")["align"]["sample"] == "official"   # the default since round 4
    assert rows.stage_params("align", "sasrec", "pad-mmd-rows")["align"]["sample"] == "rows"
    assert rows.stage_params("finetune", "sasrec", "pad-item-rows")["model"]["item_passes"] == "rows"
    buckets = plan_of("prime-pantry", "fidelity4-buckets-prime-pantry")
    assert buckets.datasets == ["prime-pantry-buckets"] and buckets.config["protocol"]["bucket_rule"] == "official"


def test_tuning_stage_c_starts_pad_and_smem_from_the_tuned_sasrec():
    """configs/tuning-c-prime-pantry.yaml: every PAD and SMEM run shares the tuned SASRec's phase-1
    model, and phases 2 and 3 keep their own learning rates while their dropout is swept."""
    plan = plan_of("prime-pantry", "tuning-c-prime-pantry")
    tuned = plan.variants["sasrec-tuned"].pretrain_tag
    assert {v.pretrain_tag for v in plan.variants.values() if "tuned" in v.name} == {tuned}
    for rate in ("1", "3", "5"):
        for method, gamma in (("pad", 0.2), ("smem", 0.0)):
            align = plan.stage_params("align", "sasrec", f"{method}-tuned-d{rate}")
            finetune = plan.stage_params("finetune", "sasrec", f"{method}-tuned-d{rate}")
            assert align["align"]["gamma"] == gamma and align["train"]["lr"] == 0.001
            assert finetune["train"]["lr"] == 0.0008
            assert align["model"]["backbone"]["dropout"] == finetune["model"]["projection_dropout"] == float(f"0.{rate}")
