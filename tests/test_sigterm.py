"""SIGTERM, as SLURM sends it to a preempted, cancelled or timed-out job, stops a job cleanly: a resume
file being written is finished first, and the last finished epoch's file is what a rerun finds."""

from __future__ import annotations

import signal

import pytest
import torch
from synthetic import write_training_inputs

from padlib.data.dataset import load_data
from padlib.models.build import ModelConfig, id_expert
from padlib.models.recommender import SingleExpert
from padlib.runtime import Terminated, exit_on_sigterm, sigterm_deferred
from padlib.seed import set_seed
from padlib.training import resume as resume_module
from padlib.training.loop import TrainConfig, fit
from padlib.training.resume import Resume

PROTOCOL = {"min_rating": 4, "min_user_interactions": 5, "max_sequence_length": 10, "max_input_length": 6,
            "n_buckets": 10}
MODEL = {"dim": 16, "backbone": {"name": "sasrec", "blocks": 1, "heads": 2, "ffn_dim": 32, "dropout": 0.1},
         "projection_layers": 1}


@pytest.fixture
def sigterm_exits():
    """This process under a job's SIGTERM handling, restored afterwards."""
    previous = signal.getsignal(signal.SIGTERM)
    exit_on_sigterm()
    yield
    signal.signal(signal.SIGTERM, previous)


def test_a_sigterm_inside_the_deferred_block_is_delivered_after_it(sigterm_exits):
    done = []
    with pytest.raises(Terminated) as stopped:
        with sigterm_deferred():
            signal.raise_signal(signal.SIGTERM)
            done.append("the rest of the block")
    assert done == ["the rest of the block"] and stopped.value.code == 128 + signal.SIGTERM
    assert signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL   # the job's handler is back


def test_a_sigterm_while_the_resume_file_is_written_lets_it_finish(sigterm_exits, tmp_path, monkeypatch):
    torch_save = torch.save

    def save_while_terminated(obj, path):
        signal.raise_signal(signal.SIGTERM)   # SLURM's SIGTERM arrives mid-write
        torch_save(obj, path)

    monkeypatch.setattr(resume_module.torch, "save", save_while_terminated)
    resume = Resume(tmp_path / "model.pt.resume", "fp")
    with pytest.raises(Terminated):
        resume.save({"history": [{"epoch": 2}]})
    monkeypatch.undo()
    assert resume.load()["history"] == [{"epoch": 2}]
    assert [p.name for p in tmp_path.iterdir()] == ["model.pt.resume"]   # no temporary file left


class TermAt:
    """An extra loss of zero that sends this process SIGTERM at one step: a preemption mid-epoch."""

    def __init__(self, step: int) -> None:
        self.step, self.calls = step, 0

    def __call__(self, model, batch) -> torch.Tensor:
        self.calls += 1
        if self.calls == self.step:
            signal.raise_signal(signal.SIGTERM)
        return torch.zeros(())


def test_a_sigterm_mid_epoch_stops_fit_and_keeps_the_last_finished_epoch(sigterm_exits, tmp_path):
    write_training_inputs(tmp_path, PROTOCOL, n_users=40)
    data = load_data(tmp_path, PROTOCOL)
    set_seed(0)
    model = SingleExpert(id_expert(data.n_items, ModelConfig.from_dict(MODEL), data.max_input_length))
    cfg = TrainConfig(batch_size=16, lr=0.005, max_epochs=4, patience=4, eval_batch_size=64, precision="fp32")
    resume = Resume(tmp_path / "model.pt.resume", "fp")
    steps_per_epoch = -(-data.train_input.shape[0] // 16)
    with pytest.raises(Terminated):
        fit(model, data, cfg, 0, torch.device("cpu"), extra_loss=TermAt(2 * steps_per_epoch + 1), resume=resume)
    assert resume.load()["history"][-1]["epoch"] == 2
    assert not list(tmp_path.glob(".*.tmp"))
