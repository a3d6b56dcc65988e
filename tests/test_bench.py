"""The benchmark (``python -m benchmarks``) runs end to end on a tiny processed dataset, for the
current tree and for the reference commit's own code (speed is not asserted), and a tree whose
``fit`` records no epoch seconds is timed between its validation passes."""

import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

from padlib.config import validate_config
from padlib.data.protocol import ProtocolConfig, apply_protocol
from padlib.data.stage import write_dataset
from padlib.data.tables import read_interactions, read_items
from padlib.plan import Plan
from padlib.text.store import write_embeddings
from padlib.training import loop
from padlib.training.loop import FitResult
from padlib.training.phases import pretrain
from synthetic import write_synthetic

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # benchmarks/ is the repository's package, not the installed padlib's

from benchmarks import training  # noqa: E402

REFERENCE = "b12c064"


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> str:
    """``--dataset`` of a processed 60-user dataset with 16-dim text vectors."""
    root = tmp_path_factory.mktemp("bench")
    interactions, items = write_synthetic(root, n_users=60)
    result = apply_protocol(read_interactions(interactions), read_items(items), ProtocolConfig())
    data = root / "data"
    data.mkdir()
    write_dataset(result, {n: str(data / f"{n}.parquet") for n in ("items", "sequences", "splits")})
    n_items = result.items.height
    embeddings = root / "text.parquet"
    write_embeddings(embeddings, np.arange(1, n_items + 1),
                     np.random.default_rng(0).normal(size=(n_items, 16)).astype(np.float32),
                     {"encoder": "random", "kind": "llm2vec", "dim": "16"})
    return f"tiny={data},{embeddings}"


def bench(*args: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "benchmarks", "--threads", "1", "--train-users", "32", "--text-dim", "16",
           "--embed-texts", "0", *args]
    return subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)


@pytest.mark.slow
def test_bench_prints_every_figure_and_summarises_runs(tiny, tmp_path):
    data = Path(tiny.split("=")[1].split(",")[0])
    config = validate_config(yaml.safe_load((ROOT / "config.yaml").read_text()), ROOT / "schemas/config.schema.yaml")
    params = Plan.from_config(config).stage_params("pretrain", "sasrec", "id")
    run = data.parent / "sasrec/seed0/id/model.pt"  # a workflow's run beside the data
    pretrain(str(data), str(run), {**params, "train": {**params["train"], "max_epochs": 1}}, 0, device="cpu")
    out = tmp_path / "bench.json"
    proc = bench("--dataset", tiny, "--reference", "none", "--serve-items", "3000", "--serve-users", "2",
                 "--serve-batch", "4", "--serve-add", "300", "--full", "--full-max-epochs", "1", "--json", str(out))
    assert proc.returncode == 0, proc.stderr[-3000:]
    for figure in ("pretrain epoch", "align epoch", "finetune epoch", "morec epoch", "finetune validation pass",
                   "top-10, 1 user", "matmul peak", "full runs, tiny", "command: python -m benchmarks",
                   "adding 300 new items", "after adding 300 new items"):
        assert figure in proc.stdout
    assert "the workflow's runs under" in proc.stdout and "| sasrec/seed0/id | " in proc.stdout
    current = json.loads(out.read_text())["current"]
    phases = current["datasets"]["tiny"]["phases"]
    assert set(phases) == {"pretrain", "align", "finetune", "morec"}
    assert all(p["train_s"] > 0 and p["valid_s"] > 0 for p in phases.values())
    assert current["machine"]["threads"] == 1
    assert set(current["full"]["tiny"]) == {"pretrain", "align", "finetune", "morec"}
    assert current["datasets"]["tiny"]["real_text"]
    serving = current["serving"]
    assert serving["added"] == 300 and serving["add_in_place_s"] > 0 and serving["add_copy_s"] > 0


@pytest.mark.slow
def test_the_reference_commit_trains_with_its_own_code_and_config(tiny, tmp_path):
    if subprocess.run(["git", "-C", str(ROOT), "cat-file", "-e", f"{REFERENCE}^{{commit}}"]).returncode:
        pytest.skip(f"{REFERENCE} is not in this clone")
    out = tmp_path / "bench.json"
    proc = bench("--dataset", tiny, "--reference", REFERENCE, "--phases", "pretrain", "align",
                 "--serve-items", "0", "--json", str(out))
    assert proc.returncode == 0, proc.stderr[-3000:]
    figures = json.loads(out.read_text())
    reference = figures["reference"]["datasets"]["tiny"]["phases"]
    assert {p["batch_size"] for p in reference.values()} == {16}  # b12c064's config; this tree's is 128
    assert all(p["train_s"] > 0 for p in reference.values())
    assert "| align epoch | tiny | " in proc.stdout and "(b16, fp32, bce) | " in proc.stdout


def test_a_fit_without_epoch_seconds_is_timed_between_its_validation_passes(monkeypatch):
    def old_fit(model, data, cfg, seed, device, extra_loss=None) -> FitResult:
        """b12c064's shape: validate, train an epoch, validate; the history holds no seconds."""
        loop.validation_ndcg(model, None, data, cfg, device)
        time.sleep(0.1)
        loop.validation_ndcg(model, None, data, cfg, device)
        return FitResult(0, 0.0, 1, 0.0, [{"epoch": 0}, {"epoch": 1}])

    monkeypatch.setattr(loop, "validation_ndcg", lambda *args: time.sleep(0.5) or 0.0)
    monkeypatch.setattr(loop, "fit", old_fit)
    seconds = training.epoch_seconds(None, None, None, None, None)
    assert 0.1 <= seconds < 0.5  # the epoch, neither validation pass
    monkeypatch.setattr(loop, "fit", lambda *args, **kwargs: FitResult(0, 0.0, 1, 0.0, [{}, {"train_s": 1.5}]))
    assert training.epoch_seconds(None, None, None, None, None) == 1.5
