"""The official PAD repository's dataset layout (``kind: official``): small files, and the paper's Prime Pantry."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import yaml

from padlib.config import validate_config
from padlib.data.official import read_official
from padlib.data.protocol import ProtocolConfig, apply_protocol, frequency_buckets
from padlib.data.stage import SOURCE_KINDS, build_dataset, read_source, source_inputs
from padlib.errors import ConfigError, DataError

REPO = Path(__file__).resolve().parents[1]
PRIME_PANTRY = Path(__file__).resolve().parents[2] / "shared/data/prime-pantry"
IMPLICIT = ProtocolConfig(min_rating=None, min_user_interactions=5, max_sequence_length=23, max_input_length=20,
                          n_buckets=2)
PAPER = ProtocolConfig(min_rating=None, min_user_interactions=5, max_sequence_length=23, max_input_length=20,
                       n_buckets=10)

HISTORY = [  # (user, history field as written in the CSV)
    ("U1", "\"['P1', 'P2', 'P3', 'P1', 'P4', 'P5']\""),     # a repeat purchase of P1
    ("U2", '"[""P5"", ""P4"", ""P3"", ""P2"", ""P1""]"'),   # double-quoted ids (CSV-escaped quotes)
    ("U3", "\"['P2', 'P6']\""),                             # too short for the protocol
    ("U4", "['P7']"),                                       # an unquoted CSV field
]
METADATA = [("P1", '"Peanuts, salted"'), ("P2", "Rice"), ("P3", '"Tea ""Earl Grey"""'), ("P4", "Oats"),
            ("P5", " Honey "), ("P6", "Flour"), ("P7", "Salt"), ("P8", "Never bought")]


def write_files(folder: Path, history=HISTORY, metadata=METADATA, name: str = "Shop",
                history_header: str = ",user,history", metadata_header: str = "asin,title") -> dict[str, str]:
    folder.mkdir(parents=True, exist_ok=True)
    hist = folder / f"{name}_cleaned_history.csv"
    hist.write_text(history_header + "\n" + "".join(f"{i},{u},{h}\n" for i, (u, h) in enumerate(history)))
    meta = folder / f"metadata_{name}.csv"
    meta.write_text(metadata_header + "\n" + "".join(",".join(r) + "\n" for r in metadata))
    return {"history": str(hist), "metadata": str(meta)}


def official_error(tmp_path, **changes) -> str:
    files = write_files(tmp_path, **changes)
    with pytest.raises(DataError) as info:
        read_official(files["history"], files["metadata"])
    return str(info.value)


def test_lists_parsed_in_order_with_repeats(tmp_path):
    files = write_files(tmp_path)
    inter, items = read_official(files["history"], files["metadata"])
    assert inter.columns == ["user", "item", "timestamp"] and inter.schema["timestamp"] == pl.Float64
    seqs = {u: g["item"].to_list() for (u,), g in inter.group_by("user", maintain_order=True)}
    assert seqs == {"U1": ["P1", "P2", "P3", "P1", "P4", "P5"], "U2": ["P5", "P4", "P3", "P2", "P1"],
                    "U3": ["P2", "P6"], "U4": ["P7"]}
    assert inter.filter(pl.col("user") == "U1")["timestamp"].to_list() == [0, 1, 2, 3, 4, 5]
    assert items.columns == ["item", "title"]
    assert dict(zip(items["item"], items["title"])) == {
        "P1": "Peanuts, salted", "P2": "Rice", "P3": 'Tea "Earl Grey"', "P4": "Oats", "P5": "Honey", "P6": "Flour",
        "P7": "Salt", "P8": "Never bought"}


def test_through_stage_and_protocol(tmp_path):
    files = write_files(tmp_path / "dataset")
    source = {"kind": "official", "path": str(tmp_path / "dataset"), "name": "Shop"}
    assert "official" in SOURCE_KINDS
    assert source_inputs(source) == files
    inter, items, name = read_source(source, source_inputs(source))
    assert "Shop_cleaned_history.csv" in name
    result = apply_protocol(inter, items, IMPLICIT)
    ids = dict(zip(result.items["item_idx"].to_list(), result.items["item_id"].to_list()))
    seqs = {u: [ids[i] for i in s] for u, s in zip(result.sequences["user_id"], result.sequences["items"].to_list())}
    assert seqs == {"U1": ["P1", "P2", "P3", "P1", "P4", "P5"], "U2": ["P5", "P4", "P3", "P2", "P1"]}
    # training prefixes: U1 P1 P2 P3 P1, U2 P5 P4 P3
    freq = dict(zip(result.items["item_id"], result.items["train_freq"]))
    assert freq == {"P1": 2, "P2": 1, "P3": 2, "P4": 1, "P5": 1}
    outputs = {n: str(tmp_path / "out" / f"{n}.parquet") for n in ("items", "sequences", "splits")}
    build_dataset(source, IMPLICIT.__dict__, source_inputs(source), outputs)
    assert all(Path(p).is_file() for p in outputs.values())
    with pytest.raises(DataError, match="no 'rating' column; set min_rating to null"):
        apply_protocol(inter, items, ProtocolConfig(min_rating=4))


@pytest.mark.parametrize("field", [
    "\"['P1' 'P2']\"",              # no comma
    "\"['P1', P2]\"",               # an unquoted id
    "\"['P1', '']\"",               # an empty id
    "\"['P1', 'P2'\"",              # unclosed
    "\"('P1', 'P2')\"",             # a tuple
    "\"[b'P1']\"",                  # a bytes prefix
    "\"['P1\\'', 'P2']\"",          # an escape
    "\"['P1', 'P2'] + ['P3']\"",    # an expression
    "\"__import__('os').getcwd()\"",
    "P1",
    '""',
])
def test_malformed_list_literal(tmp_path, field):
    history = list(HISTORY)
    history[2] = ("U3", field)
    msg = official_error(tmp_path, history=history)
    assert "Shop_cleaned_history.csv: row 3 (line 4): history" in msg
    assert "is not a list of quoted item ids" in msg and "['B00099XNXS', 'B00UBJQHMU']" in msg


def test_empty_list_is_a_user_without_items(tmp_path):
    history = HISTORY + [("U5", "[]")]
    inter, _ = read_official(**write_files(tmp_path, history=history))
    assert "U5" not in inter["user"].to_list()


def test_item_missing_from_metadata(tmp_path):
    msg = official_error(tmp_path, metadata=[r for r in METADATA if r[0] not in ("P4", "P6")])
    assert "Shop_cleaned_history.csv: row 1 (line 2): item 'P4' has no row in" in msg
    assert "metadata_Shop.csv (2 such items)" in msg


def test_metadata_problems(tmp_path):
    metadata = list(METADATA)
    metadata[3] = ("P4", "  ")
    msg = official_error(tmp_path, metadata=metadata)
    assert "metadata_Shop.csv: row 4 (line 5): asin 'P4' has an empty title" in msg
    metadata[3] = ("P4",)
    assert "metadata_Shop.csv: row 4 (line 5): 1 fields, expected 2" in official_error(tmp_path, metadata=metadata)
    metadata[3] = ("", "Oats")
    assert "metadata_Shop.csv: row 4 (line 5): empty asin" in official_error(tmp_path, metadata=metadata)
    msg = official_error(tmp_path, metadata=METADATA + [("P2", "Rice")])
    assert "metadata_Shop.csv: row 9 (line 10): asin 'P2' appears again (first at row 2, line 3)" in msg
    msg = official_error(tmp_path, metadata_header="asin,name")
    assert "metadata_Shop.csv: line 1: missing column 'title'" in msg


def test_rows_and_lines_differ_after_a_multiline_title(tmp_path):
    metadata = list(METADATA)
    metadata[0] = ("P1", '"Peanuts,\nsalted"')
    metadata[5] = ("P6", "")
    msg = official_error(tmp_path, metadata=metadata)
    assert "metadata_Shop.csv: row 6 (line 8): asin 'P6' has an empty title" in msg


def test_history_problems(tmp_path):
    msg = official_error(tmp_path, history=HISTORY + [("U2", "['P1']")])
    assert "Shop_cleaned_history.csv: row 5 (line 6): user 'U2' appears again (first at row 2, line 3)" in msg
    assert "Shop_cleaned_history.csv: row 2 (line 3): empty user id" in official_error(
        tmp_path, history=[HISTORY[0], (" ", "['P1']")])
    msg = official_error(tmp_path, history_header=",user,items")
    assert "Shop_cleaned_history.csv: line 1: missing column 'history'" in msg
    msg = official_error(tmp_path, history=[HISTORY[0], ("U2", "\"['P1']\"x")])
    assert "Shop_cleaned_history.csv: line 3: malformed CSV" in msg
    assert "Shop_cleaned_history.csv: the table has no rows" in official_error(tmp_path, history=[])


def test_missing_files(tmp_path):
    files = write_files(tmp_path)
    Path(files["metadata"]).unlink()
    with pytest.raises(DataError, match=r"metadata_Shop\.csv: file not found \(expected the official PAD metadata"):
        read_official(files["history"], files["metadata"])
    with pytest.raises(DataError, match=r"Other_cleaned_history\.csv: file not found"):
        read_source({"kind": "official", "path": str(tmp_path), "name": "Other"},
                    source_inputs({"kind": "official", "path": str(tmp_path), "name": "Other"}))


def test_bad_input_leaves_no_output(tmp_path):
    history = list(HISTORY)
    history[1] = ("U2", "\"['P1', 'P9']\"")
    write_files(tmp_path / "dataset", history=history)
    source = {"kind": "official", "path": str(tmp_path / "dataset"), "name": "Shop"}
    outputs = {n: str(tmp_path / "out" / f"{n}.parquet") for n in ("items", "sequences", "splits")}
    with pytest.raises(DataError, match=r"row 2 \(line 3\): item 'P9'"):
        build_dataset(source, IMPLICIT.__dict__, source_inputs(source), outputs)
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_schema_accepts_official_sources():
    base = yaml.safe_load((REPO / "config.yaml").read_text())

    def validate(**source):
        config = copy.deepcopy(base)
        config["sources"]["pantry"] = {"kind": "official", **source}
        return validate_config(config, REPO / "schemas" / "config.schema.yaml")

    validate(path="/data/PAD/dataset", name="Prime_Pantry")
    with pytest.raises(ConfigError, match="sources.pantry"):
        validate(path="/data/PAD/dataset")
    with pytest.raises(ConfigError, match="sources.pantry"):
        validate(path="/data/PAD/dataset", name="Prime_Pantry", meta="x.json.gz")
    with pytest.raises(ConfigError, match="sources.pantry"):
        validate(path="/data/PAD/dataset", name="../Prime_Pantry")


# ---------------------------------------------------------------- the paper's Prime Pantry

@pytest.fixture(scope="module")
def prime_pantry():
    if not PRIME_PANTRY.is_dir():
        pytest.skip(f"{PRIME_PANTRY} not present")
    source = {"kind": "official", "path": str(PRIME_PANTRY), "name": "Prime_Pantry"}
    inter, items, _ = read_source(source, source_inputs(source))
    return apply_protocol(inter, items, PAPER)


def test_prime_pantry_counts(prime_pantry):
    result = prime_pantry
    assert result.sequences.height == 12_871
    assert result.items.height == 8_347
    assert int(result.sequences["items"].list.len().sum()) == 115_004
    repeats = sum(len(set(seq)) < len(seq) for seq in result.sequences["items"].to_list())
    assert repeats == 3_769
    assert result.items["title"].str.strip_chars().str.len_chars().min() > 0


def test_prime_pantry_training_counts_and_buckets_match_official(prime_pantry):
    result = prime_pantry
    asins = pl.read_csv(PRIME_PANTRY / "metadata_Prime_Pantry.csv", columns=["asin"], infer_schema=False)["asin"]
    fre = pl.read_csv(PRIME_PANTRY / "Prime_Pantry_fre.csv")
    assert fre["id"].to_list() == list(range(len(asins) + 1)) and fre["fre"][0] == 0
    official = dict(zip(asins.to_list(), fre["fre"].to_list()[1:]))   # official id k = metadata row k-1
    ours = dict(zip(result.items["item_id"].to_list(), result.items["train_freq"].to_list()))
    assert ours == official
    assert sum(ours.values()) == 89_262
    # the stage's buckets are the bucketing of the official counts, laid out in our item order
    idx = result.items["item_idx"].to_numpy()
    counts = np.zeros(result.items.height + 1, dtype=np.int64)
    counts[idx] = [official[a] for a in result.items["item_id"].to_list()]
    assert (frequency_buckets(counts, PAPER.n_buckets)[idx] == result.items["bucket"].to_numpy()).all()
    # ties are broken by item index, which differs from the official numbering; on this data no
    # bucket boundary falls inside a tie, so the official numbering gives the same buckets per ASIN
    official_buckets = dict(zip(asins.to_list(), frequency_buckets(fre["fre"].to_numpy(), PAPER.n_buckets)[1:]))
    assert dict(zip(result.items["item_id"].to_list(), result.items["bucket"].to_list())) == official_buckets
    # cold is really cold: 813 of the 12,871 test targets never occur in training
    test = result.splits.filter(pl.col("split") == "test")
    freq = result.items.sort("item_idx")["train_freq"].to_numpy()
    assert int((freq[test["target"].to_numpy() - 1] == 0).sum()) == 813


OFFICIAL_BOUNDARIES = [0, 35, 100, 205, 361, 585, 898, 1357, 2074, 3348, 8348]  # data_utils/dataset.py


def test_official_bucket_rule_reproduces_the_official_boundaries():
    """``bucket_rule: official`` on Prime_Pantry_fre.csv: the official code's hard-coded boundaries
    (positions in the frequency-sorted item list, the padding row 0 included) come out exactly, and
    the mass rule's differ (87 items a bucket colder), so the test tells the two apart."""
    if not PRIME_PANTRY.is_dir():
        pytest.skip(f"{PRIME_PANTRY} not present")
    fre = pl.read_csv(PRIME_PANTRY / "Prime_Pantry_fre.csv")["fre"].to_numpy()
    order = np.argsort(-fre, kind="stable")            # the official frame sorted by frequency, row 0 among the zeros

    def boundaries(rule: str) -> list[int]:
        ranked = frequency_buckets(fre, 10, rule)[order]
        ranked[ranked == 0] = 10                       # row 0 sits in the coldest stretch, as in the official frame
        return [0, *[int(np.searchsorted(ranked, b, side="right")) for b in range(1, 11)]]

    assert boundaries("official") == OFFICIAL_BOUNDARIES
    assert boundaries("mass") == [0, 35, 100, 203, 358, 580, 891, 1345, 2055, 3309, 8348]
