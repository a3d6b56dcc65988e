"""The served catalogue on disk: items added after training, stored beside the model.

``<model dir>/catalog/`` holds one Parquet part per ``pad add-items`` call (``part-00001.parquet``,
...: ``item_id``, the display ``title`` when there is one, the rendered ``text`` and the encoder's raw
``embedding``) and ``manifest.json``, the catalogue's own manifest: the encoder and template the
vectors came from and, per part, its sha256, size, item count, source file and time. A part is
written first and counts only once the manifest, written last and atomically, lists it, so a
failed or interrupted add leaves the catalogue as it was; appending writes the new items only.

Rows hold raw vectors, not model rows: the model computes its rows when it loads (with the
training catalogue's text statistics), so a retrained model serves the same added items.
Their indices follow the trained items': N + 1, N + 2, ... in the order they were added.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from padlib import __version__
from padlib.errors import DataError
from padlib.io import manifest_path, parquet_errors, read_json, sha256_file, write_json, write_parquet
from padlib.text.store import read_embeddings_metadata

CATALOG_DIR = "catalog"
MANIFEST = "manifest.json"


def catalog_dir(model_path: str | os.PathLike[str]) -> Path:
    """Where the served catalogue of the model at ``model_path`` lives."""
    return Path(model_path).parent / CATALOG_DIR


@dataclass(frozen=True)
class AddedItems:
    """The items a served catalogue holds, in the order they were added (index N + 1 + position)."""

    item_ids: list[str] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)  # what `pad recommend` prints: the title, else the id
    vectors: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), dtype=np.float32))
    parts: dict[str, Path] = field(default_factory=dict)  # item id → the part file that holds it

    def __len__(self) -> int:
        return len(self.item_ids)


def read_manifest(directory: Path) -> dict[str, Any] | None:
    """The catalogue's manifest, or None when nothing was ever added."""
    path = directory / MANIFEST
    if not path.is_file():
        return None
    try:
        record = read_json(path)
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: the served catalogue's manifest is unreadable ({exc}); restore it, or delete "
                        f"{directory} and add the items again") from exc
    if not isinstance(record, dict) or not isinstance(record.get("parts"), list):
        raise DataError(f"{path}: not a served catalogue manifest (expected a 'parts' list)")
    return record


def read_added(directory: Path) -> AddedItems:
    """Every part the manifest lists, each checked against its recorded sha256 first."""
    record = read_manifest(directory)
    if record is None:
        return AddedItems()
    ids: list[str] = []
    labels: list[str] = []
    vectors: list[np.ndarray] = []
    parts: dict[str, Path] = {}
    for part in record["parts"]:
        path = directory / part["file"]
        if not path.is_file() or sha256_file(path) != part["sha256"]:
            raise DataError(f"{path}: missing, or its sha256 differs from the one {directory / MANIFEST} records; "
                            "the served catalogue was changed outside pad add-items (restore the file, or delete "
                            f"{directory} and add the items again)")
        with parquet_errors(path):
            table = pq.ParquetFile(path, page_checksum_verification=True).read()
        part_ids = table.column("item_id").to_pylist()
        ids += part_ids
        labels += table.column("title" if "title" in table.column_names else "item_id").to_pylist()
        embedding = table.column("embedding").combine_chunks()
        flat = embedding.flatten().to_numpy(zero_copy_only=False)
        vectors.append(flat.astype(np.float32, copy=False).reshape(-1, embedding.type.list_size))
        parts.update(dict.fromkeys(part_ids, path))
    return AddedItems(ids, labels, np.concatenate(vectors) if vectors else AddedItems().vectors, parts)


def encoder_record(embeddings: Path) -> dict[str, Any]:
    """The encoder a dataset's embeddings (``results/{dataset}/embeddings/{encoder}.parquet``) were made
    with: its name, config (from the embed stage's manifest), the file and its vector size."""
    manifest = manifest_path(embeddings)
    if not manifest.is_file():
        raise DataError(f"{manifest}: not found; the dataset's embeddings and their manifest come from the "
                        "workflow's embed stage (run it first)")
    config = read_json(manifest).get("config", {})
    parts = config.get("parts") or []
    if "encoder" not in config and parts:  # a gathered file's manifest lists its parts, whose manifests have it
        workdir = embeddings.parents[3]    # parts are named from the workflow directory, above results/
        part = manifest_path(parts[0] if Path(parts[0]).is_absolute() else workdir / parts[0])
        config = read_json(part).get("config", {}) if part.is_file() else {}
    if "encoder" not in config:
        raise DataError(f"{manifest}: no encoder config recorded; rerun the embed stage: "
                        f"snakemake --forcerun {embeddings}")
    dim = int(read_embeddings_metadata(embeddings)["dim"])
    return {"name": embeddings.stem, "config": config["encoder"], "embeddings": str(embeddings), "dim": dim}


def check_encoder(directory: Path, encoder: dict[str, Any]) -> None:
    """Refuse a catalogue whose vectors came from other encoder settings than the dataset's embeddings
    now do (``encoder``: :func:`encoder_record`): the two would not share a space."""
    record = read_manifest(directory)
    if record is None:
        return
    stored = {k: record["encoder"].get(k) for k in ("name", "config", "dim")}
    if stored != {k: encoder.get(k) for k in stored}:
        raise DataError(f"{directory / MANIFEST}: its items were embedded by encoder {stored['name']!r} with "
                        f"other settings than {encoder['embeddings']} now has; delete {directory} and add the "
                        "items again")


def append_part(directory: Path, rows: pl.DataFrame, vectors: np.ndarray, *, encoder: dict[str, Any],
                source: Path, wall_time_s: float, device: str) -> Path:
    """Write ``rows`` (item_id[, title], the template's columns, text) with their raw ``vectors`` as
    the next part, then the manifest that lists it; returns the part's path.

    ``encoder``: the encoder's name, config and the embeddings file the catalogue's vectors must
    match (the first add records it; later adds must use the same)."""
    record = read_manifest(directory) or {"encoder": encoder, "parts": []}
    number = len(record["parts"]) + 1
    path = directory / f"part-{number:05d}.parquet"
    flat = pa.array(np.ascontiguousarray(vectors, dtype=np.float32).reshape(-1), type=pa.float32())
    embedding = pa.FixedSizeListArray.from_arrays(flat, vectors.shape[1])
    write_parquet(path, rows.to_arrow().append_column("embedding", embedding))
    record["parts"].append({"file": path.name, "sha256": sha256_file(path), "bytes": path.stat().st_size,
                            "items": len(vectors), "source": str(source), "source_sha256": sha256_file(source),
                            "added_unix": time.time(), "wall_time_s": wall_time_s, "device": device})
    record.update(padlib_version=__version__, items=sum(p["items"] for p in record["parts"]))
    write_json(directory / MANIFEST, record)
    return path
