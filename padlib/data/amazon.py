"""Amazon Review Data (2018): a ratings-only CSV and a ``meta_<Category>.json.gz`` file.

Ratings: no header, ``item,user,rating,timestamp`` (unix seconds). Meta: one JSON
object per line with at least ``asin`` and ``title`` (other keys ignored). Items need
a non-empty title to have text for the encoder: interactions with untitled items are
dropped (and reported as a ``Dropped`` record), as the paper's preprocessing does. Positives are
decided later by the protocol's ``min_rating``.
"""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import polars as pl

from padlib.data.drops import Dropped
from padlib.data.rawtext import (UTF8_BOM, decode_utf8, first_bad, line_count, parse_float, read_bytes, read_fields,
                                  require_file, text_lines)
from padlib.errors import DataError

RATING_FIELDS = ["item", "user", "rating", "timestamp"]
META_SCHEMA = {"asin": pl.Utf8, "title": pl.Utf8}


def read_ratings(path: Path) -> pl.DataFrame:
    """user, item, rating (f64), timestamp (f64) in file order."""
    frame = read_fields(path, ",", RATING_FIELDS, "Amazon ratings CSV (item,user,rating,timestamp)")
    for column in ("item", "user"):
        row = first_bad(frame, frame[column].str.strip_chars() == "")
        if row is not None:
            raise DataError(f"{path}: line {row['line']}: empty {column}; expected item,user,rating,timestamp")
    rating = parse_float(frame, "rating", path, "a number such as 4.0")
    timestamp = parse_float(frame, "timestamp", path, "unix seconds such as 1420070400")
    return frame.select("user", "item", "line").with_columns(rating=rating, timestamp=timestamp)


def _locate_bad_json(lines: pl.DataFrame, path: Path) -> None:
    """Raise for the first line that is not a JSON object with a string title (slow; only after a failure)."""
    for number, text in lines.select("line", "text").iter_rows():
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as exc:
            raise DataError(f"{path}: line {number}: not JSON ({exc.msg} at column {exc.colno}); expected one JSON "
                            "object per line (Amazon 2018 format; the 2014 files hold Python literals)") from exc
        if not isinstance(obj, dict):
            raise DataError(f"{path}: line {number}: a JSON {type(obj).__name__}, expected an object with 'asin'")
        if not isinstance(obj.get("title", ""), str):
            raise DataError(f"{path}: line {number}: 'title' is a {type(obj['title']).__name__}; expected a string")


def _parse_meta(raw: bytes, path: Path) -> pl.DataFrame:
    """asin, title and line number of every non-blank line (title null when absent)."""
    lines = text_lines(decode_utf8(raw, path))
    if lines.height == line_count(raw):
        body = raw.removeprefix(UTF8_BOM)
    else:
        body = lines["text"].str.join("\n").item().encode()
    try:
        meta = pl.read_ndjson(io.BytesIO(body), schema=META_SCHEMA)
    except pl.exceptions.PolarsError as exc:
        _locate_bad_json(lines, path)
        raise DataError(f"{path}: cannot be read as JSON lines ({exc}); expected one JSON object per line") from exc
    if meta.height != lines.height:
        _locate_bad_json(lines, path)
        raise DataError(f"{path}: {meta.height} JSON objects on {lines.height} lines; expected one object per line")
    return meta.with_columns(lines["line"])


def read_meta(path: Path) -> pl.DataFrame:
    """item, title (stripped, non-empty); one row per asin."""
    meta = _parse_meta(read_bytes(path, "Amazon meta JSON lines"), path)
    meta = meta.with_columns(pl.col("title").fill_null("").str.strip_chars())
    row = first_bad(meta, meta["asin"].fill_null("").str.strip_chars() == "")
    if row is not None:
        raise DataError(f"{path}: line {row['line']}: no 'asin'; expected every meta object to have an asin")
    titled = meta.filter(pl.col("title") != "").rename({"asin": "item"})
    distinct = titled.unique(subset=["item", "title"], keep="first", maintain_order=True)
    clash = distinct.filter(pl.col("item").is_duplicated())
    if clash.height:
        rows = clash.filter(pl.col("item") == clash["item"][0])
        first, second = rows.row(0, named=True), rows.row(1, named=True)
        raise DataError(f"{path}: line {second['line']}: asin {second['item']!r} has title {second['title']!r} but "
                        f"line {first['line']} gave {first['title']!r}; expected one title per asin")
    return distinct.select("item", "title")


def read_amazon(ratings: str | os.PathLike[str], meta: str | os.PathLike[str],
                dropped: list[Dropped] | None = None) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Return (interactions: user, item, rating, timestamp; items: item, title), untitled items dropped.

    The ratings left out for want of a title are appended to ``dropped`` (when given).
    """
    ratings_path = require_file(ratings, "Amazon ratings CSV (item,user,rating,timestamp)")
    meta_path = require_file(meta, "Amazon meta_<Category>.json.gz")
    inter = read_ratings(ratings_path)
    items = read_meta(meta_path)
    kept = inter.join(items.select("item"), on="item", how="semi", maintain_order="left")
    if kept.height < inter.height and dropped is not None:
        n_items = inter.join(items.select("item"), on="item", how="anti")["item"].n_unique()
        dropped.append(Dropped(file=str(ratings_path), what="ratings",
                               reason=f"on {n_items} items without a title in {meta_path}",
                               rows=inter.height - kept.height, total=inter.height))
    if kept.height == 0:
        raise DataError(f"{ratings_path}: none of the {inter['item'].n_unique()} rated items has a title in {meta_path}; "
                        "expected the meta file of the same category")
    return kept.select("user", "item", "rating", "timestamp"), items
