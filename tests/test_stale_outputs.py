"""No output outlives the run that should have replaced it: a job's output manifests go when it
starts (Snakemake removes a failed job's outputs, not their manifests), and a model's evaluation
goes when the model is retrained (a diverged run leaves no metrics of the model it replaced)."""

from __future__ import annotations

import subprocess
import sys

import pytest
from synthetic import write_training_inputs

from padlib.errors import NumericalError
from padlib.io import manifest_path, write_json
from padlib.training import phases

PROTOCOL = {"min_rating": 4, "min_user_interactions": 5, "max_sequence_length": 10, "max_input_length": 6,
            "n_buckets": 10}


def test_a_job_removes_its_outputs_manifests_when_it_starts(tmp_path):
    outputs = [tmp_path / "align" / "model.pt", tmp_path / "metrics.json"]
    for out in outputs:
        write_json(manifest_path(out), {"sha256": "0" * 64})
    keep = manifest_path(tmp_path / "other.pt")
    write_json(keep, {"sha256": "0" * 64})
    code = ("import sys; from padlib.runtime import setup_job; "
            "setup_job(None, 1, sys.argv[1:])")
    subprocess.run([sys.executable, "-c", code, *map(str, outputs)], check=True)
    assert not any(manifest_path(out).exists() for out in outputs)
    assert keep.exists()


def test_a_diverged_retraining_leaves_no_metrics_of_the_replaced_model(tmp_path):
    write_training_inputs(tmp_path, PROTOCOL, n_users=60)
    run = tmp_path / "sasrec" / "seed0" / "id"
    stale = [run / "metrics.json", run / "test_ranks.parquet"]
    for path in stale:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("{}")
        write_json(manifest_path(path), {"sha256": "0" * 64})
    params = {"device": "cpu", "protocol": PROTOCOL,
              "model": {"dim": 16, "backbone": {"name": "sasrec", "blocks": 1, "heads": 2, "ffn_dim": 32}},
              "train": {"batch_size": 16, "lr": 1.0e6, "weight_decay": 0.1, "max_epochs": 3, "patience": 3,
                        "eval_batch_size": 64, "precision": "fp32"}}
    with pytest.raises(NumericalError):
        phases.pretrain(str(tmp_path), str(run / "model.pt"), params, seed=0)
    assert sorted(p.name for p in run.iterdir()) == []
