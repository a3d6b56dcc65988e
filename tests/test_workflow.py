"""The real workflow through Snakemake: lint, dry runs, a tiny end-to-end run, params reruns."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import polars as pl
import pytest
import yaml

from checks import assert_evaluations_reproduce_training, random_ranking_ndcg
from synthetic import write_tiny_workflow

from padlib.data.dataset import SequenceData
from padlib.cli import main as cli_main
from padlib.recommend import recommend

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.workflow


def snakemake(*args: str, workdir: Path, check: bool = True) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "--directory", str(workdir), *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=workdir)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout[-4000:]}\n{proc.stderr[-6000:]}")
    return proc


def planned_jobs(output: str) -> dict[str, int]:
    """The job-count table a dry run prints: {rule: count}."""
    counts = {}
    in_table = False
    for line in output.splitlines():
        if re.match(r"^job\s+count", line):
            in_table = True
            continue
        if in_table:
            match = re.match(r"^([A-Za-z_]\w*)\s+(\d+)$", line.strip())
            if match and match.group(1) != "total":
                counts[match.group(1)] = int(match.group(2))
            elif line.strip().startswith("total"):
                break
    return counts


@pytest.fixture(scope="module")
def tiny_project(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny")
    write_tiny_workflow(root)
    snakemake("--cores", "2", workdir=root)
    return root


def test_lint_is_clean():
    proc = subprocess.run([sys.executable, "-m", "snakemake", "--lint"], capture_output=True, text=True, cwd=REPO)
    assert "Congratulations" in proc.stdout + proc.stderr, proc.stdout + proc.stderr


def test_dry_run_of_the_embedded_default(tmp_path):
    (tmp_path / "config.yaml").write_text((REPO / "config.yaml").read_text())
    jobs = planned_jobs(snakemake("--cores", "2", "--dry-run", workdir=tmp_path).stdout)
    assert jobs == {"all": 1, "align": 1, "data": 1, "embed": 1, "gather_embeddings": 1, "evaluate_variant": 1,
                    "evaluate_id": 1,
                    "fetch_wheel": 2, "finetune": 1, "prepare_model": 1, "pretrain": 1, "report": 1}


def test_unknown_config_key_is_named(tmp_path):
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    config["align"]["gamm"] = 0.3
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    proc = snakemake("--cores", "1", "--dry-run", workdir=tmp_path, check=False)
    message = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "config key align: Additional properties are not allowed ('gamm' was unexpected)" in message


def test_wrong_type_is_named(tmp_path):
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    config["train"]["batch_size"] = "big"
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    proc = snakemake("--cores", "1", "--dry-run", workdir=tmp_path, check=False)
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0 and "ERROR: ConfigError: config key train.batch_size: 'big' is not of type 'integer'" in output
    assert "Traceback" not in output and 'File "' not in output  # one line, no traceback after it


def test_an_encoder_with_both_a_wheel_and_a_path_is_told_to_pick_one(tmp_path):
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    config["encoders"]["smollm2"]["model"] = {"wheel": "smollm2", "path": "/models/smollm2"}
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    proc = snakemake("--cores", "1", "--dry-run", workdir=tmp_path, check=False)
    assert proc.returncode != 0
    assert "config key encoders.smollm2.model: give exactly one of path, wheel (got path, wheel)" in proc.stdout + proc.stderr


def test_tiny_end_to_end_run_writes_the_report(tiny_project):
    report = (tiny_project / "results/tiny/report.md").read_text()
    assert "| SASRec |" in report and "| PAD |" in report
    rows = pl.read_csv(tiny_project / "results/tiny/report.csv")
    assert rows["model"].to_list() == ["SASRec", "PAD"]
    for value in rows["HR@10"].to_list() + rows["nDCG@10"].to_list() + rows["valid nDCG@10"].to_list():
        assert 0.0 <= value <= 1.0
    assert (tiny_project / "results/tiny/hr_by_group.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    metrics = json.loads((tiny_project / "results/tiny/sasrec/seed0/tinyllama/pad/metrics.json").read_text())
    assert metrics["test"]["overall"]["users"] == rows["users"][0]
    assert rows["valid nDCG@10"][1] == pytest.approx(metrics["valid"]["overall"]["ndcg@10"])
    assert "| model | seeds | valid nDCG@10 | HR@10 |" in report
    diagnostics = metrics["diagnostics"]
    assert sorted(diagnostics["experts"]) == ["aligned", "id", "text"] and "gate_prior" in diagnostics
    assert len(diagnostics["gate"]["learned"]["text"]) == 10
    assert "## Diagnostics of the gated mixtures (test)" in report and "| PAD | gate prior only |" in report
    assert (tiny_project / "results/tiny/gate_weights.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    for stage in ("data", "embed", "pretrain", "align", "finetune", "evaluate"):
        assert f"{stage} s" in rows.columns
    emb = pl.read_parquet(tiny_project / "results/tiny/embeddings/tinyllama.parquet")
    assert emb.height == pl.read_parquet(tiny_project / "results/tiny/data/items.parquet").height
    assert (tiny_project / "logs/tiny/sasrec/seed0/tinyllama/align/pad.log").stat().st_size > 0
    manifest = json.loads((tiny_project / "results/tiny/sasrec/seed0/tinyllama/align/pad/model.pt.manifest.json").read_text())
    align = manifest["config"]["align"]   # the options the code filled in are recorded, not only the config's
    assert align["gamma"] == 0.2 and align["text_vectors"] == "forward" and align["multi_kernel"] == "sum"


def test_pad_beats_a_random_ranker_and_recommends_the_users_genre(tiny_project):
    """The synthetic users each prefer one of three genres, which the item text names: PAD, which reads
    the text, ranks better than a uniformly random ranking of each user's candidates on validation and
    test, and its top 10 (``pad recommend``) lean to the user's genre. (The ID-only SASRec barely moves in
    the 3 epochs this run trains, so it is held to no such floor.)"""
    results = tiny_project / "results"
    pad = pl.read_csv(results / "tiny/report.csv").filter(pl.col("model") == "PAD").row(0, named=True)
    data = SequenceData.load(results / "tiny/data", n_buckets=10, max_input_length=6)
    assert pad["nDCG@10"] > 1.1 * random_ranking_ndcg(data.test, data.n_items)
    assert pad["valid nDCG@10"] > 1.4 * random_ranking_ndcg(data.valid, data.n_items)
    items = pl.read_parquet(results / "tiny/data/items.parquet")
    genre = dict(zip(items["item_idx"].to_list(), items["genre"].to_list()))
    genre_of_title = dict(zip(items["title"].to_list(), items["genre"].to_list()))
    sequences = pl.read_parquet(results / "tiny/data/sequences.parquet")
    shares, random_shares = [], []
    for user, sequence in zip(sequences["user_id"].to_list(), sequences["items"].to_list()):
        favourite = Counter(genre[i] for i in sequence).most_common(1)[0][0]
        top = recommend(results, "tiny", user, k=10).items
        shares.append(sum(genre_of_title[title] == favourite for title in top) / len(top))
        candidates = set(genre) - set(sequence[-6:])  # what recommend ranks: all but the input window
        random_shares.append(sum(genre[i] == favourite for i in candidates) / len(candidates))
    assert sum(shares) > 1.3 * sum(random_shares)


def test_every_evaluation_scores_the_checkpoint_its_training_kept(tiny_project):
    assert assert_evaluations_reproduce_training(tiny_project) == 2


def test_embedding_was_sharded_and_a_lost_shard_alone_is_redone(tiny_project, tmp_path):
    parts = sorted((tiny_project / "results/tiny/embeddings/tinyllama.parts").glob("*.parquet"))
    assert [p.name for p in parts] == ["part0-of2.parquet", "part1-of2.parquet"]
    sizes = [pl.read_parquet(p).height for p in parts]
    assert sum(sizes) == pl.read_parquet(tiny_project / "results/tiny/embeddings/tinyllama.parquet").height
    # an interrupted run: shard 0 finished, shard 1 and the gather did not
    gathered = tiny_project / "results/tiny/embeddings/tinyllama.parquet"
    moved = [(parts[1], tmp_path / "part1.parquet"), (gathered, tmp_path / "gathered.parquet")]
    for src, dst in moved:
        src.rename(dst)
    try:
        target = "results/tiny/embeddings/tinyllama.parquet"
        jobs = planned_jobs(snakemake("--cores", "1", "--dry-run", target, workdir=tiny_project).stdout)
        assert jobs == {"embed": 1, "gather_embeddings": 1}
    finally:
        for src, dst in moved:
            dst.rename(src)


def test_editing_align_gamma_reruns_only_its_dependants(tiny_project, tmp_path):
    config = yaml.safe_load((tiny_project / "config.yaml").read_text())
    config["align"]["gamma"] = 0.5
    edited = tmp_path / "edited.yaml"
    edited.write_text(yaml.safe_dump(config))
    out = snakemake("--cores", "1", "--dry-run", "--configfile", str(edited), workdir=tiny_project).stdout
    assert planned_jobs(out) == {"align": 1, "finetune": 1, "evaluate_variant": 1, "report": 1, "all": 1}


def set_device(config: dict) -> None:
    config["device"] = "auto"


def rename_label(config: dict) -> None:
    config["variants"]["pad"]["label"] = "PAD, renamed"


def change_lr(config: dict) -> None:
    config["train"]["lr"] = 0.01


@pytest.mark.parametrize(("edit", "reruns"), [
    (set_device, {}),
    (rename_label, {"report": 1, "all": 1}),
    (change_lr, {"pretrain": 1, "align": 1, "finetune": 1, "evaluate_id": 1, "evaluate_variant": 1, "report": 1,
                 "all": 1}),   # the control: a params change is detected
])
def test_runtime_settings_and_labels_rerun_no_stage(tiny_project, tmp_path, edit, reruns):
    """Switching the device retrains nothing; a new label redraws only the report that shows it."""
    config = yaml.safe_load((tiny_project / "config.yaml").read_text())
    edit(config)
    edited = tmp_path / "edited.yaml"
    edited.write_text(yaml.safe_dump(config))
    out = snakemake("--cores", "1", "--dry-run", "--configfile", str(edited), workdir=tiny_project).stdout
    assert planned_jobs(out) == reruns


def test_editing_encoder_bidirectional_reruns_embed_and_its_dependants(tiny_project, tmp_path):
    config = yaml.safe_load((tiny_project / "config.yaml").read_text())
    config["encoders"]["tinyllama"]["bidirectional"] = False
    edited = tmp_path / "edited.yaml"
    edited.write_text(yaml.safe_dump(config))
    out = snakemake("--cores", "1", "--dry-run", "--configfile", str(edited), workdir=tiny_project).stdout
    assert planned_jobs(out) == {"embed": 2, "gather_embeddings": 1, "align": 1, "finetune": 1,
                                 "evaluate_variant": 1, "report": 1, "all": 1}


def test_unchanged_config_has_nothing_to_do(tiny_project):
    out = snakemake("--cores", "1", "--dry-run", workdir=tiny_project).stdout
    assert planned_jobs(out) == {}


def test_recommend_command_prints_titles(tiny_project, capsys):
    user = pl.read_parquet(tiny_project / "results/tiny/data/sequences.parquet")["user_id"][0]
    code, out, err = pad(capsys, "recommend", "--dataset", "tiny", "--user", user, "-k", "5",
                         "--results", str(tiny_project / "results"))
    assert code == 0, err
    lines = out.splitlines()
    assert sum(1 for line in lines if re.match(r"^\s+\d+\. the \w+ film number \d+", line)) == 5
    code, _, err = pad(capsys, "recommend", "--dataset", "tiny", "--user", "nobody",
                       "--results", str(tiny_project / "results"))
    assert code == 2 and "'nobody' is not in" in err


def pad(capsys, *args: str) -> tuple[int, str, str]:
    """``pad ARGS`` in this process (the CLI's own main, without a second interpreter's start-up;
    the console script itself runs in tests/test_readme_commands.py): its exit code, stdout and stderr."""
    code = cli_main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("k", ["0", "-1", "100000"])
def test_recommend_refuses_k_outside_the_rankable_items(tiny_project, capsys, k):
    """-k must lie in 1..(catalogue less the user's history): no traceback, no empty list, no padding
    row or masked item printed at -inf."""
    user = pl.read_parquet(tiny_project / "results/tiny/data/sequences.parquet")["user_id"][0]
    code, out, err = pad(capsys, "recommend", "--dataset", "tiny", "--user", user, "-k", k,
                         "--results", str(tiny_project / "results"))
    assert code == 2 and f"-k {k}: expected 1 ≤ k ≤ " in err
    assert "Traceback" not in err and out == ""


def test_evidence_command_copies_the_small_files_a_claim_rests_on(tiny_project, tmp_path, capsys):
    """``pad evidence``: every run's metrics and test ranks, each checkpoint's manifest and its
    training history (as JSON), in the results layout; no model or data file."""
    dest = tmp_path / "evidence"
    code, _, err = pad(capsys, "evidence", "--dataset", "tiny", "--dest", str(dest),
                       "--results", str(tiny_project / "results"))
    assert code == 0, err
    files = {p.relative_to(dest).as_posix() for p in dest.rglob("*") if p.is_file()}
    run = "sasrec/seed0/tinyllama/pad"
    assert {f"{run}/metrics.json", f"{run}/test_ranks.parquet", "sasrec/seed0/id/model.pt.fit.json",
            "sasrec/seed0/id/model.pt.manifest.json"} <= files
    assert not any(f.endswith((".pt", ".parquet")) and "test_ranks" not in f for f in files)
    fit = json.loads((dest / "sasrec/seed0/id/model.pt.fit.json").read_text())
    assert fit["best_epoch"] == max(range(len(fit["history"])),
                                    key=lambda e: (fit["history"][e]["valid_ndcg"], -e))
    assert (dest / f"{run}/metrics.json").read_bytes() == (tiny_project / "results/tiny" / run / "metrics.json").read_bytes()
    code, _, err = pad(capsys, "evidence", "--dataset", "nothing", "--dest", str(tmp_path / "none"),
                       "--results", str(tiny_project / "results"))
    assert code == 2 and "no results for dataset 'nothing'" in err
    assert not (tmp_path / "none").exists()


def test_recommend_with_every_rankable_item_prints_no_padding_or_masked_row(tiny_project, capsys):
    user = pl.read_parquet(tiny_project / "results/tiny/data/sequences.parquet")["user_id"][0]
    args = ["recommend", "--dataset", "tiny", "--user", user, "--results", str(tiny_project / "results")]
    _, _, refused = pad(capsys, *args, "-k", "100000")
    rankable = int(re.search(r"≤ k ≤ (\d+)", refused).group(1))
    code, out, err = pad(capsys, *args, "-k", str(rankable))
    assert code == 0, err
    rows = [line for line in out.splitlines() if re.match(r"^\s+\d+\. ", line)]
    assert len(rows) == rankable and not any("inf)" in line for line in rows)


def test_a_nested_command_line_config_edit_is_typed_and_reruns_only_phase_2_on(tiny_project):
    """``--config align='{gamma: 0.5, ...}'``: Snakemake hands the nested values over as strings; the
    schema types them, so the edit plans exactly what depends on phase 2, as a --configfile does."""
    align = yaml.safe_load((tiny_project / "config.yaml").read_text())["align"]
    edit = "{" + ", ".join(f"{k}: {v}" for k, v in {**align, "gamma": 0.5}.items() if not isinstance(v, dict)) + "}"
    out = snakemake("--cores", "1", "--dry-run", "--config", f"align={edit}", workdir=tiny_project).stdout
    assert planned_jobs(out) == {"align": 1, "finetune": 1, "evaluate_variant": 1, "report": 1, "all": 1}
