"""Users' own data: an interactions table and an items table, as CSV or Parquet.

interactions: ``user``, ``item``, ``timestamp`` and optionally ``rating``;
items: ``item`` plus text columns (whatever the item-text template names).
Column names can be mapped from the user's own names via ``columns``.
"""

from __future__ import annotations

import os
from pathlib import Path

import polars as pl

from padlib.errors import DataError


def read_table(path: str | os.PathLike[str]) -> pl.DataFrame:
    """Read a CSV or Parquet file with every column as given (CSV: all text)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    try:
        if path.suffix.lower() in {".parquet", ".pq"}:
            frame = pl.read_parquet(path)
        elif path.suffix.lower() in {".csv", ".tsv", ".txt"}:
            frame = pl.read_csv(path, separator="\t" if path.suffix.lower() == ".tsv" else ",", infer_schema=False)
        else:
            raise DataError(f"{path}: unknown table format {path.suffix!r}; expected .csv, .tsv or .parquet")
    except (pl.exceptions.PolarsError, OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: cannot be read as a table ({exc})") from exc
    if frame.height == 0:
        raise DataError(f"{path}: the table has no rows")
    return frame


def _require(frame: pl.DataFrame, columns: list[str], path: Path) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise DataError(f"{path}: missing column(s) {missing}; the file has {frame.columns}")


def _to_float(frame: pl.DataFrame, column: str, path: Path) -> pl.Series:
    values = frame[column].cast(pl.Utf8).str.strip_chars().cast(pl.Float64, strict=False)
    bad = values.is_null() | values.is_nan()
    if bad.any():
        row = int(bad.arg_max())
        raise DataError(
            f"{path}: row {row + 1} column {column!r}: {frame[column][row]!r} is not a number"
        )
    return values


def read_interactions(path: str | os.PathLike[str], columns: dict[str, str] | None = None) -> pl.DataFrame:
    """Interactions with columns user, item (text), timestamp (f64) and rating (f64, if present)."""
    path = Path(path)
    frame = read_table(path)
    mapping = {"user": "user", "item": "item", "timestamp": "timestamp", "rating": "rating", **(columns or {})}
    _require(frame, [mapping["user"], mapping["item"], mapping["timestamp"]], path)
    out = {
        "user": frame[mapping["user"]].cast(pl.Utf8),
        "item": frame[mapping["item"]].cast(pl.Utf8),
        "timestamp": _to_float(frame, mapping["timestamp"], path),
    }
    if mapping["rating"] in frame.columns:
        out["rating"] = _to_float(frame, mapping["rating"], path)
    result = pl.DataFrame(out)
    for column in ("user", "item"):
        nulls = result[column].is_null()
        if nulls.any():
            raise DataError(f"{path}: row {int(nulls.arg_max()) + 1} has an empty {column!r}")
    return result


def read_items(path: str | os.PathLike[str], columns: dict[str, str] | None = None) -> pl.DataFrame:
    """Items with an ``item`` column (text) and every other column cast to text."""
    path = Path(path)
    frame = read_table(path)
    item_col = (columns or {}).get("item", "item")
    _require(frame, [item_col], path)
    frame = frame.rename({item_col: "item"}).with_columns(pl.all().cast(pl.Utf8))
    duplicated = frame["item"].is_duplicated()
    if duplicated.any():
        row = int(duplicated.arg_max())
        raise DataError(f"{path}: row {row + 1}: item {frame['item'][row]!r} appears more than once")
    return frame
