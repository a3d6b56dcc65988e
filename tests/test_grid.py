"""The paper's grid (configs/grid-ml-1m.yaml) run for real on a tiny synthetic dataset:
every variant and backbone, one seed, one epoch, tiny random encoders (LLM and PLM)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
import yaml

from synthetic import write_synthetic
from tiny_models import make_tiny_bert, make_tiny_llama

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.workflow


@pytest.fixture(scope="module")
def grid_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("grid")
    interactions, items = write_synthetic(root, n_users=40)
    encoders = {"smollm2": "tinyllama", "minilm": "tinybert"}
    grid = yaml.safe_load((REPO / "configs" / "grid-ml-1m.yaml").read_text())
    for block in grid["run"]["experiments"]:
        block["encoders"] = [encoders[e] for e in block["encoders"]]
    for section in grid["report"]["tables"] + grid["report"]["figures"]:
        section["encoders"] = [encoders[e] for e in section["encoders"]]
    grid["run"].update(datasets=["tiny"], encoders=["tinyllama"], seeds=[0])
    grid["sources"] = {"tiny": {"kind": "table", "interactions": str(interactions), "items": str(items)}}
    template = "{title}. Genre: {genre}"
    grid["encoders"] = {
        "tinyllama": {"kind": "llm2vec", "model": {"path": str(make_tiny_llama(root / "llama"))}, "template": template},
        "tinybert": {"kind": "sentence", "model": {"path": str(make_tiny_bert(root / "bert"))}, "template": template},
    }
    grid.update(
        device="cpu",
        protocol={"min_rating": 4, "min_user_interactions": 5, "max_sequence_length": 10, "max_input_length": 6,
                  "n_buckets": 10},
        backbones={"sasrec": {"blocks": 1, "heads": 2, "ffn_dim": 32}, "gru4rec": {"layers": 1},
                   "caser": {"window": 3, "n_h": 4, "n_v": 2}},
        model={"dim": 16, "projection_layers": 1},
        train={"batch_size": 16, "lr": 0.005, "weight_decay": 0.1, "max_epochs": 1, "patience": 1,
               "eval_batch_size": 64},
        ctrl={"align_epochs": 1, "align_batch_size": 16, "temperature": 0.1},
    )
    (root / "config.yaml").write_text((REPO / "config.yaml").read_text())
    (root / "grid.yaml").write_text(yaml.safe_dump(grid))
    cmd = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "--directory", str(root),
           "--configfile", str(root / "grid.yaml"), "--cores", "2"]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=root)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-6000:]
    html = subprocess.run(cmd + ["--report", str(root / "report.html")], capture_output=True, text=True, cwd=root)
    assert html.returncode == 0, html.stdout[-4000:] + html.stderr[-6000:]
    return root, grid


def test_every_grid_model_is_in_the_report(grid_run):
    root, grid = grid_run
    rows = pl.read_csv(root / "results/tiny/report.csv")
    labels = rows["model"].to_list()
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
    for column in ("HR@10", "nDCG@10"):
        assert rows[column].is_between(0.0, 1.0).all()
    reference = dict(zip(rows["model"], rows["reference"]))
    assert reference["PAD (full softmax) (tinyllama, SASRec)"] == "sasrec-ce"
    assert reference["PAD (tinyllama, Caser)"] == reference["Caser"] == "sasrec"


def test_ablations_share_one_alignment_and_anchorings_do_not(grid_run):
    root, _ = grid_run
    aligned = sorted(p.parent.name for p in (root / "results/tiny/sasrec/seed0/tinyllama/align").glob("*/model.pt"))
    assert aligned == ["pad", "pad-ce", "pad-cosine", "pad-frozen", "pad-infonce", "pad-laplacian", "pad-linear",
                       "pad-nonanchored", "smem"]


def test_full_softmax_variants_get_their_own_phase_1_model(grid_run):
    import torch

    root, _ = grid_run
    seed_dir = root / "results/tiny/sasrec/seed0"
    assert sorted(p.parent.name for p in seed_dir.glob("*/model.pt")) == ["id", "id-loss-softmax"]
    softmax = torch.load(seed_dir / "tinyllama/pad-ce/model.pt", weights_only=True)
    assert softmax["fit"]["history"][1]["loss"] > 1.0   # a catalogue-wide cross-entropy, not a 2-way BCE
    manifest = (seed_dir / "tinyllama/align/pad-ce/model.pt.manifest.json").read_text()
    assert '"loss": "softmax"' in manifest and "id-loss-softmax/model.pt" in manifest


def test_report_has_the_paper_tables_figures_and_wall_times(grid_run):
    root, grid = grid_run
    report = (root / "results/tiny/report.md").read_text()
    for table in grid["report"]["tables"]:
        assert f"## {table['title']}" in report
    assert "Δ nDCG@10" in report and "relative improvement over the ID-only model (`sasrec`) of the same backbone" in report
    assert report.count("- Paired test, ") >= 4   # Table 2, three Table-3 backbones, softmax
    assert "Paired test, PAD (tinyllama, SASRec) vs the best baseline" in report
    for figure in grid["report"]["figures"]:
        png = root / f"results/tiny/figures/{figure['name']}.png"
        assert png.read_bytes()[:4] == b"\x89PNG"
        assert f"(figures/{figure['name']}.png)" in report and figure["caption"] in report
    assert "Kendall's τ, pretrained vs aligned ID space" in report
    assert "## Every run's wall time" in report and "distinct stage runs" in report
    html = (root / "report.html").read_text(errors="replace")
    assert "fig5b-ablations" in html


def test_kendall_tau_compares_every_alignment_with_the_pretrained_ids(grid_run):
    import json

    root, _ = grid_run
    out = root / "results/tiny/sasrec/seed0/tinyllama"
    result = json.loads((out / "kendall.json").read_text())
    assert {"PAD", "PAD (non-anchored)", "PAD (rec-anchored, ID frozen)", "SMEM"} <= set(result["tau"])
    assert result["pairs"] > 0
    frozen = [v["tau"] for v in result["tau"]["PAD (rec-anchored, ID frozen)"].values() if v["tau"] is not None]
    assert frozen and all(t == pytest.approx(1.0) for t in frozen)   # a frozen ID table keeps every distance
    for buckets in result["tau"].values():
        assert all(v["tau"] is None or -1.0 <= v["tau"] <= 1.0 for v in buckets.values())
    assert (out / "kendall.png").read_bytes()[:4] == b"\x89PNG"
