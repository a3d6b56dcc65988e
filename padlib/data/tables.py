"""Users' own data: an interactions table and an items table, as CSV or Parquet.

interactions: ``user``, ``item``, ``timestamp`` and optionally ``rating``, renamed from
the user's own column names via ``columns: {user:, item:, timestamp:, rating:}``.
Timestamps are numbers (unix seconds) or ISO-8601 dates/datetimes (a datetime without
offset is read as UTC). items: ``item`` (renamed via ``item_columns: {item:}``) plus
text columns kept as they are (whatever the item-text template names); ``columns: {item:}`` names
the items table's id column too when it has that column and ``item_columns`` is not given.
Row numbers in messages count data rows from 1 (the header is not a row).
"""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path

import polars as pl

from padlib.data.rawtext import decode_utf8, require_file, text_lines
from padlib.errors import DataError

INTERACTION_COLUMNS = ("user", "item", "timestamp", "rating")
CSV_SEPARATORS = {".csv": ",", ".txt": ",", ".tsv": "\t"}
PARQUET_SUFFIXES = {".parquet", ".pq"}
ISO_NAIVE = ("%Y-%m-%d", "%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S%.f")
ISO_AWARE = ("%Y-%m-%dT%H:%M%z", "%Y-%m-%dT%H:%M:%S%.f%z")


def _check_field_counts(text: str, separator: str, path: Path) -> None:
    """Every non-blank CSV record has as many fields as the header (polars would pad short ones)."""
    if '"' in text:
        _check_quoted_field_counts(text, separator, path)
        return
    lines = text_lines(text)
    counts = lines["text"].str.count_matches(separator, literal=True) + 1
    bad = counts != counts[0]
    if bad.any():
        i = int(bad.arg_max())
        _raise_field_count(path, int(lines["line"][i]), int(lines["line"][i]) - 1, int(counts[i]), int(counts[0]))


def _check_quoted_field_counts(text: str, separator: str, path: Path) -> None:
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=separator)
    expected = None
    for row_number, record in enumerate(reader):
        if not record:
            continue
        if expected is None:
            expected = len(record)
        elif len(record) != expected:
            _raise_field_count(path, reader.line_num, row_number, len(record), expected)


def _raise_field_count(path: Path, line: int, row: int, found: int, expected: int) -> None:
    raise DataError(f"{path}: row {row} (line {line}): {found} fields, expected {expected} as in the header")


def _read_csv(path: Path, separator: str) -> pl.DataFrame:
    raw = path.read_bytes()
    text = decode_utf8(raw, path)
    if not text.strip():
        raise DataError(f"{path}: the file is empty; expected a header line and data rows")
    _check_field_counts(text, separator, path)
    return pl.read_csv(io.StringIO(text), separator=separator, infer_schema=False)


def read_table(path: str | os.PathLike[str], what: str = "table") -> pl.DataFrame:
    """Read a CSV/TSV or Parquet file with every column as given (CSV: all text)."""
    path = require_file(path, what)
    suffix = path.suffix.lower()
    if suffix not in PARQUET_SUFFIXES and suffix not in CSV_SEPARATORS:
        raise DataError(f"{path}: unknown table format {path.suffix!r}; expected .csv, .tsv or .parquet")
    try:
        frame = pl.read_parquet(path) if suffix in PARQUET_SUFFIXES else _read_csv(path, CSV_SEPARATORS[suffix])
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise DataError(f"{path}: cannot be read as a {suffix[1:]} table ({exc})") from exc
    if frame.height == 0:
        raise DataError(f"{path}: the table has no rows; expected the {what}")
    return frame


def _require(frame: pl.DataFrame, columns: dict[str, str], path: Path, key: str) -> None:
    missing = [f"{name!r} (for {role})" if name != role else repr(name) for role, name in columns.items()
               if name not in frame.columns]
    if missing:
        raise DataError(f"{path}: missing column {', '.join(missing)}; the file has {frame.columns} "
                        f"(map your column names with sources.<dataset>.{key})")


def _is_blank(values: pl.Series) -> pl.Series:
    return values.is_null() | (values.cast(pl.Utf8).str.strip_chars() == "").fill_null(True)


def _to_float(frame: pl.DataFrame, column: str, path: Path) -> pl.Series:
    values = frame[column]
    if not values.dtype.is_numeric():
        values = values.cast(pl.Utf8).str.strip_chars().cast(pl.Float64, strict=False)
    values = values.cast(pl.Float64)
    bad = (values.is_null() | ~values.is_finite()).fill_null(True)
    if bad.any():
        row = int(bad.arg_max())
        raise DataError(f"{path}: row {row + 1} column {column!r}: {frame[column][row]!r} is not a number; "
                        "expected a number")
    return values


def _iso_seconds(text: pl.Series) -> pl.Series:
    """Unix seconds of ISO-8601 dates/datetimes (offsets honoured, none = UTC); null where not ISO."""
    norm = (text.str.strip_chars().str.replace(r"^(\d{4}-\d{2}-\d{2}) ", "${1}T")
            .str.replace(r"Z$", "+00:00"))
    parsed = [norm.str.strptime(pl.Datetime("us"), f, strict=False, exact=True) for f in ISO_NAIVE]
    parsed += [norm.str.strptime(pl.Datetime("us", "UTC"), f, strict=False, exact=True).dt.replace_time_zone(None)
               for f in ISO_AWARE]
    micros = parsed[0].dt.epoch("us")
    for other in parsed[1:]:
        micros = micros.fill_null(other.dt.epoch("us"))
    return micros.cast(pl.Float64) / 1e6


def _to_seconds(frame: pl.DataFrame, column: str, path: Path) -> pl.Series:
    """Timestamps as unix seconds from numbers, ISO-8601 strings or Parquet date/datetime columns."""
    values = frame[column]
    if values.dtype == pl.Date or isinstance(values.dtype, pl.Datetime):
        return values.cast(pl.Datetime("us")).dt.epoch("us").cast(pl.Float64) / 1e6
    if values.dtype.is_numeric():
        return _to_float(frame, column, path)
    text = values.cast(pl.Utf8)
    number = text.str.strip_chars().cast(pl.Float64, strict=False)
    if number.is_not_null().all():
        return _to_float(frame, column, path)
    iso = _iso_seconds(text)
    bad = iso.is_null()
    if bad.any():
        row = int(bad.arg_max())
        kind = "a number but other rows are ISO-8601 dates; use one form" if number[row] is not None else \
            "neither a number (unix seconds) nor an ISO-8601 date/datetime such as 2019-11-11 or 2019-11-11T09:05:58Z"
        raise DataError(f"{path}: row {row + 1} column {column!r}: {text[row]!r} is {kind}")
    return iso


def read_interactions(path: str | os.PathLike[str], columns: dict[str, str] | None = None) -> pl.DataFrame:
    """Interactions with columns user, item (text), timestamp (f64 unix seconds) and rating (f64, if present)."""
    path = Path(path)
    frame = read_table(path, "interactions table (user, item, timestamp[, rating])")
    mapping = {name: name for name in INTERACTION_COLUMNS} | (columns or {})
    required = {role: mapping[role] for role in ("user", "item", "timestamp")}
    if columns and "rating" in columns:
        required["rating"] = columns["rating"]
    _require(frame, required, path, "columns")
    out = {
        "user": _as_text(frame.select(mapping["user"]), path).to_series(),
        "item": _as_text(frame.select(mapping["item"]), path).to_series(),
        "timestamp": _to_seconds(frame, mapping["timestamp"], path),
    }
    if mapping["rating"] in frame.columns:
        out["rating"] = _to_float(frame, mapping["rating"], path)
    result = pl.DataFrame(out)
    for role in ("user", "item"):
        blank = _is_blank(result[role])
        if blank.any():
            raise DataError(f"{path}: row {int(blank.arg_max()) + 1} column {mapping[role]!r}: empty {role} id")
    return result


def _as_text(frame: pl.DataFrame, path: Path) -> pl.DataFrame:
    """Every column as text; nested Parquet columns (lists, structs) cannot be item text."""
    nested = [name for name, dtype in frame.schema.items() if dtype.is_nested()]
    if nested:
        raise DataError(f"{path}: column {nested[0]!r} is {frame.schema[nested[0]]}; expected text or numbers")
    return frame.with_columns(pl.all().cast(pl.Utf8))


def read_items(path: str | os.PathLike[str], item_columns: dict[str, str] | None = None,
               interactions_item: str | None = None) -> pl.DataFrame:
    """Items with an ``item`` column and every other (text) column cast to text; exact repeats collapse.

    The id column is ``item_columns.item`` when given, else ``item``, else the interactions' own item
    column name (``interactions_item``, e.g. ``sku`` from ``columns: {item: sku}``) when the items
    table has that column: one rename usually serves both tables."""
    path = Path(path)
    frame = read_table(path, "items table (item plus text columns)")
    item_col = (item_columns or {}).get("item", "item")
    if item_columns is None and item_col not in frame.columns and interactions_item in frame.columns:
        item_col = interactions_item
    _require(frame, {"item": item_col}, path, "item_columns")
    frame = _as_text(frame.rename({item_col: "item"}), path)
    if frame.width < 2:
        raise DataError(f"{path}: only the item column {item_col!r}; expected text columns too (e.g. title)")
    blank = _is_blank(frame["item"])
    if blank.any():
        raise DataError(f"{path}: row {int(blank.arg_max()) + 1} column {item_col!r}: empty item id")
    frame = frame.with_row_index("_row", offset=1)
    distinct = frame.unique(subset=[c for c in frame.columns if c != "_row"], keep="first", maintain_order=True)
    clash = distinct.filter(pl.col("item").is_duplicated())
    if clash.height:
        rows = clash.filter(pl.col("item") == clash["item"][0])
        first, second = rows.row(0, named=True), rows.row(1, named=True)
        differ = [c for c in frame.columns if c not in ("_row", "item") and first[c] != second[c]]
        raise DataError(f"{path}: row {second['_row']}: item {second['item']!r} appears again with a different "
                        f"{', '.join(differ)} than row {first['_row']}; expected one text per item id")
    return distinct.drop("_row")


def check_item_text(interactions: pl.DataFrame, items: pl.DataFrame, inter_path: str | os.PathLike[str],
                    items_path: str | os.PathLike[str]) -> None:
    """Every interacted item needs an items row with some non-empty text (the encoder has nothing else)."""
    missing = interactions.with_row_index("_row", offset=1).join(items.select("item"), on="item", how="anti")
    if missing.height:
        raise DataError(f"{inter_path}: row {missing['_row'][0]}: item {missing['item'][0]!r} has no row in "
                        f"{items_path} ({missing['item'].n_unique()} such items); expected every item in the items table")
    text_columns = [c for c in items.columns if c != "item"]
    empty = items.filter(
        pl.all_horizontal([pl.col(c).is_null() | (pl.col(c).str.strip_chars() == "") for c in text_columns]))
    empty = empty.join(interactions.select("item").unique(), on="item", how="semi", maintain_order="left")
    if empty.height:
        raise DataError(f"{items_path}: item {empty['item'][0]!r} has empty text in every column "
                        f"{text_columns} ({empty.height} such items); expected some text for each interacted item")


def read_own_data(interactions: str | os.PathLike[str], items: str | os.PathLike[str],
                  columns: dict[str, str] | None = None,
                  item_columns: dict[str, str] | None = None) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Both tables, read and cross-checked (every interacted item has text)."""
    inter = read_interactions(interactions, columns)
    item_table = read_items(items, item_columns, (columns or {}).get("item"))
    check_item_text(inter, item_table, interactions, items)
    return inter, item_table
