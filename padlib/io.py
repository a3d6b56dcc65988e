"""Atomic artifact writes, the manifests that sit beside every artifact, and verified reads.

Every stage writes to a temporary file in the destination directory and renames it
into place, so an interrupted or failing stage never leaves a half-written output
that Snakemake (or a user) could mistake for a finished one.

Each manifest records its artifact's sha256, and the stages read their input artifacts
through :func:`verify_artifact` (via :func:`read_table`, :func:`read_parquet`,
:func:`read_json_artifact` or ``padlib.models.checkpoint.load_checkpoint``), so a file that was
corrupted, truncated or edited after it was written stops the job with its path and the
command that rebuilds it, instead of being trained or evaluated on silently.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import platform
import secrets
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from padlib import __version__
from padlib.errors import DataError, StorageError


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


# OS errors that mean "the disk cannot take this file", not "the code is wrong".
STORAGE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS}


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it onto ``path`` on success only.

    A full disk (or quota, or read-only file system) while writing becomes a ``StorageError``
    naming ``path``, the temporary file removed: one ``ERROR:`` line, nothing half-written."""
    target = Path(path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = _new_file(target.parent, f".{target.name}.", ".tmp")
    except OSError as exc:
        raise _storage_error(target, exc) from exc
    try:
        yield tmp
        os.replace(tmp, target)
    except OSError as exc:
        raise _storage_error(target, exc) from exc
    finally:
        if tmp.exists():
            tmp.unlink()


def _storage_error(target: Path, exc: OSError) -> Exception:
    if exc.errno not in STORAGE_ERRNOS:
        return exc
    return StorageError(f"{target}: cannot be written: {os.strerror(exc.errno)} (errno {exc.errno}); nothing was "
                        f"written there. Free space on (or write access to) {target.parent} and rerun")


def save_torch(payload: Any, path: str | os.PathLike[str]) -> None:
    """``torch.save`` through a buffer, atomically: torch's own file writer reports a full disk as an
    opaque RuntimeError (``unexpected pos``), a plain file write as ENOSPC, which names the file."""
    import io

    import torch

    buffer = io.BytesIO()
    torch.save(payload, buffer)
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        fh.write(buffer.getbuffer())


def write_json(path: str | os.PathLike[str], obj: Any) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")


def read_json(path: str | os.PathLike[str]) -> Any:
    return json.loads(Path(path).read_text())


def write_text(path: str | os.PathLike[str], text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def write_parquet(path: str | os.PathLike[str], table: pa.Table) -> None:
    """Write atomically, with a CRC per page so that a reader notices damage even without a manifest."""
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp, write_page_checksum=True)


def sha256_file(path: str | os.PathLike[str], chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def manifest_path(artifact: str | os.PathLike[str]) -> Path:
    """The manifest of ``a/b.pt`` is ``a/b.pt.manifest.json``."""
    return Path(f"{artifact}.manifest.json")


def rerun_hint(path: str | os.PathLike[str]) -> str:
    """What rebuilds an artifact: Snakemake's ``--forcerun`` takes an output file as well as a rule."""
    return f"rerun the stage that writes it: snakemake --forcerun {path}"


# Digests of the inputs this process has read or recorded, keyed by absolute path, with the
# (size, mtime) they were computed at: write_manifest reuses them for its input checksums, so a
# stage hashes each input once (verify_artifact itself always rehashes).
_digests: dict[str, tuple[int, int, str]] = {}


def _stat(path: str | os.PathLike[str]) -> tuple[int, int]:
    info = os.stat(path)
    return info.st_size, info.st_mtime_ns


def verify_artifact(path: str | os.PathLike[str]) -> str | None:
    """Check ``path`` against the sha256 recorded in its manifest; return the digest, or None if unchecked.

    A file without a manifest (a user's own file) or whose manifest records no ``sha256``
    (written before manifests did) is not checked: there is nothing to compare with, and
    refusing it would break inputs that were never made by this workflow. A mismatch, or a
    manifest that cannot be read, is a DataError naming the file and the command that rebuilds it.
    """
    manifest = manifest_path(path)
    if not manifest.is_file():
        return None
    try:
        record = read_json(manifest)
    except (OSError, ValueError) as exc:
        raise DataError(f"{manifest}: the manifest of {path} is unreadable ({exc}); {rerun_hint(path)}") from exc
    expected = record.get("sha256") if isinstance(record, dict) else None
    if expected is None:
        return None
    try:
        stat = _stat(path)
        actual = sha256_file(path)
    except OSError as exc:
        raise DataError(f"{path}: cannot be read to check it against {manifest} ({exc}); {rerun_hint(path)}") from exc
    if actual != expected:
        size = f"{stat[0]} bytes, {record['bytes']} when written" if "bytes" in record else f"{stat[0]} bytes"
        raise DataError(f"{path}: sha256 {actual} ({size}) does not match {expected} recorded in {manifest}; "
                        f"the file is corrupt, truncated or was changed after it was written; {rerun_hint(path)} "
                        f"(or, if you replaced it on purpose, delete {manifest})")
    _digests[os.path.abspath(path)] = (*stat, actual)
    return actual


def input_sha256(path: str | os.PathLike[str]) -> str:
    """sha256 of an input: the digest computed earlier in this process if the file has not changed since."""
    key, stat = os.path.abspath(path), _stat(path)
    known = _digests.get(key)
    if known is not None and known[:2] == stat:
        return known[2]
    digest = sha256_file(path)
    _digests[key] = (*stat, digest)
    return digest


@contextlib.contextmanager
def parquet_errors(path: str | os.PathLike[str]) -> Iterator[None]:
    """Turn pyarrow's errors on a missing, corrupt or truncated file ("magic bytes not found",
    a failed page CRC), which do not name the file, into a DataError that does."""
    try:
        yield
    except FileNotFoundError as exc:
        raise DataError(f"{path}: no such file; {rerun_hint(path)}") from exc
    except (pa.ArrowException, OSError) as exc:
        raise DataError(f"{path}: not a readable Parquet file, it is corrupt or truncated ({exc}); "
                        f"{rerun_hint(path)}") from exc


def read_table(path: str | os.PathLike[str], columns: list[str] | None = None) -> pa.Table:
    """A Parquet artifact (or ``columns`` of it), checked against its manifest and its page CRCs."""
    verify_artifact(path)
    with parquet_errors(path):
        return pq.ParquetFile(path, page_checksum_verification=True).read(columns=columns)


def read_parquet(path: str | os.PathLike[str], columns: list[str] | None = None) -> pl.DataFrame:
    """:func:`read_table` as a polars DataFrame, for the stages that work in polars."""
    return cast(pl.DataFrame, pl.from_arrow(read_table(path, columns)))


def read_json_artifact(path: str | os.PathLike[str]) -> Any:
    """A JSON artifact (metrics.json, kendall.json), checked against its manifest."""
    verify_artifact(path)
    try:
        return read_json(path)
    except FileNotFoundError as exc:
        raise DataError(f"{path}: no such file; {rerun_hint(path)}") from exc
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: not readable JSON, it is corrupt or truncated ({exc}); {rerun_hint(path)}") from exc


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
    """Record what produced ``artifact``: its own sha256 and size (checked by :func:`verify_artifact`
    when a stage reads it), config, padlib version, input checksums, seed, time, device."""
    record = {
        "artifact": str(artifact),
        "sha256": sha256_file(artifact),
        "bytes": os.path.getsize(artifact),
        "padlib_version": __version__,
        "created_unix": time.time(),
        "host": platform.node(),
        "config": config,
        "inputs": {str(p): input_sha256(p) for p in inputs if Path(p).is_file()},
        "seed": seed,
        "wall_time_s": wall_time_s,
        "device": device,
    }
    if extra:
        record.update(extra)
    write_json(manifest_path(artifact), record)
