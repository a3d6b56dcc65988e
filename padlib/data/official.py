"""The official PAD repository's dataset layout (the paper's own Amazon Prime Pantry data).

The ``dataset/`` folder of github Applied-Machine-Learning-Lab/PAD holds, for a dataset
``<Name>`` (e.g. ``Prime_Pantry``):

- ``<Name>_cleaned_history.csv``: header ``,user,history`` — a row index, the user id and
  the user's items as a Python list literal of item ids (ASINs), oldest first, e.g.
  ``"['B00099XNXS', 'B00UBJQHMU']"``. One row per user.
- ``metadata_<Name>.csv``: header ``asin,title``, one row per item (the official code
  numbers items by this row order, row 0 -> item 1). The title is the item text.

Both are comma-separated with ``"``-quoting (CSV). The list literal is matched by a strict
pattern — ids in single or double quotes, no escapes, separated by commas — and never
evaluated. Repeated purchases stay in the sequence. The files have no timestamps and no
ratings: an item's timestamp is its position in the user's list (0, 1, ...), so the
protocol's stable time sort keeps the list order, and ``protocol.min_rating`` must be null.

Row numbers in messages count data rows from 1 (the header is not a row); the line is the
file line where that row starts.
"""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path

import polars as pl

from padlib.data.rawtext import decode_utf8, first_bad, read_bytes, require_file
from padlib.errors import DataError

HISTORY_WHAT = "official PAD history CSV (,user,history)"
METADATA_WHAT = "official PAD metadata CSV (asin,title)"
ITEM_ID = r"'[^'\\\r\n]+'|\"[^\"\\\r\n]+\""
ITEM_LIST = rf"^[ \t]*\[[ \t]*(?:(?:{ITEM_ID})(?:[ \t]*,[ \t]*(?:{ITEM_ID}))*[ \t]*,?[ \t]*)?\][ \t]*$"
LIST_EXAMPLE = "['B00099XNXS', 'B00UBJQHMU']"


def official_paths(folder: str | os.PathLike[str], name: str) -> dict[str, str]:
    """The two files of dataset ``name`` in an official ``dataset/`` folder: history and metadata."""
    folder = Path(folder)
    return {"history": str(folder / f"{name}_cleaned_history.csv"), "metadata": str(folder / f"metadata_{name}.csv")}


def _show(value: str, limit: int = 80) -> str:
    return repr(value if len(value) <= limit else value[:limit] + "...")


def _read_csv(path: Path, columns: tuple[str, ...], what: str) -> pl.DataFrame:
    """The named columns (text) of a headed CSV plus ``row`` (data row, from 1) and ``line`` (its first line)."""
    text = decode_utf8(read_bytes(path, what), path)
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    header: list[str] | None = None
    records: list[list[str]] = []
    lines: list[int] = []
    start = 1
    try:
        for record in reader:
            line, start = start, reader.line_num + 1
            if not record:
                continue
            if header is None:
                header = record
                missing = [c for c in columns if c not in header]
                if missing:
                    raise DataError(f"{path}: line {line}: missing column {', '.join(map(repr, missing))}; the header "
                                    f"has {header}; expected the {what}")
                picks = [header.index(c) for c in columns]
                continue
            if len(record) != len(header):
                raise DataError(f"{path}: row {len(records) + 1} (line {line}): {len(record)} fields, expected "
                                f"{len(header)} as in the header {header}")
            records.append([record[i] for i in picks])
            lines.append(line)
    except csv.Error as exc:
        raise DataError(f"{path}: line {reader.line_num}: malformed CSV ({exc}); expected comma-separated fields, "
                        'quoted with " where they hold commas') from exc
    if not records:
        raise DataError(f"{path}: the table has no rows; expected the {what}")
    return pl.DataFrame({"row": range(1, len(records) + 1), "line": lines,
                         **{c: [r[i] for r in records] for i, c in enumerate(columns)}},
                        schema={"row": pl.Int64, "line": pl.Int64, **{c: pl.Utf8 for c in columns}})


def _check_unique(frame: pl.DataFrame, column: str, path: Path, what: str) -> None:
    """Each value of ``column`` on one row only; the error names the repeat and the first row."""
    row = first_bad(frame, ~frame[column].is_first_distinct())
    if row is not None:
        first = frame.filter(pl.col(column) == row[column]).row(0, named=True)
        raise DataError(f"{path}: row {row['row']} (line {row['line']}): {column} {row[column]!r} appears again "
                        f"(first at row {first['row']}, line {first['line']}); expected {what}")


def read_metadata(path: Path) -> pl.DataFrame:
    """item (asin), title (stripped, non-empty), row, line; one row per asin, in file order."""
    meta = _read_csv(path, ("asin", "title"), METADATA_WHAT)
    row = first_bad(meta, meta["asin"].str.strip_chars() == "")
    if row is not None:
        raise DataError(f"{path}: row {row['row']} (line {row['line']}): empty asin; expected an item id")
    _check_unique(meta, "asin", path, "one row per asin")
    meta = meta.with_columns(pl.col("title").str.strip_chars())
    row = first_bad(meta, meta["title"] == "")
    if row is not None:
        raise DataError(f"{path}: row {row['row']} (line {row['line']}): asin {row['asin']!r} has an empty title; "
                        "expected a title (the item text) for every item")
    return meta.rename({"asin": "item"})


def read_history(path: Path) -> pl.DataFrame:
    """user, item, timestamp (position in the list, f64), row, line: one row per list entry, repeats kept."""
    history = _read_csv(path, ("user", "history"), HISTORY_WHAT)
    row = first_bad(history, history["user"].str.strip_chars() == "")
    if row is not None:
        raise DataError(f"{path}: row {row['row']} (line {row['line']}): empty user id; expected a user id in "
                        "column 'user'")
    _check_unique(history, "user", path, "one row per user holding the whole history")
    row = first_bad(history, ~history["history"].str.contains(ITEM_LIST))
    if row is not None:
        raise DataError(f"{path}: row {row['row']} (line {row['line']}): history {_show(row['history'])} is not a "
                        f"list of quoted item ids; expected a Python list literal such as {LIST_EXAMPLE} (non-empty "
                        "ids in single or double quotes, separated by commas, no escapes)")
    entries = history.select("user", "row", "line", pl.col("history").str.extract_all(ITEM_ID).alias("item"))
    entries = (entries.with_columns(pl.int_ranges(0, pl.col("item").list.len()).alias("timestamp"))
               .explode("item", "timestamp").filter(pl.col("item").is_not_null()))
    return entries.select("user", pl.col("item").str.slice(1, pl.col("item").str.len_chars() - 2),
                          pl.col("timestamp").cast(pl.Float64), "row", "line")


def read_official(history: str | os.PathLike[str],
                  metadata: str | os.PathLike[str]) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Return (interactions: user, item, timestamp; items: item, title) of an official-layout dataset."""
    history_path = require_file(history, HISTORY_WHAT)
    metadata_path = require_file(metadata, METADATA_WHAT)
    inter = read_history(history_path)
    items = read_metadata(metadata_path)
    missing = inter.join(items.select("item"), on="item", how="anti", maintain_order="left")
    if missing.height:
        row = missing.row(0, named=True)
        raise DataError(f"{history_path}: row {row['row']} (line {row['line']}): item {row['item']!r} has no row in "
                        f"{metadata_path} ({missing['item'].n_unique()} such items); expected every history item "
                        "in the metadata's asin column")
    return inter.select("user", "item", "timestamp"), items.select("item", "title")
