"""Artifacts are verified before use and checkpoints cannot run code (issue 10, items 3 and 4).

Each test writes its artifacts with the production writers (data stage, embeddings store,
training.stage.save_run, the evaluate stage), damages or forges one, and reads it back through the
loader a stage uses.
"""

from __future__ import annotations

import json
import os
import pickle
import shlex
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from synthetic import write_synthetic

from padlib.data.dataset import SequenceData
from padlib.data.stage import build_dataset, source_inputs
from padlib.errors import DataError
from padlib.evaluation.stage import evaluate_checkpoint
from padlib.io import manifest_path, read_json, read_json_artifact, sha256_file, write_manifest
from padlib.models.build import ModelConfig, id_expert, rebuild
from padlib.models.checkpoint import load_checkpoint, save_checkpoint
from padlib.models.recommender import SingleExpert
from padlib.report.comparisons import user_scores
from padlib.seed import set_seed
from padlib.text.store import load_text, write_embeddings
from padlib.training.loop import FitResult
from padlib.training.stage import save_run

PROTOCOL = {"min_rating": 4, "min_user_interactions": 5, "max_sequence_length": 10, "max_input_length": 6,
            "n_buckets": 10}
MODEL = ModelConfig(dim=16, backbone={"name": "sasrec", "blocks": 1, "heads": 2, "ffn_dim": 32, "dropout": 0.1})
PARAMS = {"device": "cpu", "protocol": PROTOCOL, "model": {"dim": 16}, "evaluate": {"k": 10, "batch_size": 64}}


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> dict[str, Any]:
    """A data stage, an embeddings file, a phase-1 checkpoint and its evaluation, each with its manifest;
    also the model the checkpoint was saved from and the test histories to score it on."""
    root = tmp_path_factory.mktemp("integrity")
    interactions, items = write_synthetic(root, n_users=60)
    source = {"kind": "table", "interactions": str(interactions), "items": str(items)}
    data_dir = root / "data"
    outputs = {name: str(data_dir / f"{name}.parquet") for name in ("items", "sequences", "splits")}
    build_dataset(source, PROTOCOL, source_inputs(source), outputs)
    data = SequenceData.load(data_dir, PROTOCOL["n_buckets"], PROTOCOL["max_input_length"])
    embeddings = root / "embeddings.parquet"
    vectors = np.random.default_rng(0).normal(size=(data.n_items, 256)).astype(np.float32)
    write_embeddings(embeddings, np.arange(1, data.n_items + 1), vectors, {"encoder": "stand-in"})
    write_manifest(embeddings, config={}, inputs=[outputs["items"]])
    set_seed(0)
    model = SingleExpert(id_expert(data.n_items, MODEL, data.max_input_length))
    fit = FitResult(best_epoch=1, best_valid_ndcg=0.5, epochs_run=1, wall_time_s=0.1,
                    history=[{"epoch": 1, "loss": 0.7, "valid_ndcg": 0.5, "train_s": 0.1, "valid_s": 0.0}])
    checkpoint = root / "model.pt"
    save_run(str(checkpoint), model, "pretrain", data, MODEL, fit, {}, [], 0, torch.device("cpu"))
    metrics, ranks = root / "metrics.json", root / "test_ranks.parquet"
    evaluate_checkpoint(str(data_dir), str(checkpoint), None, str(metrics), str(ranks), PARAMS, "SASRec")
    return {"data": data_dir, "sequences": Path(outputs["sequences"]), "embeddings": embeddings,
            "checkpoint": checkpoint, "metrics": metrics, "ranks": ranks, "n_items": data.n_items,
            "model": model, "history": data.test.history}


def damaged_copy(run: dict, name: str, tmp_path: Path, damage: str, keep_manifest: bool = True) -> Path:
    """A copy of artifact ``name`` (with its manifest, unless not ``keep_manifest``), damaged in place."""
    original = Path(run[name])
    copy = tmp_path / original.name
    if name == "sequences":  # SequenceData.load reads the whole directory
        for path in run["data"].iterdir():
            (tmp_path / path.name).write_bytes(path.read_bytes())
    else:
        copy.write_bytes(original.read_bytes())
        manifest_path(copy).write_bytes(manifest_path(original).read_bytes())
    if not keep_manifest:
        manifest_path(copy).unlink()
    raw = bytearray(copy.read_bytes())
    if damage == "flip":
        middle = len(raw) // 2
        raw[middle:middle + 16] = bytes(b ^ 0xFF for b in raw[middle:middle + 16])
    else:
        del raw[len(raw) // 2:]
    copy.write_bytes(bytes(raw))
    return copy


def load(name: str, path: Path, n_items: int):
    """Read an artifact the way the stage that consumes it does."""
    if name == "embeddings":
        return load_text(path, n_items, "standardize")
    if name == "sequences":
        return SequenceData.load(path.parent, PROTOCOL["n_buckets"], PROTOCOL["max_input_length"])
    if name == "checkpoint":
        return load_checkpoint(path)
    if name == "ranks":
        return user_scores({0: str(path)}, 10)
    return read_json_artifact(path)


def assert_names_file_and_rerun(exc: pytest.ExceptionInfo, path: Path) -> None:
    message = str(exc.value)
    assert str(path) in message
    assert f"snakemake --forcerun {path}" in message


def test_every_manifest_records_its_artifacts_sha256(run):
    for name in ("sequences", "embeddings", "checkpoint", "metrics", "ranks"):
        record = read_json(manifest_path(run[name]))
        assert record["sha256"] == sha256_file(run[name]), name
        assert record["bytes"] == os.path.getsize(run[name]), name


def test_good_artifacts_round_trip(run):
    text = load("embeddings", run["embeddings"], run["n_items"])
    assert text.shape == (run["n_items"] + 1, 256)
    assert load("sequences", run["sequences"], run["n_items"]).n_items == run["n_items"]
    checkpoint = load_checkpoint(run["checkpoint"])
    model = rebuild(checkpoint)
    assert checkpoint["fit"]["history"][0]["loss"] == 0.7
    assert all(torch.equal(v, checkpoint["state_dict"][k]) for k, v in model.state_dict().items())
    # the model saved, not only the state dict it was rebuilt from: the same weights, the same scores
    original = run["model"].eval()
    assert original.state_dict().keys() == model.state_dict().keys()
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in original.state_dict().items())
    items = torch.arange(run["n_items"] + 1)
    with torch.no_grad():
        rebuilt_scores = model.eval().catalog_logits(run["history"], items)
        assert torch.equal(rebuilt_scores, original.catalog_logits(run["history"], items))
    assert torch.load(run["checkpoint"], weights_only=True)["phase"] == "pretrain"  # plain containers only
    assert load("ranks", run["ranks"], run["n_items"]).users.size == load("metrics", run["metrics"], 0)["test"]["overall"]["users"]


@pytest.mark.parametrize("damage", ["flip", "truncate"])
@pytest.mark.parametrize("name", ["embeddings", "sequences", "checkpoint", "ranks", "metrics"])
def test_damaged_artifact_stops_the_loader_naming_the_file(run, tmp_path, name, damage):
    path = damaged_copy(run, name, tmp_path, damage)
    with pytest.raises(DataError, match="does not match") as exc:
        load(name, path, run["n_items"])
    assert_names_file_and_rerun(exc, path)
    assert str(manifest_path(path)) in str(exc.value)


@pytest.mark.parametrize(("name", "damage"), [("embeddings", "flip"), ("embeddings", "truncate"),
                                             ("sequences", "truncate"), ("ranks", "truncate")])
def test_damaged_parquet_without_manifest_is_caught_by_its_page_checksums_or_footer(run, tmp_path, name, damage):
    """No manifest (a user's file, an older artifact): Parquet's own page CRCs and footer still catch the damage.

    (Flips are tried on the embeddings only: the middle of a small file may fall in its footer's metadata.)
    """
    path = damaged_copy(run, name, tmp_path, damage, keep_manifest=False)
    with pytest.raises(DataError, match="not a readable Parquet file") as exc:
        load(name, path, run["n_items"])
    assert_names_file_and_rerun(exc, path)


def test_truncated_checkpoint_without_manifest_is_a_data_error(run, tmp_path):
    path = damaged_copy(run, "checkpoint", tmp_path, "truncate", keep_manifest=False)
    with pytest.raises(DataError, match="not a readable checkpoint") as exc:
        load_checkpoint(path)
    assert_names_file_and_rerun(exc, path)


def test_artifact_without_manifest_or_recorded_sha_is_read_unchecked(run, tmp_path):
    """A user-provided file has no manifest, and one written before manifests recorded sha256 has none to compare."""
    plain = tmp_path / "user.parquet"
    plain.write_bytes(run["embeddings"].read_bytes())
    assert load("embeddings", plain, run["n_items"]).shape[0] == run["n_items"] + 1
    old = tmp_path / "old.pt"
    old.write_bytes(run["checkpoint"].read_bytes())
    record = read_json(manifest_path(run["checkpoint"]))
    record.pop("sha256", None)
    manifest_path(old).write_text(json.dumps(record))
    assert load_checkpoint(old)["phase"] == "pretrain"


class _Touch:
    """Unpickling this runs a shell command that creates ``marker``."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {shlex.quote(str(self.marker))}",)


@pytest.mark.parametrize("forged_manifest", [False, True])
@pytest.mark.parametrize("format_", ["torch.save", "pickle"])
def test_crafted_pickle_checkpoint_is_refused_and_does_not_run(tmp_path, format_, forged_manifest):
    marker = tmp_path / "touched"
    path = tmp_path / "model.pt"
    payload = {"phase": "pretrain", "state_dict": {}, "fit": _Touch(marker)}
    if format_ == "torch.save":
        torch.save(payload, path)
    else:
        path.write_bytes(pickle.dumps(payload, protocol=2))  # torch's own legacy format
    if forged_manifest:  # a matching sha256 must not make it trusted
        write_manifest(path, config={})
    with pytest.raises(DataError, match="not a safe checkpoint") as exc:
        load_checkpoint(path)
    assert not marker.exists()
    assert str(path) in str(exc.value) and "posix.system" in str(exc.value)
    assert "weights_only=False" not in str(exc.value)


def test_save_checkpoint_refuses_what_a_safe_load_could_not_read(tmp_path):
    model = SingleExpert(id_expert(5, MODEL, 4))
    with pytest.raises(TypeError, match=r"checkpoint\['fit'\]\['loss'\] is a numpy.float64"):
        save_checkpoint(tmp_path / "model.pt", model, phase="pretrain", n_items=5, max_length=4, model_cfg=MODEL,
                        extra={"fit": {"loss": np.float64(0.5)}})
    assert not (tmp_path / "model.pt").exists()
