"""The run plan (padlib/plan.py) on config.yaml, the paper grid (configs/grid-ml-1m.yaml merged over it,
as Snakemake merges --configfile) and small hand-made configs: which runs exist, where they live, and
what each stage reads. No Snakemake run and no torch: tests/test_job_graph.py checks the same facts
through a dry run of the workflow."""

from __future__ import annotations

import copy
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from padlib.config import merge_config, validate_config
from padlib.plan import (ALIGN_MODEL, DATA, EMBEDDING_PART, EMBEDDINGS, KENDALL, MODEL_DIR, PRETRAIN_MODEL, REPORT,
                         TEXT_RULES, VARIANT_MODEL, WHEEL, Plan, evaluation, pattern)
from padlib.variants import TEXT_METHODS

REPO = Path(__file__).resolve().parents[1]
SEED0 = "results/ml-1m/sasrec/seed0"
TRAINING_RULES = ["pretrain", "align", *TEXT_RULES]


def load(*overlays: str) -> dict[str, Any]:
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    for overlay in overlays:
        merge_config(config, yaml.safe_load((REPO / overlay).read_text()))
    return validate_config(config, REPO / "schemas" / "config.schema.yaml")


@pytest.fixture(scope="module")
def default() -> dict[str, Any]:
    return load()


@pytest.fixture(scope="module")
def grid() -> dict[str, Any]:
    return load("configs/grid-ml-1m.yaml")


def runs_by_label(plan: Plan, dataset: str, seed: int = 0) -> dict[str, dict[str, Any]]:
    return {run["model"]: run for run in plan.report_runs(dataset) if run["seed"] == seed}


def find_keys(value: Any, keys: set[str]) -> list[str]:
    """The keys in ``keys`` anywhere in nested dicts and lists."""
    if isinstance(value, dict):
        return [k for k in value if k in keys] + [f for item in value.values() for f in find_keys(item, keys)]
    if isinstance(value, list):
        return [f for item in value for f in find_keys(item, keys)]
    return []


def test_the_default_config_trains_sasrec_and_pad_and_reports_them(default):
    plan = Plan.from_config(default)
    assert plan.targets() == ["results/ml-100k/report.md"]
    runs = runs_by_label(plan, "ml-100k")
    assert list(runs) == ["SASRec", "PAD"]
    root = "results/ml-100k/sasrec/seed0"
    assert runs["SASRec"]["stages"] == {"data": "results/ml-100k/data/items.parquet", "pretrain": f"{root}/id/model.pt",
                                        "evaluate": f"{root}/id/metrics.json"}
    assert runs["PAD"]["stages"] == {
        "data": "results/ml-100k/data/items.parquet", "embed": "results/ml-100k/embeddings/smollm2.parquet",
        "pretrain": f"{root}/id/model.pt", "align": f"{root}/smollm2/align/pad/model.pt",
        "finetune": f"{root}/smollm2/pad/model.pt", "evaluate": f"{root}/smollm2/pad/metrics.json"}
    assert runs["PAD"]["ranks"] == f"{root}/smollm2/pad/test_ranks.parquet"
    assert runs["PAD"]["reference"] == runs["SASRec"]["reference"] == "sasrec"
    assert [f.name for f in plan.report.figures] == ["fig2-warm-median-cold"]
    assert plan.report_inputs("ml-100k") == sorted({*runs["SASRec"]["stages"].values(), *runs["PAD"]["stages"].values(),
                                                    runs["SASRec"]["ranks"], runs["PAD"]["ranks"]})


def test_every_grid_model_is_one_report_row_per_seed_with_its_label_and_reference(grid):
    plan = Plan.from_config(grid)
    runs = plan.report_runs("ml-1m")
    assert len(runs) == len(plan.experiments) * 3 == (24 + 2 * 2 + 1) * 3
    rows = runs_by_label(plan, "ml-1m")
    assert len(rows) == len(plan.experiments)
    assert {"SASRec", "GRU4Rec", "Caser", "Hybrid (smollm2, SASRec)", "PAD (minilm, SASRec)", "PAD (smollm2, Caser)",
            "SMEM (smollm2, SASRec)", "SASRec (full softmax)", "PAD (full softmax) (smollm2, SASRec)"} <= set(rows)
    assert rows["PAD (full softmax) (smollm2, SASRec)"]["reference"] == "sasrec-ce"
    assert rows["PAD (smollm2, Caser)"]["reference"] == rows["Caser"]["reference"] == "sasrec"
    make = rows["MAKE (smollm2, SASRec)"]["stages"]
    assert make["train"] == f"{SEED0}/smollm2/morec/model.pt" and make["finetune"] == f"{SEED0}/smollm2/make/model.pt"
    assert plan.text_model("ml-1m", "sasrec", 0, "smollm2", "make") == make["train"]


def test_phase_3_ablations_share_pads_alignment_and_anchorings_do_not(grid):
    plan = Plan.from_config(grid)
    assert sorted(plan.alignments) == ["pad", "pad-ce", "pad-cosine", "pad-frozen", "pad-infonce", "pad-laplacian",
                                       "pad-linear", "pad-nonanchored", "smem"]
    for ablation in ("pad-wo-id", "pad-only-text", "pad-shared-gate", "pad-gate-network"):
        assert plan.aligned_model("ml-1m", "sasrec", 0, "smollm2", ablation) == f"{SEED0}/smollm2/align/pad/model.pt"
    assert plan.aligned_model("ml-1m", "sasrec", 0, "smollm2", "pad-frozen").endswith("/align/pad-frozen/model.pt")


def test_the_schema_defaults_are_in_the_params_so_a_variant_naming_one_shares_the_run():
    """A default the config leaves out still reaches the align and finetune params (changing it reruns
    phase 2 and 3), and a variant spelling that default out is the same alignment, not a second one."""
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    config["variants"]["pad-forward"] = {"method": "pad", "align": {"text_vectors": "forward", "loss": "mmd"}}
    plan = Plan.from_config(validate_config(config, REPO / "schemas" / "config.schema.yaml"))
    schema = yaml.safe_load((REPO / "schemas" / "config.schema.yaml").read_text())["$defs"]
    align = plan.stage_params("align", "sasrec", "pad")["align"]
    assert {k: align[k] for k in ("loss", "multi_kernel", "sample", "temperature", "text_vectors")} == {
        k: schema["align_options"]["properties"][k]["default"]
        for k in ("loss", "multi_kernel", "sample", "temperature", "text_vectors")}
    assert plan.stage_params("finetune", "sasrec", "pad")["finetune"]["gate_hidden"] == \
        schema["finetune_options"]["properties"]["gate_hidden"]["default"]
    assert list(plan.alignments) == ["pad"]
    assert plan.aligned_model("ml-100k", "sasrec", 0, "smollm2", "pad-forward").endswith("/align/pad/model.pt")


def test_a_train_override_gets_its_own_phase_1_model_and_params(grid):
    plan = Plan.from_config(grid)
    assert {name: runs["train"] for name, runs in plan.pretrains.items()} == {"id": {}, "id-loss-softmax": {"loss": "softmax"}}
    assert plan.phase1_model("ml-1m", "sasrec", 0, "pad-ce") == f"{SEED0}/id-loss-softmax/model.pt"
    assert plan.phase1_model("ml-1m", "sasrec", 0, "pad") == f"{SEED0}/id/model.pt"
    assert plan.stage_params("pretrain", "sasrec", "id-loss-softmax")["train"]["loss"] == "softmax"
    assert plan.stage_params("pretrain", "sasrec", "id")["train"]["loss"] == "bce"  # the schema default
    align = plan.stage_params("align", "sasrec", "pad-ce")["train"]
    assert align["loss"] == "softmax" and align["lr"] == grid["align"]["train"]["lr"]


def test_each_training_rule_reads_its_phase_and_its_own_section_but_no_runtime_setting(grid):
    plan = Plan.from_config(grid)
    runs = {"pretrain": "id", "align": "pad", "finetune": "pad-wo-id", "scratch": "morec", "ctrl": "ctrl",
            "make": "make", "disco": "disco"}  # stage → the run it trains
    rules = {"ctrl": "scratch", "disco": "scratch", "make": "make_experts"}  # rules named unlike the run
    params = {stage: plan.stage_params(rules.get(stage, stage), "caser", run) for stage, run in runs.items()}
    assert set(TRAINING_RULES) == {rules.get(stage, stage) for stage in runs}
    for rule, stage in params.items():
        assert stage["protocol"] == grid["protocol"]
        assert stage["model"]["backbone"] == {"name": "caser", **grid["backbones"]["caser"]}
        assert not find_keys(stage, {"device", "label", "labels"}), rule
    assert params["align"]["align"]["gamma"] == grid["align"]["gamma"] and "train" not in params["align"]["align"]
    assert params["finetune"]["finetune"]["experts"] == ["aligned", "text"]
    assert params["finetune"]["train"]["lr"] == params["make"]["train"]["lr"] == grid["finetune"]["train"]["lr"]
    assert params["ctrl"]["ctrl"] == grid["ctrl"] and params["disco"]["disco"] == grid["disco"]
    assert set(params["scratch"]) == {"protocol", "model", "train"}
    assert params["scratch"]["train"] == grid["train"]
    with pytest.raises(ValueError, match="evaluate"):
        plan.stage_params("evaluate", "sasrec", "pad")


def test_rules_writing_the_same_model_path_build_disjoint_variants(grid):
    plan = Plan.from_config(grid)
    trained = [name for rule in TEXT_RULES for name in plan.runs_of(rule)]
    assert sorted(trained) == sorted(plan.runs_of("evaluate_variant"))
    assert len(trained) == len(set(trained))
    assert sorted(plan.runs_of("evaluate_variant")) == sorted(n for n, v in plan.variants.items()
                                                              if v.method in TEXT_METHODS)
    assert sorted(m for methods in TEXT_RULES.values() for m in methods) == sorted(TEXT_METHODS)
    regex = pattern(plan.runs_of("scratch"))
    assert sorted(n for n in plan.variants if re.fullmatch(regex, n)) == ["ctrl", "disco", "hybrid", "morec"]
    assert not re.fullmatch(pattern([]), "") and not re.fullmatch(pattern({}), "pad")
    assert re.fullmatch(pattern(["id-lr-0.001"]), "id-lr-0.001") and not re.fullmatch(pattern(["id-lr-0.001"]),
                                                                                         "id-lr-0x001")


def test_kendall_compares_the_unmodified_alignments_of_each_run_with_a_non_anchored_one(grid):
    plan = Plan.from_config(grid)
    compared = plan.kendall_alignments("sasrec", "smollm2")
    assert set(compared) == {"pad", "smem", "pad-laplacian", "pad-linear", "pad-cosine", "pad-infonce",
                             "pad-nonanchored", "pad-frozen"}   # not pad-ce: another phase-1 model
    assert compared["pad-frozen"] == "PAD (rec-anchored, ID frozen)" and compared["smem"] == "SMEM"
    assert plan.kendall_alignments("caser", "smollm2") == {} == plan.kendall_alignments("sasrec", "minilm")
    entries = plan.kendall_entries("ml-1m")
    assert [(e["backbone"], e["encoder"], e["seed"]) for e in entries] == [("sasrec", "smollm2", s) for s in (0, 1, 2)]
    assert entries[0]["path"] == f"{SEED0}/smollm2/kendall.json"
    assert plan.targets() == ["results/ml-1m/report.md", *(e["path"] for e in entries)]
    assert set(plan.kendall_targets("ml-1m")) <= set(plan.report_inputs("ml-1m"))
    assert plan.kendall_models("ml-1m", "sasrec", 1, "smollm2") == [
        f"results/ml-1m/sasrec/seed1/smollm2/align/{name}/model.pt" for name in compared]


def test_figures_without_data_are_dropped(grid):
    assert [f.name for f in Plan.from_config(grid).report.figures] == [f["name"] for f in grid["report"]["figures"]]
    anchored = copy.deepcopy(grid)
    block = anchored["run"]["experiments"][0]
    block["variants"] = [v for v in block["variants"] if v not in ("pad-nonanchored", "pad-laplacian", "pad-linear",
                                                                   "pad-cosine")]
    plan = Plan.from_config(anchored)
    assert [f.name for f in plan.report.figures] == ["fig2-warm-median-cold", "fig4-anchoring",
                                                     "fig5a-alignment-losses", "fig5b-ablations"]
    assert plan.kendall_entries("ml-1m") == [] and plan.targets() == ["results/ml-1m/report.md"]
    block["variants"] = ["sasrec", "pad", "pad-infonce"]   # one model of fig4 left, two of fig5a
    assert [f.name for f in Plan.from_config(anchored).report.figures] == ["fig2-warm-median-cold",
                                                                           "fig5a-alignment-losses"]


def test_labels_name_the_encoder_and_backbone_only_where_the_run_has_several(default):
    config = copy.deepcopy(default)
    config["run"].update(encoders=["smollm2", "minilm"], backbones=["sasrec", "gru4rec"])
    config["variants"]["pad-gru"] = {"method": "pad", "label": "PAD on GRU4Rec"}
    config["run"]["variants"] = ["sasrec", "pad", "pad-gru"]
    runs = Plan.from_config(config).report_runs("x")
    labels = {(r["backbone"], r["encoder"], r["variant"]): r["model"] for r in runs}
    assert labels[("gru4rec", None, "sasrec")] == "GRU4Rec"
    assert labels[("sasrec", "minilm", "pad")] == "PAD (minilm, SASRec)"
    assert labels[("gru4rec", "smollm2", "pad-gru")] == "PAD on GRU4Rec (smollm2)"
    assert labels[("sasrec", "smollm2", "pad-gru")] == "PAD on GRU4Rec (smollm2, SASRec)"


def test_the_reference_falls_back_to_an_id_only_variant_that_runs_with_the_same_training(default):
    config = copy.deepcopy(default)
    config["variants"].update({"sasrec-ce": {"method": "id", "train": {"loss": "softmax"}},
                               "pad-ce": {"method": "pad", "train": {"loss": "softmax"}},
                               "pad-lr": {"method": "pad", "train": {"lr": 0.01}}})
    config["run"]["variants"] = ["pad", "sasrec-ce", "pad-ce", "pad-lr"]
    plan = Plan.from_config(config)
    reference = {r["variant"]: r["reference"] for r in plan.report_runs("x")}
    assert reference == {"pad": "sasrec", "sasrec-ce": "sasrec-ce", "pad-ce": "sasrec-ce", "pad-lr": None}
    config["report"]["baseline"] = None
    assert {r["reference"] for r in Plan.from_config(config).report_runs("x")} == {None}


def test_embeddings_come_in_shards_from_a_prepared_wheel_or_a_local_model(default):
    config = copy.deepcopy(default)
    config["embed"]["shards"] = 3
    config["encoders"]["minilm"]["model"] = {"path": "/models/minilm"}
    plan = Plan.from_config(config)
    assert plan.embedding_parts("ml-100k", "smollm2") == [
        f"results/ml-100k/embeddings/smollm2.parts/part{i}-of3.parquet" for i in range(3)]
    assert plan.encoder_model_dir("smollm2") == "resources/models/smollm2"
    assert plan.encoder_model_dir("minilm") == "/models/minilm"
    assert plan.figure("{dataset}", "fig2") == "results/{dataset}/figures/fig2.png"


def test_the_path_scheme_is_what_the_rules_write():
    """The rules spell their output patterns out; the Plan builds their inputs from the same patterns."""
    rules = "\n".join(path.read_text() for path in sorted((REPO / "rules").glob("*.smk")))
    outputs = set(re.findall(r'"((?:results|resources)/[^"]+)"', rules))
    templates = [DATA, EMBEDDINGS, EMBEDDING_PART, PRETRAIN_MODEL, ALIGN_MODEL, VARIANT_MODEL, KENDALL, REPORT,
                 *evaluation(PRETRAIN_MODEL).values(), *evaluation(VARIANT_MODEL).values(),
                 WHEEL.format(name="{wheel}"), MODEL_DIR.format(name="{model_name}")]
    assert [t for t in templates if t not in outputs] == []


def test_planning_imports_no_torch():
    """The plan runs whenever Snakemake builds the DAG, so it must not pay for importing torch."""
    code = "import sys, padlib.plan; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO)
    assert out.stdout.strip() == "False"


def test_model_and_backbone_overrides_get_their_own_phase_1_model_and_reach_every_stage():
    config = load()
    config["variants"].update({
        "sasrec-xavier": {"method": "id", "model": {"init": "xavier"}},
        "pad-xavier": {"method": "pad", "model": {"init": "xavier"}},
        "morec-xavier": {"method": "morec", "model": {"init": "xavier"}},
        "pad-block": {"method": "pad", "backbones": {"sasrec": {"block": "official"}}},
    })
    config["run"]["variants"] = ["sasrec", "pad", "sasrec-xavier", "pad-xavier", "morec-xavier", "pad-block"]
    config = validate_config(config, REPO / "schemas" / "config.schema.yaml")
    plan = Plan.from_config(config)
    ml100k = "results/ml-100k/sasrec/seed0"
    assert sorted(plan.pretrains) == ["id", "id-init-xavier", "id-sasrec.block-official"]
    assert plan.phase1_model("ml-100k", "sasrec", 0, "pad-xavier") == f"{ml100k}/id-init-xavier/model.pt"
    assert plan.phase1_model("ml-100k", "sasrec", 0, "pad-block") == f"{ml100k}/id-sasrec.block-official/model.pt"
    assert plan.aligned_model("ml-100k", "sasrec", 0, "smollm2", "pad-xavier").endswith("/align/pad-xavier/model.pt")
    for rule, name in [("pretrain", "id-init-xavier"), ("align", "pad-xavier"), ("finetune", "pad-xavier"),
                       ("scratch", "morec-xavier")]:
        assert plan.stage_params(rule, "sasrec", name)["model"]["init"] == "xavier", rule
    assert plan.stage_params("pretrain", "sasrec", "id")["model"]["init"] == config["model"].get("init", "torch")
    for rule, name in [("pretrain", "id-sasrec.block-official"), ("align", "pad-block"), ("finetune", "pad-block")]:
        backbone = plan.stage_params(rule, "sasrec", name)["model"]["backbone"]
        assert backbone["block"] == "official" and backbone["blocks"] == config["backbones"]["sasrec"]["blocks"]
    assert plan.reference_variant(plan.variants["pad-xavier"]) == "sasrec-xavier"
    assert plan.reference_variant(plan.variants["pad"]) == "sasrec"


def test_text_only_model_keys_share_the_phase1_model():
    """A variant that changes only the text path (model.text_norm, the projection) starts from the
    default phase-1 model: those keys neither name nor enter the ID-only phase 1's params."""
    config = load()
    config["variants"]["pad-raw"] = {"method": "pad", "model": {"text_norm": "none", "projection_dropout": 0.3}}
    config["run"]["variants"] = ["sasrec", "pad", "pad-raw"]
    plan = Plan.from_config(validate_config(config, REPO / "schemas" / "config.schema.yaml"))
    assert sorted(plan.pretrains) == ["id"]
    assert plan.phase1_model("ml-100k", "sasrec", 0, "pad-raw") == plan.phase1_model("ml-100k", "sasrec", 0, "pad")
    assert "text_norm" not in plan.stage_params("pretrain", "sasrec", "id")["model"]
    assert plan.stage_params("align", "sasrec", "pad-raw")["model"]["text_norm"] == "none"
    assert plan.stage_params("finetune", "sasrec", "pad-raw")["model"]["projection_dropout"] == 0.3
    assert plan.reference_variant(plan.variants["pad-raw"]) == "sasrec"


def test_phase_dropout_tunes_phases_2_and_3_from_the_same_phase1_model():
    """``align.dropout`` / ``finetune.dropout`` set every dropout of the models that phase trains, and
    nothing of phase 1: PAD's dropout sweep starts from the one (tuned) SASRec."""
    config = load()
    config["variants"]["pad-d3"] = {"method": "pad", "align": {"dropout": 0.3}, "finetune": {"dropout": 0.3}}
    config["run"]["variants"] = ["sasrec", "pad", "pad-d3"]
    plan = Plan.from_config(validate_config(config, REPO / "schemas" / "config.schema.yaml"))
    assert sorted(plan.pretrains) == ["id"]
    assert plan.variants["pad-d3"].align_tag == "pad-d3"
    for rule in ("align", "finetune"):
        model = plan.stage_params(rule, "sasrec", "pad-d3")["model"]
        assert (model["projection_dropout"], model["fusion_dropout"], model["backbone"]["dropout"]) == (0.3, 0.3, 0.3)
        default = plan.stage_params(rule, "sasrec", "pad")["model"]
        assert default["backbone"]["dropout"] == config["backbones"]["sasrec"]["dropout"]
    assert plan.stage_params("pretrain", "sasrec", "id")["model"]["backbone"]["dropout"] == 0.1
