"""The item-embedding artifact: one Parquet file per (dataset, encoder).

Columns ``item_idx`` (int32, 1-based) and ``embedding`` (fixed-size list of float32);
what produced the vectors (encoder name, kind, source, dim, pooling, text template...)
travels inside the file as JSON under the schema metadata key ``pad``, so a matrix
can never be separated from its provenance. Row 0 is the recommender's padding item:
it is not stored, the loader fills it with zeros.

Large catalogues are written in row groups as they are encoded (:func:`embeddings_writer`)
and may be encoded in contiguous item shards by separate jobs, each writing a part file
with ``shard``/``n_shards`` in its metadata; :func:`gather_embeddings` streams the parts
into the one file that downstream stages read with :func:`read_embeddings`.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from padlib.io import atomic_path, parquet_errors, read_table, verify_artifact, write_parquet
from padlib.text.normalize import normalize_text

if TYPE_CHECKING:
    import torch

METADATA_KEY = b"pad"
SHARD_KEYS = ("shard", "n_shards")


def embeddings_schema(dim: int, metadata: Mapping[str, object]) -> pa.Schema:
    """The one schema of every embeddings file, provenance included, so parts and wholes are interchangeable."""
    return pa.schema(
        [pa.field("item_idx", pa.int32()), pa.field("embedding", pa.list_(pa.float32(), dim))],
        metadata={METADATA_KEY: json.dumps(dict(metadata), sort_keys=True).encode()},
    )


def embeddings_table(item_idx: np.ndarray, vectors: np.ndarray, metadata: Mapping[str, object]) -> pa.Table:
    """Build the Arrow table (shape checks here, so a bad call fails before touching disk)."""
    item_idx = np.asarray(item_idx)
    vectors = np.asarray(vectors, dtype=np.float32)
    if vectors.ndim != 2 or item_idx.ndim != 1 or len(item_idx) != len(vectors):
        raise ValueError(f"need item_idx [n] and vectors [n, dim]; got {item_idx.shape} and {vectors.shape}")
    if not np.issubdtype(item_idx.dtype, np.integer):
        raise ValueError(f"item_idx must be integers, got {item_idx.dtype}")
    dim = vectors.shape[1]
    flat = pa.array(np.ascontiguousarray(vectors).reshape(-1), type=pa.float32())
    embedding = pa.FixedSizeListArray.from_arrays(flat, dim)
    schema = embeddings_schema(dim, metadata)
    return pa.Table.from_arrays([pa.array(item_idx.astype(np.int32)), embedding], schema=schema)


def write_embeddings(
    path: str | os.PathLike[str],
    item_idx: np.ndarray,
    vectors: np.ndarray,
    metadata: Mapping[str, object],
) -> None:
    """Write the embeddings Parquet atomically (temporary file, then rename)."""
    write_parquet(path, embeddings_table(item_idx, vectors, metadata))


@contextlib.contextmanager
def _row_group_writer(path: str | os.PathLike[str], schema: pa.Schema) -> Iterator[Callable[[pa.Table], None]]:
    """Yield ``write(table)``, one row group per call, into a temporary file renamed onto ``path`` on clean exit."""
    with (atomic_path(path) as tmp,
          pq.ParquetWriter(tmp, schema, use_dictionary=False, write_page_checksum=True) as writer):

        def write(table: pa.Table) -> None:
            if not table.schema.equals(schema, check_metadata=False):
                raise ValueError(f"{path}: rows with schema {table.schema} do not fit the file's schema {schema}")
            if table.num_rows:
                writer.write_table(table.replace_schema_metadata(schema.metadata), row_group_size=table.num_rows)

        yield write


@contextlib.contextmanager
def embeddings_writer(
    path: str | os.PathLike[str], dim: int, metadata: Mapping[str, object]
) -> Iterator[Callable[[np.ndarray, np.ndarray], None]]:
    """Yield ``write(item_idx, vectors)`` that appends one row group; nothing appears at ``path`` unless all succeed.

    Lets a caller stream a catalogue too large to hold as one matrix.
    """
    with _row_group_writer(path, embeddings_schema(dim, metadata)) as write_table:
        yield lambda item_idx, vectors: write_table(embeddings_table(item_idx, vectors, metadata))


def read_embeddings_metadata(path: str | os.PathLike[str]) -> dict:
    """The provenance dict stored with the vectors, without reading the vectors."""
    with parquet_errors(path):
        schema = pq.read_schema(path)
    return _provenance(path, schema)


def _provenance(path: str | os.PathLike[str], schema: pa.Schema) -> dict:
    raw = (schema.metadata or {}).get(METADATA_KEY)
    if raw is None:
        raise ValueError(f"{path}: no {METADATA_KEY.decode()!r} metadata; not an embeddings file")
    return json.loads(raw)


def _vectors(path: str | os.PathLike[str], column: pa.ChunkedArray) -> np.ndarray:
    if not pa.types.is_fixed_size_list(column.type):
        raise ValueError(f"{path}: column 'embedding' must be a fixed-size list, got {column.type}")
    dim = column.type.list_size
    flat = column.combine_chunks().flatten().to_numpy(zero_copy_only=False)
    return flat.astype(np.float32, copy=False).reshape(-1, dim)


def _check_items(path: str | os.PathLike[str], item_idx: np.ndarray, n_items: int) -> None:
    bad = item_idx[(item_idx < 1) | (item_idx > n_items)]
    if bad.size:
        raise ValueError(f"{path}: item_idx {int(bad[0])} out of range 1..{n_items} ({bad.size} such rows)")
    counts = np.bincount(item_idx, minlength=n_items + 1)
    duplicated = np.flatnonzero(counts > 1)
    if duplicated.size:
        raise ValueError(f"{path}: item_idx {int(duplicated[0])} appears {int(counts[duplicated[0]])} times")
    missing = np.flatnonzero(counts[1:] == 0) + 1
    if missing.size:
        raise ValueError(f"{path}: {missing.size} of {n_items} items have no embedding (first: {int(missing[0])})")


def read_embeddings(path: str | os.PathLike[str], n_items: int) -> tuple[np.ndarray, dict]:
    """Load a ``[n_items + 1, dim]`` float32 matrix (row 0 = zeros for padding, row i = item i) and its metadata.

    The file is checked against its manifest and its page CRCs first (a DataError naming it otherwise).
    """
    table = read_table(path)  # a ParquetFile read, not pq.read_table: that imports pyarrow.dataset (~0.8 s)
    missing_cols = {"item_idx", "embedding"} - set(table.column_names)
    if missing_cols:
        raise ValueError(f"{path}: missing columns {sorted(missing_cols)}")
    for name in ("item_idx", "embedding"):
        if table.column(name).null_count:
            raise ValueError(f"{path}: column {name!r} has {table.column(name).null_count} null values")
    item_idx = table.column("item_idx").combine_chunks().to_numpy().astype(np.int64)  # ChunkedArray.to_numpy imports pandas
    vectors = _vectors(path, table.column("embedding"))
    _check_items(path, item_idx, n_items)
    finite = np.isfinite(vectors).all(axis=1)
    if not finite.all():
        raise ValueError(f"{path}: item_idx {int(item_idx[~finite][0])} has a non-finite embedding")
    matrix = np.zeros((n_items + 1, vectors.shape[1]), dtype=np.float32)
    matrix[item_idx] = vectors
    return matrix, _provenance(path, table.schema)


def shard_bounds(n_items: int, shard: int, n_shards: int) -> tuple[int, int]:
    """Rows ``[start, stop)`` of shard ``shard`` of ``n_shards``: contiguous, sizes differing by at most one."""
    if n_shards < 1 or not 0 <= shard < n_shards:
        raise ValueError(f"need 0 <= shard < n_shards; got shard {shard} of {n_shards}")
    if n_items < 0:
        raise ValueError(f"n_items must be non-negative, got {n_items}")
    return shard * n_items // n_shards, (shard + 1) * n_items // n_shards


def shard_metadata(metadata: Mapping[str, object], shard: int, n_shards: int) -> dict[str, object]:
    """Metadata of a part file: the whole file's metadata plus which shard it holds."""
    return {**metadata, "shard": str(shard), "n_shards": str(n_shards)}


@dataclass(frozen=True)
class _Part:
    path: Path
    metadata: dict
    dim: int
    item_idx: np.ndarray

    @property
    def base_metadata(self) -> dict:
        return {k: v for k, v in self.metadata.items() if k not in SHARD_KEYS}


def _read_part(path: str | os.PathLike[str]) -> _Part:
    """Schema, metadata and item ids of a part, without its vectors (checked against its manifest)."""
    verify_artifact(path)
    with parquet_errors(path):
        schema = pq.read_schema(path)
    names = set(schema.names)
    if not {"item_idx", "embedding"} <= names:
        raise ValueError(f"{path}: missing columns {sorted({'item_idx', 'embedding'} - names)}")
    embedding = schema.field("embedding").type
    if schema.field("item_idx").type != pa.int32() or not pa.types.is_fixed_size_list(embedding):
        item_type = schema.field("item_idx").type
        raise ValueError(f"{path}: not an embeddings file (item_idx {item_type}, embedding {embedding})")
    with parquet_errors(path):
        column = pq.ParquetFile(path, page_checksum_verification=True).read(columns=["item_idx"]).column("item_idx")
    if column.null_count:
        raise ValueError(f"{path}: column 'item_idx' has {column.null_count} null values")
    item_idx = column.combine_chunks().to_numpy().astype(np.int64)
    return _Part(Path(path), _provenance(path, schema), embedding.list_size, item_idx)


def _check_same_encoder(parts: Sequence[_Part]) -> None:
    """Parts of one file must come from one encoder run configuration (shard fields aside)."""
    first = parts[0]
    for part in parts[1:]:
        if part.dim != first.dim:
            raise ValueError(f"{part.path} has dim {part.dim} but {first.path} has dim {first.dim}")
        a, b = first.base_metadata, part.base_metadata
        differing = sorted(k for k in a.keys() | b.keys() if a.get(k) != b.get(k))
        if differing:
            details = "; ".join(f"{k}: {a.get(k)!r} vs {b.get(k)!r}" for k in differing)
            raise ValueError(f"{first.path} and {part.path} were not made by the same encoder settings ({details})")


def _check_shard_fields(parts: Sequence[_Part]) -> None:
    """When parts say which shard they are, every shard 0..n_shards-1 must be there once."""
    marked = [p for p in parts if "shard" in p.metadata]
    if not marked:
        return
    if len(marked) != len(parts):
        unmarked = next(p for p in parts if "shard" not in p.metadata)
        raise ValueError(f"{unmarked.path} has no shard metadata but {marked[0].path} has; mixing runs?")
    totals = {p.metadata.get("n_shards") for p in parts}
    if len(totals) != 1:
        raise ValueError(f"parts disagree on n_shards: {sorted(map(str, totals))}")
    n_shards = int(totals.pop())
    seen: dict[int, Path] = {}
    for part in parts:
        shard = int(part.metadata["shard"])
        if shard in seen:
            raise ValueError(f"shard {shard} of {n_shards} given twice: {seen[shard]} and {part.path}")
        seen[shard] = part.path
    missing = sorted(set(range(n_shards)) - seen.keys())
    if missing:
        raise ValueError(f"missing shard(s) {missing} of {n_shards} (got {len(parts)} parts)")


def _check_coverage(parts: Sequence[_Part], n_items: int) -> None:
    """Together the parts hold item_idx 1..n_items, each exactly once."""
    for part in parts:
        bad = part.item_idx[(part.item_idx < 1) | (part.item_idx > n_items)]
        if bad.size:
            raise ValueError(f"{part.path}: item_idx {int(bad[0])} out of range 1..{n_items} ({bad.size} such rows)")
    counts = np.zeros(n_items + 1, dtype=np.int64)
    for part in parts:
        counts += np.bincount(part.item_idx, minlength=n_items + 1)
    duplicated = np.flatnonzero(counts > 1)
    if duplicated.size:
        item = int(duplicated[0])
        holders = [str(p.path) for p in parts if (p.item_idx == item).any()]
        raise ValueError(f"item_idx {item} appears {int(counts[item])} times, in {holders} (overlapping parts?)")
    missing = np.flatnonzero(counts[1:] == 0) + 1
    if missing.size:
        first = int(missing[0])
        raise ValueError(f"{missing.size} of {n_items} items are in no part (first: {first}); a part is missing")


def gather_embeddings(
    parts: Sequence[str | os.PathLike[str]], out: str | os.PathLike[str], n_items: int
) -> dict:
    """Stream shard part files, row group by row group, into one embeddings file; return its metadata.

    Everything is checked before writing (same encoder settings, every shard once, items
    1..n_items each once); the output is in item order when the parts are contiguous
    shards, carries the parts' metadata without the shard fields, and appears atomically.
    """
    if not parts:
        raise ValueError("gather_embeddings needs at least one part")
    loaded = [_read_part(p) for p in parts]
    _check_same_encoder(loaded)
    _check_shard_fields(loaded)
    _check_coverage(loaded, n_items)
    metadata = loaded[0].base_metadata
    ordered = sorted(loaded, key=lambda p: int(p.item_idx.min()) if p.item_idx.size else n_items + 1)
    with _row_group_writer(out, embeddings_schema(loaded[0].dim, metadata)) as write:
        for part in ordered:
            with parquet_errors(part.path):
                source = pq.ParquetFile(part.path, page_checksum_verification=True)
            for group in range(source.num_row_groups):
                with parquet_errors(part.path):
                    rows = source.read_row_group(group)
                write(rows)
    return metadata


def load_text(path: str | os.PathLike[str], n_items: int, norm: str) -> "torch.Tensor":
    """The ``[n_items + 1, dim]`` text matrix a model reads: the embeddings, normalised by ``norm``."""
    import torch  # here only: the gather stage reads this module and needs no torch

    matrix, _ = read_embeddings(path, n_items)
    return torch.from_numpy(normalize_text(matrix, norm))
