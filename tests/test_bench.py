"""The benchmark script runs end to end on a tiny processed dataset (speed is not asserted)."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from padlib.data.protocol import ProtocolConfig, apply_protocol
from padlib.data.stage import write_dataset
from padlib.data.tables import read_interactions, read_items
from padlib.text.store import write_embeddings
from synthetic import write_synthetic

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


def test_bench_prints_every_figure_and_summarises_runs(tmp_path):
    interactions, items = write_synthetic(tmp_path, n_users=60)
    result = apply_protocol(read_interactions(interactions), read_items(items), ProtocolConfig())
    data = tmp_path / "data"
    data.mkdir()
    write_dataset(result, {n: str(data / f"{n}.parquet") for n in ("items", "sequences", "splits")})
    n_items = result.items.height
    embeddings = tmp_path / "text.parquet"
    write_embeddings(embeddings, np.arange(1, n_items + 1),
                     np.random.default_rng(0).normal(size=(n_items, 16)).astype(np.float32),
                     {"encoder": "random", "kind": "llm2vec", "dim": "16"})
    out = tmp_path / "bench.json"
    cmd = [sys.executable, str(ROOT / "benchmarks/bench.py"), "--dataset", f"tiny={data},{embeddings}",
           "--reference", "none",
           "--threads", "1", "--train-users", "32", "--text-dim", "16", "--embed-texts", "0",
           "--serve-items", "3000", "--serve-users", "2", "--serve-batch", "4", "--full", "--full-max-epochs", "1",
           "--json", str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    for figure in ("pretrain epoch", "align epoch", "finetune epoch", "morec epoch", "finetune validation pass",
                   "top-10, 1 user", "matmul peak", "full runs, tiny"):
        assert figure in proc.stdout
    current = json.loads(out.read_text())["current"]
    phases = current["datasets"]["tiny"]["phases"]
    assert set(phases) == {"pretrain", "align", "finetune", "morec"}
    assert all(p["train_s"] > 0 and p["valid_s"] > 0 for p in phases.values())
    assert current["machine"]["threads"] == 1
    assert set(current["full"]["tiny"]) == {"pretrain", "align", "finetune", "morec"}
    assert current["datasets"]["tiny"]["real_text"]
