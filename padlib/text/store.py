"""The item-embedding artifact: one Parquet file per (dataset, encoder).

Columns ``item_idx`` (int32, 1-based) and ``embedding`` (fixed-size list of float32);
what produced the vectors (encoder name, kind, source, dim, pooling, text template...)
travels inside the file as JSON under the schema metadata key ``pad``, so a matrix
can never be separated from its provenance. Row 0 is the recommender's padding item:
it is not stored, the loader fills it with zeros.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from padlib.io import write_parquet

METADATA_KEY = b"pad"


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
    schema = pa.schema(
        [pa.field("item_idx", pa.int32()), pa.field("embedding", pa.list_(pa.float32(), dim))],
        metadata={METADATA_KEY: json.dumps(dict(metadata), sort_keys=True).encode()},
    )
    return pa.Table.from_arrays([pa.array(item_idx.astype(np.int32)), embedding], schema=schema)


def write_embeddings(
    path: str | os.PathLike[str],
    item_idx: np.ndarray,
    vectors: np.ndarray,
    metadata: Mapping[str, object],
) -> None:
    """Write the embeddings Parquet atomically (temporary file, then rename)."""
    write_parquet(path, embeddings_table(item_idx, vectors, metadata))


def read_embeddings_metadata(path: str | os.PathLike[str]) -> dict:
    """The provenance dict stored with the vectors, without reading the vectors."""
    raw = (pq.read_schema(path).metadata or {}).get(METADATA_KEY)
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
    """Load a ``[n_items + 1, dim]`` float32 matrix (row 0 = zeros for padding, row i = item i) and its metadata."""
    table = pq.read_table(path)
    missing_cols = {"item_idx", "embedding"} - set(table.column_names)
    if missing_cols:
        raise ValueError(f"{path}: missing columns {sorted(missing_cols)}")
    for name in ("item_idx", "embedding"):
        if table.column(name).null_count:
            raise ValueError(f"{path}: column {name!r} has {table.column(name).null_count} null values")
    item_idx = table.column("item_idx").to_numpy().astype(np.int64)
    vectors = _vectors(path, table.column("embedding"))
    _check_items(path, item_idx, n_items)
    finite = np.isfinite(vectors).all(axis=1)
    if not finite.all():
        raise ValueError(f"{path}: item_idx {int(item_idx[~finite][0])} has a non-finite embedding")
    matrix = np.zeros((n_items + 1, vectors.shape[1]), dtype=np.float32)
    matrix[item_idx] = vectors
    return matrix, read_embeddings_metadata(path)
