"""``pad add-items``: new items from a table, embedded with the dataset's encoder, appended to the
served catalogue of a trained model (``padlib.serving.store``).

The encoder is the one the dataset's embeddings were made with, read from their manifest (kind,
model, adapters, template, precision, batch and length limits), so a new item's vector is what the
embed stage would have computed for it. Everything about the input is checked before the LLM
loads, and nothing is written unless every row is good: one ``DataError`` names the file, the row
or column and what was expected.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from padlib.data.tables import read_table
from padlib.errors import DataError
from padlib.io import read_parquet
from padlib.plan import MODEL_DIR
from padlib.serving.store import append_part, catalog_dir, check_encoder, encoder_record, read_added
from padlib.text.template import render_texts, template_fields

ID_COLUMN = "item"


@dataclass(frozen=True)
class Added:
    catalog: Path      # the served catalogue's directory
    part: Path         # the part file this call wrote
    item_ids: list[str]
    first_index: int   # the model-side index of the first added item (N + 1 for the first add)
    seconds: float


def model_directory(results: Path, encoder_cfg: dict[str, Any]) -> Path:
    """The encoder's local model: a prepared wheel model under the workflow directory (the parent of
    ``results``), or the config's path (a relative one read from the workflow directory too)."""
    source = encoder_cfg["model"]
    path = Path(MODEL_DIR.format(name=source["wheel"]) if "wheel" in source else source["path"])
    return path if path.is_absolute() else results.parent / path


def read_new_items(path: Path, template: str, known: dict[str, str]) -> tuple[pl.DataFrame, list[str]]:
    """The new items (item_id[, title], the template's columns) and their texts, or a DataError naming
    the file, the row or column: a missing column, an empty or repeated id, an id ``known`` already
    maps to the file that holds it, an item whose template renders no text."""
    frame = read_table(path, f"new items table ({ID_COLUMN} plus the template's columns)")
    fields = template_fields(template)
    missing = [c for c in [ID_COLUMN, *fields] if c not in frame.columns]
    if missing:
        raise DataError(f"{path}: missing column(s) {missing}; expected {ID_COLUMN!r} and the columns of the "
                        f"dataset's template {template!r} (the file has {frame.columns})")
    keep = [ID_COLUMN, *dict.fromkeys(c for c in ["title", *fields] if c in frame.columns and c != ID_COLUMN)]
    nested = [c for c in keep if frame.schema[c].is_nested()]
    if nested:
        raise DataError(f"{path}: column {nested[0]!r} is {frame.schema[nested[0]]}; expected text or numbers")
    frame = frame.select(keep).with_columns(pl.all().cast(pl.Utf8)).rename({ID_COLUMN: "item_id"})
    blank = (frame["item_id"].str.strip_chars() == "").fill_null(True)
    if blank.any():
        raise DataError(f"{path}: row {int(blank.arg_max()) + 1} column {ID_COLUMN!r}: empty item id")
    repeated = frame["item_id"].is_duplicated()
    if repeated.any():
        item = frame["item_id"][int(repeated.arg_max())]
        rows = [i + 1 for i, v in enumerate(frame["item_id"].to_list()) if v == item]
        raise DataError(f"{path}: rows {rows} column {ID_COLUMN!r}: item id {item!r} appears {len(rows)} times; "
                        "expected each new item once")
    for row, item in enumerate(frame["item_id"].to_list(), 1):
        if item in known:
            raise DataError(f"{path}: row {row} column {ID_COLUMN!r}: item id {item!r} already exists (in "
                            f"{known[item]}); expected a new item")
    empty = frame.select(pl.all_horizontal([(pl.col(c).str.strip_chars() == "").fill_null(True) for c in fields]))
    empty = empty.to_series() if fields else pl.Series([False] * frame.height)
    if empty.any():
        row = int(empty.arg_max())
        raise DataError(f"{path}: row {row + 1} (item {frame['item_id'][row]!r}) has no text: the template's "
                        f"column(s) {fields} are empty; expected the item's text")
    texts = render_texts(frame, template, source=str(path))
    return frame.with_columns(pl.Series("text", texts)), texts


def add_items(results: str | os.PathLike[str], dataset: str, items: str | os.PathLike[str], *,
              backbone: str | None = None, seed: int | None = None, encoder: str | None = None,
              variant: str = "pad", model_dir: str | os.PathLike[str] | None = None, device: str = "auto",
              progress: bool = False) -> Added:
    """Embed the items of table ``items`` with the dataset's encoder and append them to the served
    catalogue of the trained model ``find_model`` picks; ``pad recommend`` then ranks them too."""
    from padlib.serving.served import find_model
    from padlib.text.encoder import encode, load_text_encoder

    start = time.perf_counter()
    results, items = Path(results), Path(items)
    model_path = find_model(results, dataset, backbone, seed, encoder, variant)
    record = encoder_record(results / dataset / "embeddings" / f"{model_path.parents[1].name}.parquet")
    cfg = record["config"]
    directory = catalog_dir(model_path)
    data_items = results / dataset / "data" / "items.parquet"
    known = dict.fromkeys(read_parquet(data_items, ["item_id"])["item_id"].cast(pl.Utf8).to_list(), str(data_items))
    added = read_added(directory)
    check_encoder(directory, record)
    known.update({item: str(path) for item, path in added.parts.items()})
    frame, texts = read_new_items(items, cfg["template"], known)
    folder = Path(model_dir) if model_dir is not None else model_directory(results, cfg)
    if not (folder / "config.json").is_file():
        raise DataError(f"{folder}: no model there (no config.json); encoder {record['name']!r} of {dataset} loads "
                        f"from it: prepare it (snakemake {folder}) or pass --model-dir")
    text_encoder = load_text_encoder(folder, cfg["kind"], device=device, dtype=cfg.get("dtype", "auto"),
                                     bidirectional=cfg.get("bidirectional", True), adapters=cfg.get("adapters", []))
    vectors = encode(text_encoder, texts, batch_size=cfg.get("batch_size", 32), max_length=cfg.get("max_length", 512),
                     progress=progress, max_tokens=cfg.get("max_tokens"))
    if vectors.shape[1] != record["dim"]:
        raise DataError(f"{folder}: encodes {vectors.shape[1]}-d vectors, but {record['embeddings']} holds "
                        f"{record['dim']}-d ones; pass the encoder's own model with --model-dir")
    bad = np.flatnonzero(~np.isfinite(vectors).all(1))
    if bad.size:
        raise DataError(f"{items}: row {int(bad[0]) + 1}: the encoder at {folder} gave a non-finite vector")
    n_items = read_parquet(data_items, ["item_idx"]).height
    part = append_part(directory, frame, vectors, encoder=record, source=items,
                       wall_time_s=time.perf_counter() - start, device=str(text_encoder.device))
    return Added(directory, part, frame["item_id"].to_list(), n_items + len(added) + 1, time.perf_counter() - start)
