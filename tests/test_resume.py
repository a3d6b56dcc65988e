"""A diverged run stops loudly and writes nothing; a killed run resumes where it stopped and ends
exactly where an uninterrupted run ends."""

import json
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from synthetic import write_training_inputs

from padlib.data.dataset import load_data
from padlib.errors import NumericalError
from padlib.io import manifest_path, write_json
from padlib.models.build import ModelConfig, id_expert
from padlib.models.checkpoint import load_checkpoint
from padlib.models.recommender import SingleExpert
from padlib.seed import set_seed
from padlib.training import phases
from padlib.training.loop import TrainConfig, fit
from padlib.training.resume import Resume, resume_path

PROTOCOL = {"min_rating": 4, "min_user_interactions": 5, "max_sequence_length": 10, "max_input_length": 6,
            "n_buckets": 10}
MODEL = {"dim": 16, "backbone": {"name": "sasrec", "blocks": 1, "heads": 2, "ffn_dim": 32, "dropout": 0.1},
         "projection_layers": 1}


def params(**train):
    return {"device": "cpu", "protocol": PROTOCOL, "model": MODEL,
            "train": {"batch_size": 16, "lr": 0.005, "weight_decay": 0.1, "max_epochs": 6, "patience": 6,
                      "eval_batch_size": 64, "precision": "fp32", **train}}


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    root = tmp_path_factory.mktemp("resume")
    write_training_inputs(root, PROTOCOL, n_users=80)
    return root


def test_a_diverged_run_stops_naming_phase_epoch_and_step_and_writes_nothing(root, tmp_path):
    out = tmp_path / "model.pt"
    with pytest.raises(NumericalError, match=r"pretrain: non-finite (loss|gradient norm) .* at epoch 1, step \d+ of"):
        phases.pretrain(str(root), str(out), params(lr=1.0e6), seed=0)
    assert sorted(p.name for p in tmp_path.iterdir()) == []


class CrashAt:
    """An extra loss of zero that raises at one step: a job dying mid-epoch, in-process."""

    def __init__(self, step: int | None) -> None:
        self.step, self.calls = step, 0

    def __call__(self, model, batch) -> torch.Tensor:
        self.calls += 1
        if self.calls == self.step:
            raise KeyboardInterrupt
        return torch.zeros(())


def run(data, resume, steps: CrashAt):
    """A 4-epoch fit whose every training step calls ``steps`` (which counts them, and may crash)."""
    set_seed(0)
    model = SingleExpert(id_expert(data.n_items, ModelConfig.from_dict(MODEL), data.max_input_length))
    cfg = TrainConfig(batch_size=16, lr=0.005, max_epochs=4, patience=4, eval_batch_size=64, precision="fp32")
    result = fit(model, data, cfg, 0, torch.device("cpu"), extra_loss=steps, resume=resume)
    return model, result


def test_a_crashed_fit_resumes_and_matches_an_uninterrupted_one(root, tmp_path, caplog):
    """Training is deterministic from the seed, so matching the uninterrupted run alone would also pass
    if the resume file were ignored: the rerun must also train only the two epochs left, and say so."""
    data = load_data(root, PROTOCOL)
    plain_model, plain = run(data, None, CrashAt(None))
    resume = Resume(tmp_path / "m.pt.resume", "fp")
    steps_per_epoch = -(-data.train_input.shape[0] // 16)
    with pytest.raises(KeyboardInterrupt):
        run(data, resume, CrashAt(2 * steps_per_epoch + 2))  # dies inside epoch 3
    assert resume.load()["history"][-1]["epoch"] == 2
    rerun_steps = CrashAt(None)
    with caplog.at_level(logging.INFO, logger="padlib.training.loop"):
        model, result = run(data, resume, rerun_steps)
    assert f"train: resuming after epoch 2 of 4 ({resume.path})" in caplog.messages
    assert rerun_steps.calls == 2 * steps_per_epoch  # epochs 3 and 4 only
    assert [h["loss"] for h in result.history] == [h["loss"] for h in plain.history]
    assert (result.best_epoch, result.best_valid_ndcg) == (plain.best_epoch, plain.best_valid_ndcg)
    for name, value in plain_model.state_dict().items():
        assert torch.equal(model.state_dict()[name], value), name


def test_a_resume_file_of_other_params_is_ignored(root, tmp_path):
    out = tmp_path / "model.pt"
    first = Resume.for_run(out, params(), 0, [])
    first.save({"history": [{"epoch": 4}]})
    assert Resume.for_run(out, params(), 0, []).load() is not None
    assert Resume.for_run(out, params(lr=0.01), 0, []).load() is None
    assert not first.path.exists()


def test_success_removes_the_resume_file_and_a_stale_manifest_is_removed_at_start(root, tmp_path):
    out = tmp_path / "model.pt"
    write_json(manifest_path(out), {"stale": True})  # left by a killed job whose model Snakemake removed
    resume_path(out).write_bytes(b"not a checkpoint")
    Resume.for_run(out, params(), 0, [])
    assert not manifest_path(out).exists()
    phases.pretrain(str(root), str(out), params(max_epochs=2, patience=2), seed=0)
    assert out.exists() and manifest_path(out).exists() and not resume_path(out).exists()


STAGE = """
import json, logging, sys, torch
logging.basicConfig(level=logging.INFO)
torch.set_num_threads(1)
from padlib.training import phases
phases.pretrain(sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), seed=0)
"""


def stage(root, out, cfg):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path.cwd()), os.environ.get("PYTHONPATH", "")])}
    return subprocess.Popen([sys.executable, "-c", STAGE, str(root), str(out), json.dumps(cfg)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


@pytest.mark.slow
def test_sigkill_then_rerun_ends_like_an_uninterrupted_run(root, tmp_path):
    cfg = params(max_epochs=40, patience=40)
    plain = tmp_path / "plain.pt"
    assert stage(root, plain, cfg).wait(timeout=300) == 0

    killed = tmp_path / "killed.pt"
    job = stage(root, killed, cfg)
    deadline = time.monotonic() + 300
    while not resume_path(killed).exists() and job.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    time.sleep(0.3)
    job.send_signal(signal.SIGKILL)
    job.wait()
    assert job.returncode == -signal.SIGKILL, "the job ended before it could be killed"
    assert not killed.exists() and not manifest_path(killed).exists()
    done_epochs = torch.load(resume_path(killed), weights_only=True)["history"][-1]["epoch"]
    assert 1 <= done_epochs < 40

    rerun = stage(root, killed, cfg)
    log = rerun.communicate(timeout=300)[0]
    assert rerun.returncode == 0, log
    assert f"resuming after epoch {done_epochs} of 40" in log
    assert not resume_path(killed).exists()
    a, b = load_checkpoint(plain), load_checkpoint(killed)
    assert a["fit"]["best_valid_ndcg"] == b["fit"]["best_valid_ndcg"]
    assert [h["loss"] for h in a["fit"]["history"]] == [h["loss"] for h in b["fit"]["history"]]
    assert all(torch.equal(a["state_dict"][k], v) for k, v in b["state_dict"].items())
