"""Names that cannot leave results/, shareable artifacts, encoder directories checked at config time,
bad input or dropped rows reported on the console rather than only in a job log, and ``pad recommend``
naming the models it found when it cannot pick one."""

from __future__ import annotations

import copy
import gzip
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from padlib.config import validate_config
from padlib.data.drops import Dropped
from padlib.data.mind import read_mind
from padlib.data.stage import build_dataset, source_inputs
from padlib.errors import ConfigError
from padlib.io import manifest_path, read_json, write_text

REPO = Path(__file__).resolve().parents[1]
SCHEMA = REPO / "schemas" / "config.schema.yaml"
BASE = yaml.safe_load((REPO / "config.yaml").read_text())


def validate(config: dict) -> dict:
    return validate_config(config, SCHEMA)


# ---------------------------------------------------------------- names used in paths

@pytest.mark.parametrize("name", ["..", ".", "a/b", ".hidden", "a..b", "trailing."])
def test_dataset_names_that_are_not_path_safe_are_rejected(name):
    config = copy.deepcopy(BASE)
    config["sources"] = {name: {"kind": "movielens-100k"}}
    config["run"]["datasets"] = [name]
    with pytest.raises(ConfigError, match=rf"config key sources: name {name!r} is not allowed: names become file"):
        validate(config)
    config["sources"] = {"ml-100k": {"kind": "movielens-100k"}}
    with pytest.raises(ConfigError, match=rf"config key run.datasets.0: value {name!r} is not allowed"):
        validate(config)


@pytest.mark.parametrize("name", ["ml-1m", "a.b", "Prime_Pantry.v2"])
def test_path_safe_names_are_accepted(name):
    config = copy.deepcopy(BASE)
    config["sources"] = {name: {"kind": "movielens-100k"}}
    config["run"]["datasets"] = [name]
    config["encoders"][name] = config["encoders"].pop("smollm2")
    config["run"]["encoders"] = [name]
    config["variants"][name] = config["variants"].pop("pad")
    config["run"]["variants"] = ["sasrec", name]
    validate(config)


def test_encoder_and_variant_names_are_checked_too():
    config = copy.deepcopy(BASE)
    config["encoders"][".."] = config["encoders"]["smollm2"]
    with pytest.raises(ConfigError, match=r"config key encoders: name '\.\.' is not allowed"):
        validate(config)
    config = copy.deepcopy(BASE)
    config["variants"]["a/b"] = {"method": "pad"}
    with pytest.raises(ConfigError, match=r"config key variants: name 'a/b' is not allowed"):
        validate(config)
    config["variants"] = {**BASE["variants"], "align": {"method": "pad"}}
    with pytest.raises(ConfigError, match=r"config key variants: name 'align' is not allowed: 'align' and 'id'"):
        validate(config)


# ---------------------------------------------------------------- permissions

@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o002, 0o664)])
def test_artifacts_get_the_umask_mode(tmp_path, umask, mode):
    previous = os.umask(umask)
    try:
        write_text(tmp_path / "out" / "metrics.json", "{}\n")
    finally:
        os.umask(previous)
    assert stat.S_IMODE((tmp_path / "out" / "metrics.json").stat().st_mode) == mode
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["metrics.json"]


# ---------------------------------------------------------------- encoder directories

def encoder_config(model_dir: Path, adapters: list[Path], variants: list[str]) -> dict:
    config = copy.deepcopy(BASE)
    config["encoders"]["llama"] = {"kind": "llm2vec", "model": {"path": str(model_dir)},
                                   "adapters": [str(a) for a in adapters], "template": "{title}"}
    config["run"]["encoders"] = ["llama"]
    config["run"]["variants"] = variants
    return config


def test_encoder_directories_are_checked_when_the_config_is_read(tmp_path):
    model, adapter = tmp_path / "Llama-3-8B", tmp_path / "mntp"
    model.mkdir()
    adapter.mkdir()
    with pytest.raises(ConfigError, match=rf"config key encoders.llama.model.path: {model} has no config.json; "
                                          "expected a local Hugging Face model directory"):
        validate(encoder_config(model, [adapter], ["sasrec", "pad"]))
    (model / "config.json").write_text("{}")
    with pytest.raises(ConfigError, match=rf"config key encoders.llama.adapters.0: {adapter} has no adapter_config.json"):
        validate(encoder_config(model, [adapter], ["sasrec", "pad"]))
    with pytest.raises(ConfigError, match=rf"config key encoders.llama.adapters.1: {tmp_path / 'nope'} is not a dir"):
        (adapter / "adapter_config.json").write_text("{}")
        validate(encoder_config(model, [adapter, tmp_path / "nope"], ["sasrec", "pad"]))
    validate(encoder_config(model, [adapter], ["sasrec", "pad"]))


def test_encoders_the_run_does_not_use_are_not_checked(tmp_path):
    validate(encoder_config(tmp_path / "absent", [], ["sasrec"]))   # ID-only: no text encoder runs


# ---------------------------------------------------------------- errors on the console

JOB = """
import sys
from padlib.errors import DataError
from padlib.runtime import setup_job
setup_job(sys.argv[1], 1)
print("progress")
raise {error}
"""


def run_job(tmp_path: Path, error: str) -> tuple[subprocess.CompletedProcess, str]:
    log = tmp_path / "logs" / "job.log"
    proc = subprocess.run([sys.executable, "-c", JOB.format(error=error), str(log)], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(REPO)})
    return proc, log.read_text()


def test_a_data_error_is_one_line_on_the_console_and_in_the_log(tmp_path):
    proc, log = run_job(tmp_path, 'DataError("ratings.csv: row 3 column \'rating\': \'x\' is not a number\\nsee docs")')
    line = "DataError: ratings.csv: row 3 column 'rating': 'x' is not a number see docs"
    assert proc.returncode == 1
    assert proc.stderr == f"ERROR: {line}\n"
    assert line in log and "progress" in log and "Traceback" not in log


def test_other_errors_keep_their_traceback_in_the_log(tmp_path):
    proc, log = run_job(tmp_path, 'RuntimeError("a bug")')
    assert proc.returncode == 1 and proc.stderr == ""
    assert "Traceback (most recent call last)" in log and "RuntimeError: a bug" in log


# ---------------------------------------------------------------- dropped rows

def write_amazon(root: Path, untitled: int) -> tuple[Path, Path]:
    """Three users with six titled 5-star ratings each, plus ``untitled`` ratings on an item without a title."""
    rows = [f"B{i},A{u},5.0,{1000 * u + i}" for u in range(3) for i in range(6)]
    rows += [f"B9,A0,5.0,{9000 + k}" for k in range(untitled)]
    ratings = root / "Shop.csv"
    ratings.write_text("\n".join(rows) + "\n")
    meta = root / "meta_Shop.json.gz"
    meta.write_bytes(gzip.compress("\n".join(json.dumps({"asin": f"B{i}", "title": f"Item {i}" if i < 9 else ""})
                                             for i in (*range(6), 9)).encode()))
    return ratings, meta


def test_dropped_rows_are_in_the_data_manifest(tmp_path, caplog):
    ratings, meta = write_amazon(tmp_path, untitled=2)
    source = {"kind": "amazon", "ratings": str(ratings), "meta": str(meta)}
    outputs = {n: str(tmp_path / "out" / f"{n}.parquet") for n in ("items", "sequences", "splits")}
    protocol = {"min_rating": 4, "min_user_interactions": 5, "max_sequence_length": 23, "max_input_length": 20,
                "n_buckets": 2}
    with caplog.at_level("WARNING", logger="padlib"):
        build_dataset(source, protocol, source_inputs(source), outputs)
    expected = Dropped(file=str(ratings), what="ratings", reason=f"on 1 items without a title in {meta}",
                       rows=2, total=20)
    assert caplog.messages == [f"{ratings}: dropped 2 of 20 ratings on 1 items without a title in {meta}"]
    for path in outputs.values():
        assert read_json(manifest_path(path))["dropped"] == [expected.record()]


def test_mind_reports_its_repeated_clicks(tmp_path):
    behaviors = tmp_path / "behaviors.tsv"
    behaviors.write_text("1\tU1\t11/11/2019 9:05:58 AM\tN1 N2\tN2-1 N3-1 N4-0\n")
    news = tmp_path / "news.tsv"
    news.write_text("".join(f"N{i}\tnews\tsports\tTitle {i}\tAbstract\thttp://x\t[]\t[]\n" for i in range(1, 5)))
    dropped: list[Dropped] = []
    inter, _ = read_mind([behaviors], [news], dropped)
    assert inter["item"].to_list() == ["N1", "N2", "N3"]
    assert [(d.rows, d.total, d.what) for d in dropped] == [(1, 4, "history entries and clicks")]


@pytest.mark.workflow
@pytest.mark.slow  # a second real Snakemake run; the fast tier keeps one (tests/test_workflow.py)
def test_the_console_shows_bad_input_and_dropped_rows(tmp_path):
    """A real Snakemake run: one dataset drops rows, the other has a bad timestamp."""
    ratings, meta = write_amazon(tmp_path, untitled=2)
    (tmp_path / "inter.csv").write_text("user,item,timestamp\nu1,m1,2019-11-11\nu1,m2,yesterday\n")
    (tmp_path / "items.csv").write_text("item,title\nm1,One\nm2,Two\n")
    config = copy.deepcopy(BASE)
    config["sources"] = {"shop": {"kind": "amazon", "ratings": str(ratings), "meta": str(meta)},
                         "bad": {"kind": "table", "interactions": str(tmp_path / "inter.csv"),
                                 "items": str(tmp_path / "items.csv")}}
    config["run"].update(datasets=["shop", "bad"], variants=["sasrec"])
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    cmd = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "--directory", str(tmp_path),
           "--cores", "1", "--keep-going", "results/shop/data/items.parquet", "results/bad/data/items.parquet"]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path)
    console = proc.stdout + proc.stderr
    assert proc.returncode != 0
    message = (f"DataError: {tmp_path / 'inter.csv'}: row 2 column 'timestamp': 'yesterday' is neither a number "
               "(unix seconds) nor an ISO-8601 date")
    assert f"ERROR: {message}" in proc.stderr
    assert "Logfile logs/bad/data.log:" in proc.stderr   # profiles/default: show-failed-logs
    assert "Traceback" not in console
    assert f"WARNING: {ratings}: dropped 2 of 20 ratings on 1 items without a title in {meta}" in proc.stderr
    manifest = read_json(tmp_path / "results/shop/data/items.parquet.manifest.json")
    assert manifest["dropped"][0]["rows"] == 2
    assert not (tmp_path / "results/bad/data").exists()


# ---------------------------------------------------------------- pad recommend: which trained model

def test_recommend_without_a_trained_model_says_where_it_looked(tmp_path, capsys):
    from padlib.cli import main

    (tmp_path / "tiny/sasrec/seed0/llm/morec").mkdir(parents=True)
    (tmp_path / "tiny/sasrec/seed0/llm/morec/model.pt").touch()  # not a PAD model
    assert main(["recommend", "--dataset", "tiny", "--user", "u1", "--results", str(tmp_path)]) == 2
    pattern = tmp_path / "tiny/*/seed*/*/pad/model.pt"
    assert capsys.readouterr().err == f"pad: error: no trained PAD model matches {pattern}; run the workflow first\n"


def test_recommend_with_several_models_lists_them_and_the_options_that_choose(tmp_path, capsys):
    from padlib.cli import main
    from padlib.recommend import find_model

    models = [tmp_path / "tiny" / run / "pad/model.pt" for run in ("gru4rec/seed0/llm", "sasrec/seed0/llm",
                                                                  "sasrec/seed1/llm")]
    for path in models:
        path.parent.mkdir(parents=True)
        path.touch()
    args = ["recommend", "--dataset", "tiny", "--user", "u1", "--results", str(tmp_path)]
    for narrowing, listed in [([], models), (["--backbone", "sasrec"], models[1:])]:
        assert main([*args, *narrowing]) == 2
        lines = capsys.readouterr().err.splitlines()
        assert lines[0] == "pad: error: several PAD models match; choose with --backbone/--seed/--encoder:"
        assert [line.strip() for line in lines[1:]] == [str(p) for p in listed]
    assert find_model(tmp_path, "tiny", "sasrec", 1, None) == models[2]
    assert find_model(tmp_path, "tiny", "gru4rec", None, "llm") == models[0]
