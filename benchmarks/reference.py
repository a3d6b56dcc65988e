"""The reference tree: a commit's ``padlib/``, ``config.yaml`` and ``schemas/`` extracted with ``git
archive`` (no worktree, nothing checked out), or a folder given with ``--reference-tree``, measured by
a worker of its own before the current tree's."""

from __future__ import annotations

import argparse
import subprocess
import tarfile
import tempfile
from io import BytesIO
from pathlib import Path
from typing import Any

from benchmarks import ROOT, worker

TREE = ("padlib", "config.yaml", "schemas")


def extract(commit: str, into: Path) -> Path:
    """The parts of ``commit`` a worker reads (``TREE``), in ``into``."""
    tar = subprocess.run(["git", "-C", str(ROOT), "archive", commit, *TREE], check=True, capture_output=True).stdout
    with tarfile.open(fileobj=BytesIO(tar)) as archive:
        archive.extractall(into, filter="data")
    return into


def figures(args: argparse.Namespace) -> dict[str, Any] | None:
    """The reference's figures (None with ``--reference none`` and no ``--reference-tree``)."""
    if args.reference_tree:
        return worker.run(Path(args.reference_tree).resolve(), args.reference, args, extras=False)
    if args.reference == "none":
        return None
    with tempfile.TemporaryDirectory() as tmp:
        return worker.run(extract(args.reference, Path(tmp)), args.reference, args, extras=False)
