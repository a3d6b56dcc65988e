"""MovieLens-100k as shipped inside the pinned ``recbole==1.2.1`` wheel.

The wheel is only downloaded and read with zipfile, never installed or committed
(the MovieLens licence forbids redistribution).
"""

from __future__ import annotations

import io
import os

import polars as pl

from padlib.errors import DataError
from padlib.fetch import read_member

ML100K_PREFIX = "recbole/dataset_example/ml-100k/ml-100k"


def _read_atomic_file(raw: bytes, name: str) -> pl.DataFrame:
    """Read a RecBole atomic file (tab separated, ``field:type`` headers), all columns as text."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DataError(f"{name}: not UTF-8 text ({exc})") from exc
    frame = pl.read_csv(io.StringIO(text), separator="\t", infer_schema=False, quote_char=None)
    return frame.rename({c: c.split(":")[0] for c in frame.columns})


def read_movielens_100k(wheel_path: str | os.PathLike[str]) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Return (interactions, items) with the protocol's column names.

    interactions: user, item, rating (f64), timestamp (f64), in file order.
    items: item, title, year, genres.
    """
    inter_name = f"{wheel_path}!{ML100K_PREFIX}.inter"
    inter = _read_atomic_file(read_member(wheel_path, f"{ML100K_PREFIX}.inter"), inter_name)
    items = _read_atomic_file(read_member(wheel_path, f"{ML100K_PREFIX}.item"), f"{wheel_path}!{ML100K_PREFIX}.item")
    inter = inter.select(
        pl.col("user_id").alias("user"),
        pl.col("item_id").alias("item"),
        pl.col("rating").cast(pl.Float64),
        pl.col("timestamp").cast(pl.Float64),
    )
    items = items.select(
        pl.col("item_id").alias("item"),
        pl.col("movie_title").alias("title"),
        pl.col("release_year").fill_null("").alias("year"),
        pl.col("class").fill_null("").alias("genres"),
    )
    return inter, items
