"""The paper-scale sources (MIND, Amazon 2018, users' own tables) on small files in their published formats."""

from __future__ import annotations

import gzip
import json
from datetime import datetime, timezone
from pathlib import Path

import polars as pl
import pytest

from padlib.data.amazon import read_amazon
from padlib.data.mind import read_mind
from padlib.data.protocol import ProtocolConfig, apply_protocol
from padlib.data.stage import _numbered, build_dataset, read_source, source_inputs
from padlib.data.tables import read_own_data
from padlib.errors import DataError

IMPLICIT = ProtocolConfig(min_rating=None, min_user_interactions=5, max_sequence_length=23, max_input_length=20,
                          n_buckets=2)
EXPLICIT = ProtocolConfig(min_rating=4, min_user_interactions=5, max_sequence_length=23, max_input_length=20,
                          n_buckets=2)


def write(path: Path, content: str | bytes) -> Path:
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    return path


def sequences(interactions: pl.DataFrame) -> dict[str, list[str]]:
    """Each user's items in the protocol's order: timestamp, ties in row order."""
    ordered = interactions.with_row_index("_row").sort(["user", "timestamp", "_row"])
    return {u: g["item"].to_list() for (u,), g in ordered.group_by("user", maintain_order=True)}


def protocol_sequences(result) -> dict[str, list[str]]:
    ids = dict(zip(result.items["item_idx"].to_list(), result.items["item_id"].to_list()))
    return {u: [ids[i] for i in seq] for u, seq in zip(result.sequences["user_id"].to_list(),
                                                       result.sequences["items"].to_list())}


# ---------------------------------------------------------------- MIND

def news_line(news_id: str, title: str, abstract: str = "An abstract.") -> str:
    return "\t".join([news_id, "sports", "football", title, abstract, f"https://x/{news_id}.html", "[]", "[]"])


def behavior(imp: int, user: str, time: str, history: str, impressions: str) -> str:
    return "\t".join([str(imp), user, time, history, impressions])


NEWS_TRAIN = [news_line(f"N{k}", f"Title {k}") for k in range(1, 7)]
NEWS_DEV = [news_line(f"N{k}", f"Title {k}") for k in range(5, 9)]
BEHAVIORS_TRAIN = [
    behavior(1, "U1", "11/11/2019 9:00:00 AM", "N1 N2", "N3-1 N4-0 N5-1"),
    behavior(2, "U1", "11/11/2019 10:00:00 AM", "N1 N2 N3 N5", "N2-1 N6-1"),
    behavior(3, "U1", "11/11/2019 8:00:00 AM", "N1 N2", "N7-1 N8-0"),   # earliest impression, later in the file
    behavior(4, "U2", "11/12/2019 1:00:00 PM", "", "N1-1 N2-0"),
    behavior(5, "U3", "11/12/2019 2:00:00 PM", "N8 N7 N6", "N1-0 N5-1"),
]
BEHAVIORS_DEV = [behavior(1, "U2", "11/15/2019 12:30:00 PM", "N1", "N2-1 N3-1 N4-1 N5-1")]


@pytest.fixture
def mind_files(tmp_path):
    files = {
        "behaviors": [write(tmp_path / "train_behaviors.tsv",   # a BOM and a blank line: the line-by-line path
                            "\ufeff" + "\n".join(BEHAVIORS_TRAIN[:2]) + "\n\n" + "\n".join(BEHAVIORS_TRAIN[2:]) + "\n"),
                      write(tmp_path / "dev_behaviors.tsv", "\r\n".join(BEHAVIORS_DEV) + "\r\n")],
        "news": [write(tmp_path / "train_news.tsv", "\n".join(NEWS_TRAIN) + "\n"),
                 write(tmp_path / "dev_news.tsv", "\n".join(NEWS_DEV))],
    }
    return files


def test_mind_history_then_clicks_in_time_order(mind_files):
    inter, items = read_mind(mind_files["behaviors"], mind_files["news"])
    assert inter.columns == ["user", "item", "timestamp"] and "rating" not in inter.columns
    assert sequences(inter) == {
        "U1": ["N1", "N2", "N7", "N3", "N5", "N6"],   # history of the 8:00 impression, then clicks; N2 repeat dropped
        "U2": ["N1", "N2", "N3", "N4", "N5"],         # empty history; train click, then dev clicks in their order
        "U3": ["N8", "N7", "N6", "N5"],
    }
    first_u1 = datetime(2019, 11, 11, 8, tzinfo=timezone.utc).timestamp()
    u1 = inter.filter(pl.col("user") == "U1")
    assert u1["timestamp"].to_list()[:3] == [first_u1 - 2, first_u1 - 1, first_u1]
    assert items.columns == ["item", "title", "abstract", "category", "subcategory"]
    assert sorted(items["item"].to_list()) == [f"N{k}" for k in range(1, 9)]   # overlap N5, N6 collapsed


def test_mind_through_protocol_and_stage(mind_files, tmp_path):
    source = {"kind": "mind", "behaviors": [str(p) for p in mind_files["behaviors"]],
              "news": [str(p) for p in mind_files["news"]]}
    inputs = source_inputs(source)
    assert inputs == {"behaviors_0": source["behaviors"][0], "behaviors_1": source["behaviors"][1],
                      "news_0": source["news"][0], "news_1": source["news"][1]}
    inter, items, _ = read_source(source, inputs)
    result = apply_protocol(inter, items, IMPLICIT)
    assert result.sequences.height == 2 and result.items.height == 7   # U3 has 4 clicks; N8 only in U3
    assert protocol_sequences(result)["U1"] == ["N1", "N2", "N7", "N3", "N5", "N6"]
    assert set(result.items.columns) >= {"title", "abstract", "category", "subcategory"}
    outputs = {name: str(tmp_path / "out" / f"{name}.parquet") for name in ("items", "sequences", "splits")}
    build_dataset(source, IMPLICIT.__dict__, inputs, outputs)
    assert all(Path(p).is_file() for p in outputs.values())


def test_numbered_inputs_keep_list_order():
    source = {"kind": "mind", "behaviors": [f"b{i}.tsv" for i in range(12)], "news": ["n.tsv"]}
    inputs = dict(reversed(source_inputs(source).items()))
    assert _numbered(inputs, "behaviors") == source["behaviors"] and _numbered(inputs, "news") == ["n.tsv"]


def mind_error(tmp_path, behaviors: list[str] | None = None, news: list[str] | None = None,
               news2: list[str] | None = None) -> str:
    b = write(tmp_path / "behaviors.tsv", "\n".join(behaviors or BEHAVIORS_TRAIN))
    n = [write(tmp_path / "news.tsv", "\n".join(news or NEWS_TRAIN + NEWS_DEV[2:]))]
    if news2:
        n.append(write(tmp_path / "news2.tsv", "\n".join(news2)))
    with pytest.raises(DataError) as info:
        read_mind([b], n)
    return str(info.value)


def test_mind_bad_time(tmp_path):
    rows = list(BEHAVIORS_TRAIN)
    rows[1] = behavior(2, "U1", "2019-11-11 10:00", "", "N2-1")
    msg = mind_error(tmp_path, behaviors=rows)
    assert "behaviors.tsv: line 2" in msg and "'2019-11-11 10:00'" in msg and "11/11/2019 9:05:58 AM" in msg


def test_mind_wrong_field_count(tmp_path):
    rows = list(BEHAVIORS_TRAIN)
    rows[2] = "3\tU1\t11/11/2019 8:00:00 AM\tN7-1"
    msg = mind_error(tmp_path, behaviors=rows)
    assert "behaviors.tsv: line 3: 4 tab-separated fields, expected 5" in msg


def test_mind_malformed_impression(tmp_path):
    rows = list(BEHAVIORS_TRAIN)
    rows[3] = behavior(4, "U2", "11/12/2019 1:00:00 PM", "", "N1-1 N2")
    msg = mind_error(tmp_path, behaviors=rows)
    assert "behaviors.tsv: line 4" in msg and "'N2'" in msg and "<news id>-1" in msg


def test_mind_clicked_news_without_row(tmp_path):
    rows = BEHAVIORS_TRAIN + [behavior(6, "U4", "11/13/2019 1:00:00 PM", "", "N99-1")]
    msg = mind_error(tmp_path, behaviors=rows)
    assert "behaviors.tsv: line 6" in msg and "'N99'" in msg and "news.tsv" in msg


def test_mind_empty_title(tmp_path):
    news = NEWS_TRAIN + NEWS_DEV[2:]
    news[2] = news_line("N3", "  ")
    msg = mind_error(tmp_path, news=news)
    assert "news.tsv: line 3" in msg and "'N3'" in msg and "empty title" in msg


def test_mind_conflicting_news_text(tmp_path):
    msg = mind_error(tmp_path, news2=[news_line("N7", "Title 7"), news_line("N4", "Another title")])
    assert "news2.tsv: line 2" in msg and "'N4'" in msg and "news.tsv line 4" in msg and "title" in msg


def test_mind_not_utf8(tmp_path):
    news = "\n".join(NEWS_TRAIN + NEWS_DEV[2:]).encode().replace(b"Title 2", "Titl\u00e9 2".encode("latin-1"))
    b = write(tmp_path / "behaviors.tsv", "\n".join(BEHAVIORS_TRAIN))
    with pytest.raises(DataError, match=r"news\.tsv: line 2: byte offset \d+ \(0xe9\) is not valid UTF-8"):
        read_mind([b], [write(tmp_path / "news.tsv", news)])


def test_mind_missing_and_empty_files(tmp_path):
    n = write(tmp_path / "news.tsv", "\n".join(NEWS_TRAIN))
    with pytest.raises(DataError, match=r"nope\.tsv: file not found \(expected the MIND behaviors\.tsv\)"):
        read_mind([tmp_path / "nope.tsv"], [n])
    with pytest.raises(DataError, match=r"behaviors\.tsv: the file is empty"):
        read_mind([write(tmp_path / "behaviors.tsv", "\n")], [n])


def test_bad_input_leaves_no_output(tmp_path):
    rows = list(BEHAVIORS_TRAIN)
    rows[0] = behavior(1, "U1", "yesterday", "", "N1-1")
    b = write(tmp_path / "behaviors.tsv", "\n".join(rows))
    n = write(tmp_path / "news.tsv", "\n".join(NEWS_TRAIN))
    source = {"kind": "mind", "behaviors": [str(b)], "news": [str(n)]}
    outputs = {name: str(tmp_path / "out" / f"{name}.parquet") for name in ("items", "sequences", "splits")}
    with pytest.raises(DataError, match="line 1"):
        build_dataset(source, IMPLICIT.__dict__, source_inputs(source), outputs)
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_no_users_left(mind_files):
    inter, items = read_mind(mind_files["behaviors"], mind_files["news"])
    strict = ProtocolConfig(min_rating=None, min_user_interactions=10, max_sequence_length=23)
    with pytest.raises(DataError, match="no user has 10 or more positive interactions"):
        apply_protocol(inter, items, strict, source="MIND")


# ---------------------------------------------------------------- Amazon 2018

RATINGS = [
    # A1: 6 positives on titled items (out of time order), one 3-star, one on an untitled item, one on an unknown item
    ("B1", "A1", 5.0, 1500000300), ("B2", "A1", 4.0, 1500000100), ("B3", "A1", 5.0, 1500000200),
    ("B4", "A1", 4.0, 1500000400), ("B5", "A1", 5.0, 1500000500), ("B6", "A1", 3.0, 1500000600),
    ("B7", "A1", 5.0, 1500000700), ("B8", "A1", 5.0, 1500000050), ("B9", "A1", 5.0, 1500000060),
    ("B1", "A1", 4.0, 1500000800),
    # A2: 5 positives but one on the untitled item -> 4 left -> dropped by the protocol
    ("B1", "A2", 5.0, 1), ("B2", "A2", 5.0, 2), ("B3", "A2", 5.0, 3), ("B8", "A2", 5.0, 4), ("B4", "A2", 5.0, 5),
]
META = [
    {"asin": "B1", "title": "Pen", "price": "$1"}, {"asin": "B2", "title": " Ink "}, {"asin": "B3", "title": "Paper"},
    {"asin": "B1", "title": "Pen", "also_buy": ["B2"]}, {"asin": "B4", "title": "Desk"}, {"asin": "B5", "title": "Lamp"},
    {"asin": "B6", "title": "Chair"}, {"asin": "B7", "title": "Stapler"}, {"asin": "B8", "title": "   "},
]


def ratings_csv(rows) -> str:
    return "".join(f"{i},{u},{r},{t}\n" for i, u, r, t in rows)


def meta_gz(objects, extra_lines: list[str] = (), separator: str = "\n") -> bytes:
    lines = [json.dumps(o) for o in objects] + list(extra_lines)
    return gzip.compress((separator.join(lines) + "\n").encode())


@pytest.fixture
def amazon_files(tmp_path):
    return (write(tmp_path / "Office_Products.csv", ratings_csv(RATINGS)),
            write(tmp_path / "meta_Office_Products.json.gz", meta_gz(META)))


def test_amazon_title_filter_and_rating_filter(amazon_files):
    dropped = []
    inter, items = read_amazon(*amazon_files, dropped)
    assert [d.message() for d in dropped] == [f"{amazon_files[0]}: dropped 3 of 15 ratings on 2 items without a title "
                                              f"in {amazon_files[1]}"]
    assert inter.columns == ["user", "item", "rating", "timestamp"]
    assert sequences(inter)["A1"] == ["B2", "B3", "B1", "B4", "B5", "B6", "B7", "B1"]
    assert dict(zip(items["item"], items["title"])) == {"B1": "Pen", "B2": "Ink", "B3": "Paper", "B4": "Desk",
                                                        "B5": "Lamp", "B6": "Chair", "B7": "Stapler"}
    result = apply_protocol(inter, items, EXPLICIT)
    # A1: 3-star B6 gone; the repeated B1 is kept (the protocol drops no repeats); A2 has only 4 titled positives
    assert protocol_sequences(result) == {"A1": ["B2", "B3", "B1", "B4", "B5", "B7", "B1"]}
    assert result.items.height == 6


def test_amazon_through_stage(amazon_files):
    source = {"kind": "amazon", "ratings": str(amazon_files[0]), "meta": str(amazon_files[1])}
    assert source_inputs(source) == {"ratings": source["ratings"], "meta": source["meta"]}
    inter, items, name = read_source(source, source_inputs(source))
    assert inter.height == 12 and "Office_Products.csv" in name


def test_amazon_meta_with_blank_lines(tmp_path, amazon_files):
    meta = write(tmp_path / "meta_blank.json.gz", meta_gz(META, separator="\n\n"))
    _, items = read_amazon(amazon_files[0], meta)
    assert items.height == 7
    conflict = write(tmp_path / "meta_c.json.gz", meta_gz(META + [{"asin": "B3", "title": "Card"}], separator="\n\n"))
    with pytest.raises(DataError, match=r"line 19: asin 'B3' has title 'Card' but line 5"):
        read_amazon(amazon_files[0], conflict)


@pytest.mark.parametrize("line, expected", [
    ("B1,A3,five,1500000000", r"line 16: rating 'five' is not a number"),
    ("B1,A3,5.0,2019-01-01", r"line 16: timestamp '2019-01-01' is not a number; expected unix seconds"),
    ("B1,A3,5.0,1500000000,extra", r"line 16: 5 comma-separated fields, expected 4"),
])
def test_amazon_bad_ratings_line(tmp_path, amazon_files, line, expected):
    ratings = write(tmp_path / "ratings.csv", ratings_csv(RATINGS) + line + "\n")
    with pytest.raises(DataError, match=r"ratings\.csv: " + expected):
        read_amazon(ratings, amazon_files[1])


def test_amazon_bad_meta(tmp_path, amazon_files):
    bad_json = write(tmp_path / "meta_bad.json.gz", meta_gz(META, ["{'asin': 'B9', 'title': 'Python literal'}"]))
    with pytest.raises(DataError, match=r"meta_bad\.json\.gz: line 10: not JSON"):
        read_amazon(amazon_files[0], bad_json)
    conflict = write(tmp_path / "meta_conflict.json.gz", meta_gz(META + [{"asin": "B3", "title": "Card"}]))
    with pytest.raises(DataError, match=r"meta_conflict\.json\.gz: line 10: asin 'B3' has title 'Card' but line 3"):
        read_amazon(amazon_files[0], conflict)
    other = write(tmp_path / "meta_Books.json.gz", meta_gz([{"asin": "X1", "title": "A book"}]))
    with pytest.raises(DataError, match=r"none of the 9 rated items has a title in .*meta_Books"):
        read_amazon(amazon_files[0], other)


def test_amazon_encoding_empty_and_missing(tmp_path, amazon_files):
    latin = write(tmp_path / "latin.csv", ratings_csv(RATINGS[:3]).encode() + "B\u00e9,A1,5,1\n".encode("latin-1"))
    with pytest.raises(DataError, match=r"latin\.csv: line 4: byte offset \d+ \(0xe9\) is not valid UTF-8"):
        read_amazon(latin, amazon_files[1])
    with pytest.raises(DataError, match=r"empty\.csv: the file is empty"):
        read_amazon(write(tmp_path / "empty.csv", ""), amazon_files[1])
    with pytest.raises(DataError, match=r"meta_empty\.json\.gz: the file is empty"):
        read_amazon(amazon_files[0], write(tmp_path / "meta_empty.json.gz", gzip.compress(b"")))
    with pytest.raises(DataError, match=r"missing\.json\.gz: file not found"):
        read_amazon(amazon_files[0], tmp_path / "missing.json.gz")
    truncated = write(tmp_path / "meta_cut.json.gz", meta_gz(META)[:-10])
    with pytest.raises(DataError, match=r"meta_cut\.json\.gz: corrupt or truncated gzip"):
        read_amazon(amazon_files[0], truncated)
    wrapped = write(tmp_path / "meta_twice.json.gz", gzip.compress(meta_gz(META)[:-10]))
    with pytest.raises(DataError, match=r"meta_twice\.json\.gz: corrupt or truncated gzip data inside gzip"):
        read_amazon(amazon_files[0], wrapped)
    twice = write(tmp_path / "meta_ok_twice.json.gz", gzip.compress(meta_gz(META)))
    assert read_amazon(amazon_files[0], twice)[1].height == read_amazon(*amazon_files)[1].height


# ---------------------------------------------------------------- users' own tables

OWN_ROWS = [  # uid, iid, when, stars
    ("u1", "m1", "2020-01-01", "5"), ("u1", "m2", "2020-01-02T10:00:00Z", "4"),
    ("u1", "m3", "2020-01-02 09:00:00", "4.5"), ("u1", "m4", "2020-01-03T00:00:00+02:00", "5"),
    ("u1", "m5", "2020-01-04T12:30", "4"), ("u1", "m6", "2020-01-05", "2"),
    ("u2", "m1", "2021-03-01", "5"), ("u2", "m2", "2021-03-02", "5"),
]
OWN_ITEMS = [("m1", "Alien", "sci-fi"), ("m2", "Heat", "crime"), ("m3", "Up", ""), ("m4", "Big", "comedy"),
             ("m5", "Jaws", ""), ("m6", "Ran", "drama")]
OWN_COLUMNS = {"user": "uid", "item": "iid", "timestamp": "when", "rating": "stars"}


def own_csv(tmp_path, rows=OWN_ROWS, items=OWN_ITEMS, name="ratings.csv") -> tuple[Path, Path]:
    inter = write(tmp_path / name, "uid,iid,when,stars\n" + "".join(",".join(r) + "\n" for r in rows))
    item_file = write(tmp_path / "movies.csv", "id,name,genre\n" + "".join(",".join(r) + "\n" for r in items))
    return inter, item_file


def read_own(inter, items):
    return read_own_data(inter, items, OWN_COLUMNS, {"item": "id"})


def test_own_csv_with_mapped_columns_and_iso_times(tmp_path):
    inter, items = read_own(*own_csv(tmp_path))
    assert inter.columns == ["user", "item", "timestamp", "rating"] and items.columns == ["item", "name", "genre"]
    u1 = inter.filter(pl.col("user") == "u1")["timestamp"].to_list()
    assert u1[0] == datetime(2020, 1, 1, tzinfo=timezone.utc).timestamp()
    assert u1[3] == datetime(2020, 1, 2, 22, tzinfo=timezone.utc).timestamp()   # +02:00 honoured
    assert sequences(inter)["u1"] == ["m1", "m3", "m2", "m4", "m5", "m6"]
    result = apply_protocol(inter, items, EXPLICIT)
    assert protocol_sequences(result) == {"u1": ["m1", "m3", "m2", "m4", "m5"]}


def test_own_parquet_via_stage(tmp_path):
    inter = tmp_path / "inter.parquet"
    pl.DataFrame({"uid": [1] * 5 + [2], "iid": [10, 11, 12, 13, 14, 10],
                  "when": [datetime(2020, 1, d) for d in (5, 1, 2, 3, 4, 1)]}).write_parquet(inter)
    items = tmp_path / "items.parquet"
    pl.DataFrame({"id": [10, 11, 12, 13, 14], "title": ["a", "b", "c", "d", "e"]}).write_parquet(items)
    source = {"kind": "table", "interactions": str(inter), "items": str(items),
              "columns": {"user": "uid", "item": "iid", "timestamp": "when"}, "item_columns": {"item": "id"}}
    assert source_inputs(source) == {"interactions": str(inter), "item_file": str(items)}
    raw, item_table, _ = read_source(source, source_inputs(source))
    result = apply_protocol(raw, item_table, IMPLICIT)
    assert protocol_sequences(result) == {"1": ["11", "12", "13", "14", "10"]}
    legacy = read_source(source, {"interactions": str(inter), "items": str(items)})   # the adapter's old key
    assert legacy[0].equals(raw)


def test_the_interactions_item_rename_also_names_the_items_id_column(tmp_path):
    """``columns: {item: sku}`` with an items table keyed by ``sku`` too (the README's own-data
    example): one rename serves both tables; an explicit ``item_columns`` still wins."""
    inter = write(tmp_path / "orders.csv", "customer_id,sku,timestamp\n" +
                  "".join(f"c1,s{i},{i}\n" for i in range(1, 6)))
    items = write(tmp_path / "catalogue.csv", "sku,title\n" + "".join(f"s{i},Item {i}\n" for i in range(1, 6)))
    raw, item_table = read_own_data(inter, items, {"user": "customer_id", "item": "sku"})
    assert item_table["item"].to_list() == [f"s{i}" for i in range(1, 6)] and raw["item"].n_unique() == 5
    with pytest.raises(DataError, match=r"catalogue\.csv: missing column 'code' \(for item\)"):
        read_own_data(inter, items, {"user": "customer_id", "item": "sku"}, {"item": "code"})


def own_error(tmp_path, rows=OWN_ROWS, items=OWN_ITEMS, columns=OWN_COLUMNS) -> str:
    inter, item_file = own_csv(tmp_path, rows, items)
    with pytest.raises(DataError) as info:
        read_own_data(inter, item_file, columns, {"item": "id"})
    return str(info.value)


def test_own_bad_values(tmp_path):
    rows = list(OWN_ROWS)
    rows[2] = ("u1", "m3", "yesterday", "4")
    msg = own_error(tmp_path, rows)
    assert "ratings.csv: row 3 column 'when': 'yesterday' is neither a number" in msg and "ISO-8601" in msg
    rows[2] = ("u1", "m3", "1577836800", "4")
    assert "row 3 column 'when': '1577836800' is a number but other rows are ISO-8601" in own_error(tmp_path, rows)
    rows = list(OWN_ROWS)
    rows[4] = ("u1", "m5", "2020-01-04", "good")
    assert "ratings.csv: row 5 column 'stars': 'good' is not a number" in own_error(tmp_path, rows)


def test_own_missing_column_and_malformed_line(tmp_path):
    msg = own_error(tmp_path, columns={**OWN_COLUMNS, "timestamp": "time"})
    assert "ratings.csv: missing column 'time' (for timestamp)" in msg and "sources.<dataset>.columns" in msg
    rows = list(OWN_ROWS)
    rows[1] = ("u1", "m2", "2020-01-02", "4", "oops")
    assert "ratings.csv: row 2 (line 3): 5 fields, expected 4" in own_error(tmp_path, rows)
    rows[1] = ("u1", '"m2, quoted"', "2020-01-02")
    assert "ratings.csv: row 2 (line 3): 3 fields, expected 4" in own_error(tmp_path, rows)


def test_own_unknown_format_and_items_column(tmp_path):
    inter, items = own_csv(tmp_path)
    with pytest.raises(DataError, match=r"ratings\.xlsx: unknown table format '\.xlsx'"):
        read_own(write(tmp_path / "ratings.xlsx", "x"), items)
    with pytest.raises(DataError, match=r"movies\.csv: missing column 'item'"):
        read_own_data(inter, items, OWN_COLUMNS)


def test_own_items_problems(tmp_path):
    msg = own_error(tmp_path, items=OWN_ITEMS[:-1])
    assert "ratings.csv: row 6: item 'm6' has no row in" in msg and "movies.csv" in msg
    items = list(OWN_ITEMS)
    items[4] = ("m5", "", "")
    msg = own_error(tmp_path, items=items)
    assert "movies.csv" in msg and "item 'm5' has empty text" in msg
    msg = own_error(tmp_path, items=OWN_ITEMS + [("m1", "Alien", "sci-fi"), ("m2", "Heat 2", "crime")])
    assert "movies.csv: row 8: item 'm2' appears again with a different name than row 2" in msg


def test_own_encoding_empty_missing(tmp_path):
    inter, items = own_csv(tmp_path)
    latin = write(tmp_path / "latin.csv", inter.read_bytes() + "u3,m1,2020-01-01,5,\u00e9\n".encode("latin-1"))
    with pytest.raises(DataError, match=r"latin\.csv: line 10: byte offset \d+ \(0xe9\) is not valid UTF-8"):
        read_own(latin, items)
    with pytest.raises(DataError, match=r"empty\.csv: the file is empty"):
        read_own(write(tmp_path / "empty.csv", ""), items)
    with pytest.raises(DataError, match=r"header\.csv: the table has no rows"):
        read_own(write(tmp_path / "header.csv", "uid,iid,when,stars\n"), items)
    with pytest.raises(DataError, match=r"gone\.parquet: file not found"):
        read_own(tmp_path / "gone.parquet", items)
