"""MIND (Microsoft News Dataset) in its published TSV format.

``behaviors.tsv``: impression_id, user_id, time (``11/11/2019 9:05:58 AM``), history
(space-separated news ids, the user's clicks before the logging period, oldest first)
and impressions (``N123-1 N456-0``, 1 = clicked). ``news.tsv``: news_id, category,
subcategory, title, abstract, url, title_entities, abstract_entities. No header.

A user's click sequence is the history of their earliest impression followed by the
clicked news of every impression in time order, repeats dropped (first occurrence
kept). The protocol sorts by timestamp with ties in row order, so the timestamps
written here encode exactly that order: history item k of n gets
``first_impression_time - (n - k)`` seconds (strictly before any click), a click gets
its impression's unix time, and rows are emitted in sequence order so several clicks
of one impression (or impressions in the same second) keep theirs.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import polars as pl

from padlib.data.drops import Dropped
from padlib.data.rawtext import first_bad, read_fields, require_file
from padlib.errors import DataError

BEHAVIOR_FIELDS = ["impression_id", "user", "time", "history", "impressions"]
NEWS_FIELDS = ["item", "category", "subcategory", "title", "abstract", "url", "title_entities", "abstract_entities"]
ITEM_COLUMNS = ["item", "title", "abstract", "category", "subcategory"]
TIME_FORMAT = "%m/%d/%Y %I:%M:%S %p"
TOKENS = r"\S+"
LABELLED_TOKEN = r"\S+-[01]"
LABELLED = LABELLED_TOKEN + r"(?:\s|$)"
CLICKED = r"\S+-1(?:\s|$)"


def _read_behaviors_file(path: Path, file_index: int) -> pl.DataFrame:
    """One behaviors file: user, time (unix s), history, impressions, file, line."""
    frame = read_fields(path, "\t", BEHAVIOR_FIELDS, "MIND behaviors.tsv")
    row = first_bad(frame, frame["user"].str.strip_chars() == "")
    if row is not None:
        raise DataError(f"{path}: line {row['line']}: empty user_id; expected a user id in field 2")
    time = frame["time"].str.strip_chars().str.strptime(pl.Datetime("us"), TIME_FORMAT, strict=False)
    row = first_bad(frame, time.is_null())
    if row is not None:
        raise DataError(f"{path}: line {row['line']}: time {row['time']!r} is not a date; "
                        "expected MIND's format like '11/11/2019 9:05:58 AM'")
    return frame.select(
        "user", "history", "impressions", "line",
        (time.dt.epoch("s").cast(pl.Float64)).alias("time"),
        pl.lit(file_index, pl.Int32).alias("file"),
    )


def _read_behaviors(paths: list[Path]) -> pl.DataFrame:
    """All behaviors files, one row per impression, with ``order`` = rank by (time, file, line).

    Rows are concatenated in (file, line) order, so an ordinal rank of time breaks ties by
    file then line without sorting the (large) text columns.
    """
    frame = pl.concat([_read_behaviors_file(p, i) for i, p in enumerate(paths)])
    return frame.with_columns(pl.col("time").rank("ordinal").alias("order"))


def _history_rows(behaviors: pl.DataFrame) -> pl.DataFrame:
    """History of each user's earliest impression, timed just before it, oldest first."""
    first = behaviors.filter(pl.col("order") == pl.col("order").min().over("user"))
    items = (first.select("user", "time", "file", "line", pl.col("history").str.extract_all(TOKENS).alias("item"))
             .explode("item").filter(pl.col("item").is_not_null()))
    n = pl.len().over("user")
    pos = pl.int_range(pl.len()).over("user")
    return items.select(
        "user", "item", (pl.col("time") - (n - pos).cast(pl.Float64)).alias("timestamp"),
        pl.lit(0, pl.UInt32).alias("order"), "file", "line",
    )


def _check_impressions(behaviors: pl.DataFrame, paths: list[Path]) -> None:
    """Every impression token has the ``<news id>-<0|1>`` form (MIND test sets have no labels)."""
    bad = (behaviors["impressions"].str.count_matches(LABELLED)
           != behaviors["impressions"].str.count_matches(TOKENS))
    row = first_bad(behaviors, bad)
    if row is not None:
        token = next(t for t in row["impressions"].split() if not re.fullmatch(LABELLED_TOKEN, t))
        raise DataError(f"{paths[row['file']]}: line {row['line']}: impression {token!r} is malformed; "
                        "expected <news id>-1 (clicked) or <news id>-0 (not clicked)")


def _click_rows(behaviors: pl.DataFrame, paths: list[Path]) -> pl.DataFrame:
    """Clicked (``-1``) news of every impression, in impression-time order then position."""
    _check_impressions(behaviors, paths)
    clicks = (behaviors.select("user", "time", "order", "file", "line",
                               pl.col("impressions").str.extract_all(CLICKED).alias("item"))
              .explode("item").filter(pl.col("item").is_not_null()))
    return clicks.select(
        "user", pl.col("item").str.strip_chars().str.strip_suffix("-1"), pl.col("time").alias("timestamp"),
        pl.col("order") + 1, "file", "line",
    ).sort("order", maintain_order=True)


def _read_news(paths: list[Path]) -> pl.DataFrame:
    """Union of the news files; identical repeats collapse, conflicting ones are an error."""
    frames = [read_fields(p, "\t", NEWS_FIELDS, "MIND news.tsv")
              .with_columns(pl.lit(i, pl.Int32).alias("file")) for i, p in enumerate(paths)]
    news = pl.concat(frames).select(*ITEM_COLUMNS, "file", "line")
    row = first_bad(news, news["item"].str.strip_chars() == "")
    if row is not None:
        raise DataError(f"{paths[row['file']]}: line {row['line']}: empty news_id; expected a news id in field 1")
    distinct = news.unique(subset=ITEM_COLUMNS, keep="first", maintain_order=True)
    clash = distinct.filter(pl.col("item").is_duplicated())
    if clash.height:
        _raise_conflict(clash.filter(pl.col("item") == clash["item"][0]), paths)
    return distinct


def _raise_conflict(rows: pl.DataFrame, paths: list[Path]) -> None:
    first, second = rows.row(0, named=True), rows.row(1, named=True)
    fields = [c for c in ITEM_COLUMNS[1:] if first[c] != second[c]]
    raise DataError(
        f"{paths[second['file']]}: line {second['line']}: news id {second['item']!r} has a different {', '.join(fields)} "
        f"than at {paths[first['file']]} line {first['line']} ({first[fields[0]]!r} vs {second[fields[0]]!r}); "
        "expected one text per news id across the news files"
    )


def _check_items(interactions: pl.DataFrame, news: pl.DataFrame, behaviors: list[Path], news_paths: list[Path]) -> None:
    """Every clicked or history news id needs a news row with a non-empty title."""
    missing = interactions.join(news, on="item", how="anti")
    if missing.height:
        row = missing.row(0, named=True)
        raise DataError(
            f"{behaviors[row['file']]}: line {row['line']}: news id {row['item']!r} has no row in the news file(s) "
            f"{[str(p) for p in news_paths]} ({missing['item'].n_unique()} such ids); expected every history and "
            "clicked news id in news.tsv (pass the news.tsv of the same MIND split)"
        )
    untitled = news.filter(pl.col("title").str.strip_chars() == "").join(interactions.select("item"), on="item",
                                                                          how="semi")
    if untitled.height:
        row = untitled.row(0, named=True)
        raise DataError(f"{news_paths[row['file']]}: line {row['line']}: news id {row['item']!r} has an empty title; "
                        "expected a title for every news a user clicked")


def read_mind(behaviors: list[str | os.PathLike[str]], news: list[str | os.PathLike[str]],
              dropped: list[Dropped] | None = None) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Return (interactions: user, item, timestamp; items: item, title, abstract, category, subcategory).

    The repeated (user, news) rows left out are appended to ``dropped`` (when given).
    """
    if not behaviors or not news:
        raise DataError("MIND needs at least one behaviors.tsv and one news.tsv")
    behavior_paths = [require_file(p, "MIND behaviors.tsv") for p in behaviors]
    news_paths = [require_file(p, "MIND news.tsv") for p in news]
    impressions = _read_behaviors(behavior_paths)
    every = pl.concat([_history_rows(impressions), _click_rows(impressions, behavior_paths)])
    rows = every.filter(pl.struct("user", "item").is_first_distinct())
    if rows.height < every.height and dropped is not None:
        dropped.append(Dropped(file=", ".join(map(str, behavior_paths)), what="history entries and clicks",
                               reason="that repeat a news id the same user already had (the first is kept)",
                               rows=every.height - rows.height, total=every.height))
    items = _read_news(news_paths)
    _check_items(rows, items, behavior_paths, news_paths)
    return rows.select("user", "item", "timestamp"), items.select(ITEM_COLUMNS)
