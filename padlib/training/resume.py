"""Resume a killed training job from its last finished epoch.

A training stage writes ``<model>.resume`` atomically after every epoch: the weights, the
optimizer, every random generator the loop draws from, the early-stopping state and the
history. A rerun of the same job (same params, seed and input files: the fingerprint)
continues from there and ends exactly where an uninterrupted run would; a resume file
from other params or inputs is discarded. The stage removes the file once the model and
its manifest are written. A SIGTERM during a save is held until the file is written.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import pickle
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from padlib.io import input_sha256, manifest_path, save_torch
from padlib.models.checkpoint import unpickling_detail
from padlib.runtime import sigterm_deferred

log = logging.getLogger(__name__)


def resume_path(out: str | os.PathLike[str]) -> Path:
    return Path(f"{out}.resume")


def fingerprint(params: Any, seed: int, inputs: Iterable[str | os.PathLike[str]]) -> str:
    """What the run's result depends on: its params, seed and the content of its input files (digests
    the stage already computed when it verified those files are reused, not recomputed)."""
    record = {"params": params, "seed": seed,
              "inputs": sorted(input_sha256(p) for p in inputs if Path(p).is_file())}
    return hashlib.sha256(json.dumps(record, sort_keys=True, default=str).encode()).hexdigest()


@dataclass(frozen=True)
class Resume:
    """The resume file of one training job and the fingerprint its state must carry."""

    path: Path
    fingerprint: str

    @classmethod
    def for_run(cls, out: str | os.PathLike[str], params: Any, seed: int,
                inputs: Iterable[str | os.PathLike[str]]) -> "Resume":
        """Called as the job starts: a manifest left beside a model that is gone (the job was
        killed after Snakemake removed the old model) is stale and removed."""
        if not Path(out).exists():
            manifest_path(out).unlink(missing_ok=True)
        return cls(resume_path(out), fingerprint(params, seed, inputs))

    def load(self) -> dict[str, Any] | None:
        """The saved state if it belongs to this run, else None (a foreign or unreadable file is removed)."""
        if not self.path.exists():
            return None
        try:
            state = torch.load(self.path, map_location="cpu", weights_only=True)
        except (RuntimeError, EOFError, ValueError, pickle.UnpicklingError) as err:  # foreign: start over
            log.warning("ignoring unreadable resume file %s (%s)", self.path, unpickling_detail(err))
            state = None
        if state is not None and state.get("fingerprint") == self.fingerprint:
            return state
        if state is not None:
            log.warning("ignoring resume file %s: written for other params or inputs", self.path)
        self.clear()
        return None

    def save(self, state: dict[str, Any]) -> None:
        """Atomically; a SIGTERM meanwhile (a preempted job) takes effect once the file is in place, so
        the epoch just finished is not lost."""
        with sigterm_deferred():
            save_torch({**state, "fingerprint": self.fingerprint}, self.path)

    def clear(self) -> None:
        self.path.unlink(missing_ok=True)
