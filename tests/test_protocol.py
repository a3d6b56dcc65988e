import numpy as np
import polars as pl
import pytest

from padlib.data.dataset import SequenceData
from padlib.data.protocol import ProtocolConfig, apply_protocol, frequency_buckets
from padlib.data.stage import write_dataset
from padlib.errors import DataError


def table(rows):
    return pl.DataFrame(rows, schema={"user": pl.Utf8, "item": pl.Utf8, "rating": pl.Float64, "timestamp": pl.Float64},
                        orient="row")


ITEMS = pl.DataFrame({"item": [f"i{k}" for k in range(1, 10)], "title": [f"Title {k}" for k in range(1, 10)]})


def small_case():
    rows = []
    # user "a": 7 positives, one negative rating, two interactions tied in time (file order wins)
    for t, item in enumerate(["i1", "i2", "i3", "i4", "i5", "i6"]):
        rows.append(("a", item, 5.0, float(t)))
    rows.append(("a", "i9", 2.0, 2.5))   # rating < 4: dropped
    rows.append(("a", "i7", 4.0, 5.0))   # same time as i6, later in the file -> after i6
    # user "b": only 4 positives -> dropped
    rows += [("b", f"i{k}", 5.0, float(k)) for k in range(1, 5)]
    # user "c": 5 positives, given out of time order
    rows += [("c", "i3", 4.0, 9.0), ("c", "i1", 4.0, 1.0), ("c", "i8", 5.0, 3.0), ("c", "i2", 4.0, 2.0),
             ("c", "i4", 4.0, 10.0)]
    return table(rows)


def test_filter_sort_truncate_reindex():
    cfg = ProtocolConfig(min_rating=4, min_user_interactions=5, max_sequence_length=6, max_input_length=3, n_buckets=2)
    result = apply_protocol(small_case(), ITEMS, cfg)
    seqs = dict(zip(result.sequences["user_id"].to_list(), result.sequences["items"].to_list()))
    ids = dict(zip(result.items["item_id"].to_list(), result.items["item_idx"].to_list()))
    assert set(seqs) == {"a", "c"}
    # items i9 (only in a negative) and nothing else is dropped; re-indexed 1..N in natural id order
    assert sorted(ids) == ["i1", "i2", "i3", "i4", "i5", "i6", "i7", "i8"]
    assert [ids[k] for k in sorted(ids)] == list(range(1, 9))
    to_idx = lambda xs: [ids[x] for x in xs]  # noqa: E731
    # a: 7 positives, latest 6 kept, tie i6/i7 in file order
    assert seqs["a"] == to_idx(["i2", "i3", "i4", "i5", "i6", "i7"])
    assert seqs["c"] == to_idx(["i1", "i2", "i8", "i3", "i4"])


def test_official_truncation_cuts_long_users_one_shorter():
    """``truncate: official`` (the official clean.py): a user with more than max_sequence_length
    interactions keeps one fewer; a user with at most that many keeps all."""
    cfg = ProtocolConfig(min_rating=4, min_user_interactions=5, max_sequence_length=6, max_input_length=3, n_buckets=2,
                         truncate="official")
    result = apply_protocol(small_case(), ITEMS, cfg)
    seqs = dict(zip(result.sequences["user_id"].to_list(), result.sequences["items"].to_list()))
    ids = dict(zip(result.items["item_id"].to_list(), result.items["item_idx"].to_list()))
    assert seqs["a"] == [ids[x] for x in ["i3", "i4", "i5", "i6", "i7"]]      # 7 positives: the latest 5
    assert seqs["c"] == [ids[x] for x in ["i1", "i2", "i8", "i3", "i4"]]      # 5 positives: all kept
    with pytest.raises(DataError, match="protocol.truncate"):
        ProtocolConfig(truncate="first")


def test_leave_one_out_splits():
    cfg = ProtocolConfig(min_rating=4, min_user_interactions=5, max_sequence_length=6, max_input_length=3, n_buckets=2)
    result = apply_protocol(small_case(), ITEMS, cfg)
    a = result.sequences.filter(pl.col("user_id") == "a")
    seq, user = a["items"][0].to_list(), a["user_idx"][0]
    valid = result.splits.filter((pl.col("user_idx") == user) & (pl.col("split") == "valid")).row(0, named=True)
    test = result.splits.filter((pl.col("user_idx") == user) & (pl.col("split") == "test")).row(0, named=True)
    assert valid["target"] == seq[-2] and valid["history"] == seq[-5:-2]   # at most 3 preceding items
    assert test["target"] == seq[-1] and test["history"] == seq[-4:-1]


def test_buckets_equal_mass_and_unseen_items_last():
    freq = np.array([0, 10, 6, 4, 0, 0])  # item 0 = padding; items 4, 5 unseen
    buckets = frequency_buckets(freq, 2)
    assert buckets.tolist() == [0, 1, 2, 2, 2, 2]
    freq = np.array([0, 1, 1, 1, 1])
    assert frequency_buckets(freq, 4).tolist() == [0, 1, 2, 3, 4]


def test_buckets_from_training_positions_only(tmp_path):
    cfg = ProtocolConfig(min_rating=4, min_user_interactions=5, max_sequence_length=6, max_input_length=3, n_buckets=2)
    result = apply_protocol(small_case(), ITEMS, cfg)
    freq = dict(zip(result.items["item_id"].to_list(), result.items["train_freq"].to_list()))
    # a's training prefix: i2 i3 i4 i5; c's: i1 i2 i8 -> i6, i7, i3 (c's valid), i4 (c's test) vs counts
    assert freq == {"i1": 1, "i2": 2, "i3": 1, "i4": 1, "i5": 1, "i6": 0, "i7": 0, "i8": 1}
    assert result.items.filter(pl.col("train_freq") == 0)["bucket"].to_list() == [2, 2]
    outputs = {name: str(tmp_path / f"{name}.parquet") for name in ("items", "sequences", "splits")}
    write_dataset(result, outputs)
    data = SequenceData.load(tmp_path, n_buckets=2, max_input_length=3)
    assert data.n_items == 8
    # user a: prefix [i2 i3 i4 i5] -> inputs [i2 i3 i4], targets [i3 i4 i5]
    ids = dict(zip(result.items["item_id"].to_list(), result.items["item_idx"].to_list()))
    assert data.train_input[0].tolist() == [ids["i2"], ids["i3"], ids["i4"]]
    assert data.train_target[0].tolist() == [ids["i3"], ids["i4"], ids["i5"]]
    # user c: prefix [i1 i2 i8] -> left-padded inputs
    assert data.train_input[1].tolist() == [0, ids["i1"], ids["i2"]]


def test_item_without_text_row_is_an_error():
    rows = [("u", f"i{k}", 5.0, float(k)) for k in range(1, 6)] + [("u", "zz", 5.0, 9.0)]
    with pytest.raises(DataError, match="'zz' has no row in the items table"):
        apply_protocol(table(rows), ITEMS, ProtocolConfig())


def test_no_user_left_is_an_error():
    rows = [("u", f"i{k}", 5.0, float(k)) for k in range(1, 4)]
    with pytest.raises(DataError, match="no user has 5 or more"):
        apply_protocol(table(rows), ITEMS, ProtocolConfig())


def test_a_protocol_that_would_leave_users_without_a_test_item_is_refused():
    with pytest.raises(DataError, match="min_user_interactions must be >= 3"):
        ProtocolConfig(min_user_interactions=2)
    with pytest.raises(DataError, match="max_sequence_length must be >= protocol.min_user_interactions"):
        ProtocolConfig(min_user_interactions=5, max_sequence_length=4)
