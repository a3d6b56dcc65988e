"""A full disk: the write that hits it stops with one ``ERROR:`` line naming the file, and nothing
half-written is left. Tested on a real, tiny tmpfs (mounting one needs root; skipped otherwise)."""

from __future__ import annotations

import subprocess
import sys
import uuid
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
import torch
import yaml
from synthetic import write_synthetic

from padlib.errors import StorageError
from padlib.io import write_parquet
from padlib.models.build import ModelConfig, id_expert
from padlib.models.checkpoint import save_checkpoint

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def full_disk(tmp_path):
    """A 512 KiB tmpfs, unmounted afterwards."""
    mount = tmp_path / f"disk-{uuid.uuid4().hex[:6]}"
    mount.mkdir()
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=512k", "tmpfs", str(mount)], capture_output=True,
                          text=True)
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {proc.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=False)


def test_a_parquet_too_large_for_the_disk_is_one_error_and_no_file(full_disk):
    target = full_disk / "out" / "big.parquet"
    with pytest.raises(StorageError, match=rf"{target}: cannot be written: No space left on device"):
        write_parquet(target, pa.table({"x": np.random.default_rng(0).random(200_000)}))
    assert list(full_disk.rglob("*.parquet*")) == [] and not target.exists()


def test_a_checkpoint_too_large_for_the_disk_is_one_error_and_no_file(full_disk):
    cfg = ModelConfig(dim=64, backbone={"name": "sasrec", "blocks": 2})
    model = id_expert(5000, cfg, 20)  # a 5001 x 64 table alone is 1.3 MB
    target = full_disk / "model.pt"
    with pytest.raises(StorageError, match=rf"{target}: cannot be written: No space left on device"):
        save_checkpoint(target, model, phase="pretrain", n_items=5000, max_length=20, model_cfg=cfg, extra={})
    assert list(full_disk.iterdir()) == []


@pytest.mark.slow
def test_the_data_stage_on_a_full_disk_ends_in_one_error_line(full_disk, tmp_path):
    """The real data stage through Snakemake, results/ on a disk with a few KiB left: the job fails
    with ``ERROR: StorageError: ... No space left on device`` naming its output, no traceback."""
    interactions, items = write_synthetic(tmp_path, n_users=300, n_items=200)
    config = {"device": "cpu", "run": {"datasets": ["tiny"], "encoders": ["smollm2"], "backbones": ["sasrec"], "seeds": [0],
                                       "variants": ["sasrec"]},
              "sources": {"tiny": {"kind": "table", "interactions": str(interactions), "items": str(items)}}}
    (tmp_path / "config.yaml").write_text((REPO / "config.yaml").read_text())
    (tmp_path / "disk.yaml").write_text(yaml.safe_dump(config))
    (full_disk / "filler").write_bytes(b"\0" * (512 * 1024 - 8 * 1024))
    (tmp_path / "results").symlink_to(full_disk)
    cmd = [sys.executable, "-m", "snakemake", "results/tiny/data/items.parquet", "-s", str(REPO / "Snakefile"),
           "--directory", str(tmp_path), "--cores", "1", "--configfile", str(tmp_path / "disk.yaml")]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode != 0
    log = proc.stderr + (tmp_path / "logs" / "tiny" / "data.log").read_text()
    assert "ERROR: StorageError: results/tiny/data/" in log and "No space left on device" in log, log[-3000:]
    assert "Traceback" not in log
    assert sorted(p.name for p in full_disk.rglob("*") if p.is_file()) == ["filler"]
    assert torch.get_num_threads() >= 1  # the test process itself is untouched
