"""Atomic artifact writes and the manifests that sit beside every artifact.

Every stage writes to a temporary file in the destination directory and renames it
into place, so an interrupted or failing stage never leaves a half-written output
that Snakemake (or a user) could mistake for a finished one.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import platform
import secrets
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from padlib import __version__


def _new_file(parent: Path, prefix: str, suffix: str) -> Path:
    """Create an empty file with a fresh name in ``parent`` whose mode the umask decides (0644 under 022).

    ``tempfile.mkstemp`` creates files owner-only (0600), and the rename would carry that mode to the
    artifact, so collaborators on a shared cluster could not read the results.
    """
    while True:
        path = parent / f"{prefix}{secrets.token_hex(6)}{suffix}"
        try:
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
        except FileExistsError:
            continue
        return path


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it onto ``path`` on success only."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = _new_file(target.parent, f".{target.name}.", ".tmp")
    try:
        yield tmp
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_json(path: str | os.PathLike[str], obj: Any) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")


def read_json(path: str | os.PathLike[str]) -> Any:
    return json.loads(Path(path).read_text())


def write_text(path: str | os.PathLike[str], text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def write_parquet(path: str | os.PathLike[str], table: pa.Table) -> None:
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)


def sha256_file(path: str | os.PathLike[str], chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def manifest_path(artifact: str | os.PathLike[str]) -> Path:
    """The manifest of ``a/b.pt`` is ``a/b.pt.manifest.json``."""
    return Path(f"{artifact}.manifest.json")


def write_manifest(
    artifact: str | os.PathLike[str],
    *,
    config: Any,
    inputs: list[str] | tuple[str, ...] = (),
    seed: int | None = None,
    wall_time_s: float | None = None,
    device: str | None = None,
    extra: dict[str, Any] | None = None,
) -> None:
    """Record what produced ``artifact``: config, padlib version, input checksums, seed, time, device."""
    record = {
        "artifact": str(artifact),
        "padlib_version": __version__,
        "created_unix": time.time(),
        "host": platform.node(),
        "config": config,
        "inputs": {str(p): sha256_file(p) for p in inputs if Path(p).is_file()},
        "seed": seed,
        "wall_time_s": wall_time_s,
        "device": device,
    }
    if extra:
        record.update(extra)
    write_json(manifest_path(artifact), record)
