"""What a failed, forced or foreign run leaves behind: no output outlives the run that should have
replaced it (a job's output manifests go when it starts, since Snakemake removes a failed job's
outputs but not their manifests; a model's evaluation goes when the model is retrained), and a
crafted resume file is ignored without being run."""

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


def test_a_crafted_resume_file_is_ignored_without_the_advice_to_unpickle_it(tmp_path, caplog):
    """A resume file holding code is not run and not trusted; the warning names the object, not
    PyTorch's advice to retry with ``weights_only=False`` (the one thing that would run it)."""
    import os
    import shlex

    import torch

    from padlib.training.resume import Resume

    marker = tmp_path / "touched"

    class Touch:
        def __reduce__(self):
            return os.system, (f"touch {shlex.quote(str(marker))}",)

    resume = Resume(tmp_path / "model.pt.resume", "fingerprint")
    torch.save({"fingerprint": "fingerprint", "model": Touch()}, resume.path)
    with caplog.at_level("WARNING"):
        assert resume.load() is None
    assert not marker.exists() and not resume.path.exists()
    assert "ignoring unreadable resume file" in caplog.text and "posix.system" in caplog.text
    assert "weights_only" not in caplog.text
