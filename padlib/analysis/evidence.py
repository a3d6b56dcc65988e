"""The small evidence a result rests on, copied out of ``results/`` so it can be committed.

Trained models (hundreds of MB) and the data stay out of git; what a claim needs to be checked or a
paired test recomputed without retraining is small: each run's ``metrics.json`` and per-user
``test_ranks.parquet``, and for each trained checkpoint its training history (loss, validation nDCG
and HR per epoch, the best epoch) and its manifest (the config it ran under, input checksums, seed).
``export_evidence`` mirrors those under a destination folder, keeping the run layout
(``<backbone>/seed<s>/...``), so ``docs/results/data/<dataset>/`` holds the same paths as ``results/``.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from padlib.errors import DataError
from padlib.io import atomic_path, write_json
from padlib.models.checkpoint import load_checkpoint

RUN_FILES = ("metrics.json", "metrics.json.manifest.json", "test_ranks.parquet")


def export_evidence(results: str | Path, dataset: str, dest: str | Path) -> list[Path]:
    """Copy every run's metrics and ranks of ``results/<dataset>`` to ``dest`` and write each
    checkpoint's training history as ``<model>.pt.fit.json`` beside its manifest; returns the
    files written. Nothing is written for a dataset without results (a DataError names it)."""
    root = Path(results) / dataset
    if not root.is_dir():
        raise DataError(f"{root}: no results for dataset {dataset!r} (run the workflow first)")
    written: list[Path] = []
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if rel.parts[0] in ("data", "embeddings") or not path.is_file():
            continue
        if path.name in RUN_FILES or path.name.endswith(".pt.manifest.json"):
            written.append(_copy(path, Path(dest) / rel))
        elif path.suffix == ".pt":
            fit = load_checkpoint(path).get("fit")
            if fit is not None:
                target = Path(dest) / rel.with_name(rel.name + ".fit.json")
                write_json(target, fit)
                written.append(target)
    return written


def _copy(src: Path, dst: Path) -> Path:
    with atomic_path(dst) as tmp:
        shutil.copyfile(src, tmp)
    return dst
