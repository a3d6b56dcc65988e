"""Streaming and sharded embedding extraction: chunked Parquet writes, shard parts, gather."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow.parquet as pq
import pytest

import padlib.text.encoder as encoder_module
from padlib.text.encoder import encode, encode_to_parquet, load_text_encoder
from padlib.text.stage import embed_items, gather_items
from padlib.text.store import (
    gather_embeddings,
    read_embeddings,
    read_embeddings_metadata,
    shard_bounds,
    shard_metadata,
    write_embeddings,
)
from tiny_models import make_tiny_llama

os.environ["HF_HUB_OFFLINE"] = "1"

TITLES = [
    "Toy Story", "Star Wars", "Heat", "The Lost World of a King and a Queen", "a", "Night of the Living Dead",
    "Love and Death in Paris", "Secret Garden", "Black Horse", "Dragon Heart of the Sea",
]
META = {"encoder": "tiny", "kind": "llm2vec", "dim": "3"}


@pytest.fixture(scope="module")
def llama_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tiny_llama(tmp_path_factory.mktemp("tiny_llama"))


@pytest.fixture(scope="module")
def items_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Ten items stored out of item_idx order, so the stage's sort matters."""
    n = len(TITLES)
    order = np.random.default_rng(0).permutation(n)
    table = pl.DataFrame({"item_idx": np.arange(1, n + 1, dtype=np.int32), "item_id": [f"i{i}" for i in range(n)],
                          "title": TITLES})
    path = tmp_path_factory.mktemp("items") / "items.parquet"
    table[order.tolist()].write_parquet(path)
    return path


def encoder_cfg(llama_dir: Path, max_length: int = 32) -> dict:
    return {"kind": "llm2vec", "model": {"path": str(llama_dir)}, "template": "{title}", "max_length": max_length,
            "batch_size": 3, "dtype": "float32"}


def embed(items_path: Path, llama_dir: Path, out: Path, **kwargs) -> Path:
    cfg = encoder_cfg(llama_dir, kwargs.pop("max_length", 32))
    return embed_items(str(items_path), str(llama_dir), "tiny", cfg, "cpu", str(out), progress=False, **kwargs)


def vectors_and_ids(path: Path) -> tuple[np.ndarray, np.ndarray]:
    table = pq.read_table(path)
    return table.column("item_idx").to_numpy(), np.stack(table.column("embedding").to_numpy(zero_copy_only=False))


def test_shard_bounds_partition_the_rows() -> None:
    for n_items in (0, 1, 7, 10, 1000):
        for n_shards in (1, 2, 3, 8):
            bounds = [shard_bounds(n_items, i, n_shards) for i in range(n_shards)]
            assert bounds[0][0] == 0 and bounds[-1][1] == n_items
            assert all(a[1] == b[0] for a, b in zip(bounds, bounds[1:]))
            sizes = [stop - start for start, stop in bounds]
            assert max(sizes) - min(sizes) <= 1
    assert shard_bounds(10, 1, 3) == (3, 6)
    for shard, n_shards in ((3, 3), (-1, 3), (0, 0)):
        with pytest.raises(ValueError, match="shard"):
            shard_bounds(10, shard, n_shards)


def test_three_shards_gathered_equal_one_run(tmp_path: Path, llama_dir: Path, items_path: Path) -> None:
    whole = embed(items_path, llama_dir, tmp_path / "whole.parquet")
    parts = [embed(items_path, llama_dir, tmp_path / f"part{i}.parquet", shard=i, n_shards=3, chunk_size=2)
             for i in range(3)]
    gathered = tmp_path / "gathered.parquet"

    gather_items([parts[2], parts[0], parts[1]], gathered, n_items=len(TITLES))

    whole_ids, whole_vectors = vectors_and_ids(whole)
    ids, vectors = vectors_and_ids(gathered)
    np.testing.assert_array_equal(ids, whole_ids)
    np.testing.assert_array_equal(ids, np.arange(1, len(TITLES) + 1))
    np.testing.assert_allclose(vectors, whole_vectors, rtol=0, atol=1e-5)
    assert [len(vectors_and_ids(p)[0]) for p in parts] == [3, 3, 4]
    part_meta = read_embeddings_metadata(parts[1])
    assert (part_meta["shard"], part_meta["n_shards"]) == ("1", "3")
    assert read_embeddings_metadata(gathered) == read_embeddings_metadata(whole)
    assert "shard" not in read_embeddings_metadata(whole)
    assert pq.ParquetFile(gathered).num_row_groups == 6
    matrix, _ = read_embeddings(gathered, n_items=len(TITLES))
    np.testing.assert_allclose(matrix[1:], whole_vectors, rtol=0, atol=1e-5)
    assert Path(f"{gathered}.manifest.json").is_file()


def hand_part(path: Path, item_idx: list[int], shard: int | None = None, n_shards: int = 3, **meta: str) -> Path:
    metadata = {**META, **meta}
    if shard is not None:
        metadata = shard_metadata(metadata, shard, n_shards)
    write_embeddings(path, np.array(item_idx), np.ones((len(item_idx), 3), np.float32), metadata)
    return path


def assert_gather_refused(tmp_path: Path, parts: list[Path], n_items: int, message: str) -> None:
    out = tmp_path / "gathered.parquet"
    with pytest.raises(ValueError, match=message):
        gather_embeddings(parts, out, n_items)
    assert not out.exists() and not list(tmp_path.glob(".gathered*"))


def test_gather_refuses_a_missing_shard(tmp_path: Path) -> None:
    parts = [hand_part(tmp_path / "p0.parquet", [1, 2], 0), hand_part(tmp_path / "p2.parquet", [5, 6], 2)]
    assert_gather_refused(tmp_path, parts, 6, r"missing shard\(s\) \[1\] of 3")
    unmarked = [hand_part(tmp_path / "u0.parquet", [1, 2]), hand_part(tmp_path / "u2.parquet", [5, 6])]
    assert_gather_refused(tmp_path, unmarked, 6, "2 of 6 items are in no part \\(first: 3\\)")


def test_gather_refuses_overlapping_shards(tmp_path: Path) -> None:
    twice = [hand_part(tmp_path / f"p{i}.parquet", [1, 2], 0, n_shards=2) for i in range(2)]
    assert_gather_refused(tmp_path, twice, 2, "shard 0 of 2 given twice")
    first, second = hand_part(tmp_path / "a.parquet", [1, 2, 3]), hand_part(tmp_path / "b.parquet", [3, 4])
    assert_gather_refused(tmp_path, [first, second], 4, f"item_idx 3 appears 2 times, in .*{first.name}.*{second.name}")
    outside = hand_part(tmp_path / "c.parquet", [4, 5])
    assert_gather_refused(tmp_path, [first, outside], 4, f"{outside.name}: item_idx 5 out of range 1..4")


def test_gather_refuses_parts_of_different_encoders(tmp_path: Path, llama_dir: Path, items_path: Path) -> None:
    parts = [hand_part(tmp_path / "p0.parquet", [1, 2], 0, n_shards=2),
             hand_part(tmp_path / "p1.parquet", [3], 1, n_shards=2, encoder="other")]
    assert_gather_refused(tmp_path, parts, 3, "not made by the same encoder settings \\(encoder: 'tiny' vs 'other'\\)")

    real = [embed(items_path, llama_dir, tmp_path / "r0.parquet", shard=0, n_shards=2),
            embed(items_path, llama_dir, tmp_path / "r1.parquet", shard=1, n_shards=2, max_length=16)]
    assert_gather_refused(tmp_path, real, len(TITLES), "max_length: '32' vs '16'")
    write_embeddings(tmp_path / "wide.parquet", np.array([3]), np.ones((1, 5), np.float32), shard_metadata(META, 1, 2))
    assert_gather_refused(tmp_path, [parts[0], tmp_path / "wide.parquet"], 3, "has dim 5 but .* has dim 3")


def test_encode_to_parquet_in_small_chunks_equals_encode(tmp_path: Path, llama_dir: Path) -> None:
    encoder = load_text_encoder(llama_dir, "llm2vec", device="cpu")
    out = tmp_path / "emb.parquet"
    item_idx = np.arange(len(TITLES), 0, -1)

    written = encode_to_parquet(encoder, item_idx, TITLES, out, META, batch_size=2, max_length=32, chunk_size=3,
                                progress=False)

    ids, vectors = vectors_and_ids(out)
    assert written == len(TITLES)
    np.testing.assert_array_equal(ids, item_idx)
    np.testing.assert_allclose(vectors, encode(encoder, TITLES, batch_size=2, progress=False), rtol=0, atol=1e-5)
    file = pq.ParquetFile(out)
    assert file.num_row_groups == 4
    assert [file.metadata.row_group(i).num_rows for i in range(4)] == [3, 3, 3, 1]
    assert read_embeddings_metadata(out) == META
    assert [p.name for p in tmp_path.iterdir()] == ["emb.parquet"]


def test_failure_mid_write_leaves_no_file(tmp_path: Path, llama_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    encoder = load_text_encoder(llama_dir, "llm2vec", device="cpu")
    out = tmp_path / "emb.parquet"
    texts = [*TITLES[:7], ""]
    with pytest.raises(ValueError, match="no tokens \\(first at index 7\\)"):
        encode_to_parquet(encoder, np.arange(1, 9), texts, out, META, chunk_size=3, progress=False)
    assert list(tmp_path.iterdir()) == []

    real_embed_batch = encoder_module._embed_batch
    calls = []

    def failing_embed_batch(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("CUDA out of memory (simulated)")
        return real_embed_batch(*args, **kwargs)

    monkeypatch.setattr(encoder_module, "_embed_batch", failing_embed_batch)
    with pytest.raises(RuntimeError, match="simulated"):
        encode_to_parquet(encoder, np.arange(1, 11), TITLES, out, META, batch_size=2, chunk_size=4, progress=False)
    assert len(calls) == 3 and list(tmp_path.iterdir()) == []


def test_encode_to_parquet_checks_item_ids(tmp_path: Path, llama_dir: Path) -> None:
    encoder = load_text_encoder(llama_dir, "llm2vec", device="cpu")
    with pytest.raises(ValueError, match="one item_idx per text"):
        encode_to_parquet(encoder, np.arange(1, 3), TITLES[:3], tmp_path / "x.parquet", META, progress=False)
    with pytest.raises(ValueError, match="chunk_size must be positive"):
        encode_to_parquet(encoder, np.arange(1, 4), TITLES[:3], tmp_path / "x.parquet", META, chunk_size=0,
                          progress=False)
    assert list(tmp_path.iterdir()) == []
