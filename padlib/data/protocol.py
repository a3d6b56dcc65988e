"""The PAD data protocol (paper Appendix A and the official code).

Positive interactions only, each user's interactions sorted by time (ties keep
file order), users with fewer than ``min_user_interactions`` dropped, the latest
``max_sequence_length`` kept, items re-indexed 1..N (0 is padding). Leave-one-out:
validation predicts item l-1 and test item l, each from at most ``max_input_length``
preceding items; training uses every earlier position as a next-item target.
Items are cut into ``n_buckets`` frequency buckets of equal training-interaction mass
(bucket 1 is the warmest); items never seen in training go to the last bucket. Two rules
(``bucket_rule``): ``mass`` puts an item in bucket floor(B · mass before it / total) + 1;
``official`` closes a bucket once its own mass reaches total / B, which reproduces the official
code's hard-coded Prime Pantry boundaries (``data_utils/dataset.py``) from Prime_Pantry_fre.csv.

New items (``new_items.share`` > 0): a seeded share of the items is held out of training, as if
they had been listed after it: their interactions leave every training prefix (so the training
positions, the validation histories, the known-prefix mask and the frequency counts never hold
them; they land in the coldest bucket), while validation and test targets keep them, and the test
history keeps a held-out validation target (bought after training). ``items.held_out`` marks them
for training, which never samples them as negatives.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from padlib.errors import DataError


BUCKET_RULES = ("mass", "official")
# ``latest``: a user's latest max_sequence_length interactions; ``official``: the official Amazon
# preprocessing (dataset/preprocessing/clean.py), which keeps a user with up to that many whole and
# cuts a longer one to one fewer (``iloc[start + l - 22:start + l]`` for ``l > 23``).
TRUNCATIONS = ("latest", "official")


@dataclass(frozen=True)
class NewItems:
    """``share`` of the items held out of training (0: none), drawn with ``seed``."""

    share: float = 0.0
    seed: int = 0


@dataclass(frozen=True)
class ProtocolConfig:
    min_rating: float | None = 4.0
    min_user_interactions: int = 5
    max_sequence_length: int = 23
    max_input_length: int = 20
    n_buckets: int = 10
    bucket_rule: str = "mass"
    truncate: str = "latest"
    new_items: NewItems = NewItems()

    def __post_init__(self) -> None:
        if isinstance(self.new_items, dict):  # as the config gives it
            object.__setattr__(self, "new_items", NewItems(**self.new_items))
        if not 0.0 <= self.new_items.share < 1.0:
            raise DataError(f"protocol.new_items.share: {self.new_items.share} must be in [0, 1)")
        if self.truncate not in TRUNCATIONS:
            raise DataError(f"protocol.truncate: {self.truncate!r} is not one of {list(TRUNCATIONS)}")
        if self.bucket_rule not in BUCKET_RULES:
            raise DataError(f"protocol.bucket_rule: {self.bucket_rule!r} is not one of {list(BUCKET_RULES)}")
        if self.min_user_interactions < 3:
            raise DataError("protocol.min_user_interactions must be >= 3 (train, validation and test need one item each)")
        if self.max_sequence_length < self.min_user_interactions:
            raise DataError("protocol.max_sequence_length must be >= protocol.min_user_interactions")


@dataclass
class ProtocolResult:
    items: pl.DataFrame      # item_idx, item_id, <text columns>, train_freq, bucket, held_out
    sequences: pl.DataFrame  # user_idx, user_id, items (list[int32], chronological)
    splits: pl.DataFrame     # user_idx, split (valid/test), history (list[int32]), target (int32)


def _natural_order(ids: pl.Series) -> pl.Series:
    """Sorted unique ids: numerically when every id is an integer, else lexicographically."""
    unique = ids.unique()
    as_int = unique.cast(pl.Int64, strict=False)
    if as_int.null_count() == 0:
        return unique.to_frame("id").with_columns(as_int.alias("k")).sort("k")["id"]
    return unique.sort()


def _index(ids: pl.Series, name: str) -> pl.DataFrame:
    ordered = _natural_order(ids)
    return pl.DataFrame({f"{name}_id": ordered, f"{name}_idx": np.arange(1, len(ordered) + 1, dtype=np.int32)})


def frequency_buckets(train_freq: np.ndarray, n_buckets: int, rule: str = "mass") -> np.ndarray:
    """Bucket per item (index 0 = padding, gets 0) by equal shares of training interaction mass.

    Items are sorted by frequency (descending, ties by index). ``mass``: an item's bucket is
    ``floor(B * mass_before / total) + 1``. ``official``: walking down that order, a bucket closes
    after the item that brings its own mass to total / B or more (the last takes the rest); the
    official code's boundaries for Prime Pantry come out exactly, though within a tie at a boundary
    its order is numpy's unstable quicksort's, here the item index. Items with zero frequency go
    to bucket B under both.
    """
    freq = np.asarray(train_freq, dtype=np.int64)
    buckets = np.zeros(len(freq), dtype=np.int32)
    items = np.arange(1, len(freq))
    order = items[np.lexsort((items, -freq[items]))]
    total = freq[order].sum()
    if total == 0:
        buckets[1:] = n_buckets
        return buckets
    if rule == "official":
        bucket = _greedy_buckets(freq[order], total, n_buckets)
    else:
        mass_before = np.concatenate([[0], np.cumsum(freq[order])[:-1]])
        bucket = np.floor(n_buckets * mass_before / total).astype(np.int32) + 1
    bucket = np.minimum(bucket, n_buckets)
    bucket[freq[order] == 0] = n_buckets
    buckets[order] = bucket
    return buckets


def _greedy_buckets(sorted_freq: np.ndarray, total: int, n_buckets: int) -> np.ndarray:
    """Buckets 1..B along frequencies sorted in descending order, each closed once its own mass
    times B reaches the total (integer arithmetic: no rounding at the boundary)."""
    bucket = np.empty(len(sorted_freq), dtype=np.int32)
    current, mass = 1, 0
    for pos, f in enumerate(sorted_freq.tolist()):
        bucket[pos] = current
        mass += f
        if mass * n_buckets >= total and current < n_buckets:
            current, mass = current + 1, 0
    return bucket


def held_out_items(n_items: int, new_items: NewItems) -> np.ndarray:
    """Bool [N + 1]: the items held out of training, ``round(share · N)`` of them drawn uniformly
    without replacement with the seed (the same items for every model of a dataset)."""
    held = np.zeros(n_items + 1, dtype=bool)
    count = int(round(new_items.share * n_items))
    if count:
        held[np.random.default_rng(new_items.seed).choice(n_items, size=count, replace=False) + 1] = True
    return held


def apply_protocol(interactions: pl.DataFrame, items: pl.DataFrame, config: ProtocolConfig,
                   source: str = "interactions") -> ProtocolResult:
    """Run the protocol on raw interactions (user, item, timestamp[, rating]) and items (item, text...)."""
    frame = interactions.with_row_index("_row")
    if config.min_rating is not None:
        if "rating" not in frame.columns:
            raise DataError(f"{source}: protocol.min_rating is {config.min_rating} but there is no 'rating' column; "
                            "set min_rating to null for implicit feedback")
        frame = frame.filter(pl.col("rating") >= config.min_rating)
    unknown = frame.join(items.select("item"), on="item", how="anti")
    if unknown.height:
        raise DataError(
            f"{source}: row {int(unknown['_row'][0]) + 1}: item {unknown['item'][0]!r} has no row in the items table "
            f"({unknown['item'].n_unique()} such items)"
        )
    frame = frame.sort(["user", "timestamp", "_row"])
    frame = frame.with_columns(
        pl.len().over("user").cast(pl.Int64).alias("_n"),
        pl.int_range(pl.len()).over("user").alias("_pos"),
    ).filter(pl.col("_n") >= config.min_user_interactions)
    keep = pl.lit(config.max_sequence_length)
    if config.truncate == "official":
        keep = pl.when(pl.col("_n") > config.max_sequence_length).then(keep - 1).otherwise(keep)
    frame = frame.filter(pl.col("_pos") >= pl.col("_n") - keep)
    if frame.height == 0:
        raise DataError(f"{source}: no user has {config.min_user_interactions} or more positive interactions")

    item_index = _index(frame["item"], "item")
    user_index = _index(frame["user"], "user")
    frame = (frame.join(item_index, left_on="item", right_on="item_id")
                  .join(user_index, left_on="user", right_on="user_id")
                  .sort(["user_idx", "timestamp", "_row"]))
    sequences = (frame.group_by("user_idx", maintain_order=True)
                      .agg(pl.col("user").first().alias("user_id"), pl.col("item_idx").alias("items"))
                      .sort("user_idx"))

    n_items = item_index.height
    held = held_out_items(n_items, config.new_items)
    seqs = sequences["items"].to_list()
    if held.any():  # a held-out item's training interactions never happened; its later ones stay
        seqs = [[i for i in seq[:-2] if not held[i]] + seq[-2:] for seq in seqs]
        sequences = sequences.with_columns(pl.Series("items", seqs))
    train_freq = np.zeros(n_items + 1, dtype=np.int64)
    valid_rows, test_rows = [], []
    h = config.max_input_length
    for user_idx, seq in zip(sequences["user_idx"].to_list(), seqs):
        n = len(seq)
        np.add.at(train_freq, seq[: n - 2], 1)
        valid_rows.append((user_idx, "valid", seq[max(0, n - 2 - h): n - 2], seq[n - 2]))
        test_rows.append((user_idx, "test", seq[max(0, n - 1 - h): n - 1], seq[n - 1]))
    buckets = frequency_buckets(train_freq, config.n_buckets, config.bucket_rule)

    splits = pl.DataFrame(valid_rows + test_rows, schema={
        "user_idx": pl.Int32, "split": pl.Utf8, "history": pl.List(pl.Int32), "target": pl.Int32}, orient="row")
    item_table = (item_index.join(items.rename({"item": "item_id"}), on="item_id", how="left")
                  .with_columns(pl.Series("train_freq", train_freq[1:]), pl.Series("bucket", buckets[1:]),
                                pl.Series("held_out", held[1:]))
                  .select(["item_idx", "item_id", *[c for c in items.columns if c != "item"], "train_freq", "bucket",
                           "held_out"]))
    sequences = sequences.with_columns(pl.col("user_idx").cast(pl.Int32), pl.col("items").cast(pl.List(pl.Int32)))
    return ProtocolResult(items=item_table, sequences=sequences, splits=splits)
