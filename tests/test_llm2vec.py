"""LLM2Vec-style encoders with LoRA adapters: the merged model must equal a hand-merged reference.

The reference shares no code with padlib: it folds each adapter into a fresh copy of the
base weights by hand (``W += B @ A * alpha / r``, read from the adapter files), runs the
plain LlamaModel (eager attention) with an explicit 4D additive mask that hides padding
only, and averages the real tokens' hidden states.
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import torch
from safetensors.torch import load_file, save_file

from padlib.io import read_json
from padlib.text.encoder import encode, load_text_encoder
from padlib.text.stage import embed_items
from padlib.text.store import read_embeddings
from tiny_models import first_token_states, make_tiny_bert, make_tiny_llama

os.environ["HF_HUB_OFFLINE"] = "1"

TEXTS = [
    "Toy Story (1995)",
    "Star Wars",
    "The Lost World of a King and a Queen (1997)",
    "Heat",
    "a",
    "Love and Death in Paris, a Summer Story of Two Friends",
]
ADAPTER_WEIGHTS = "adapter_model.safetensors"


def make_lora_adapter(base_dir: Path, out_dir: Path, targets: list[str], r: int, alpha: int, seed: int) -> Path:
    """Save a LoRA adapter for ``base_dir`` with random A *and* B (B starts at zero in peft, a no-op)."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModel

    torch.manual_seed(seed)
    model = AutoModel.from_pretrained(base_dir, local_files_only=True)
    config = LoraConfig(r=r, lora_alpha=alpha, target_modules=targets, lora_dropout=0.0)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
        peft_model = get_peft_model(model, config)
    with torch.no_grad():
        for name, param in peft_model.named_parameters():
            if "lora_B" in name:
                param.normal_(std=0.2)
    peft_model.save_pretrained(out_dir)
    return out_dir


@pytest.fixture(scope="module")
def llama_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tiny_llama(tmp_path_factory.mktemp("tiny_llama"))


@pytest.fixture(scope="module")
def adapters(tmp_path_factory: pytest.TempPathFactory, llama_dir: Path) -> tuple[Path, Path]:
    """Two adapters like MNTP + supervised: different ranks, scales and (overlapping) target modules."""
    root = tmp_path_factory.mktemp("adapters")
    first = make_lora_adapter(llama_dir, root / "mntp", ["q_proj", "v_proj", "gate_proj"], r=4, alpha=8, seed=1)
    second = make_lora_adapter(llama_dir, root / "supervised", ["q_proj", "k_proj", "o_proj", "down_proj"],
                               r=2, alpha=6, seed=2)
    return first, second


def hand_merged_llama(base_dir: Path, adapter_dirs: list[Path]) -> torch.nn.Module:
    """A fresh base LlamaModel with each adapter's ``B @ A * alpha / r`` added to its weights, in order."""
    from transformers import LlamaModel

    model = LlamaModel.from_pretrained(base_dir, local_files_only=True, attn_implementation="eager").eval()
    weights = dict(model.named_parameters())
    with torch.no_grad():
        for adapter in adapter_dirs:
            config = json.loads((adapter / "adapter_config.json").read_text())
            assert config["lora_alpha"] != config["r"], "a scale of 1 would not test the alpha / r factor"
            tensors = load_file(adapter / ADAPTER_WEIGHTS)
            a_keys = [k for k in tensors if ".lora_A." in k]
            assert a_keys and len(a_keys) * 2 == len(tensors)
            for key in a_keys:
                delta = tensors[key.replace(".lora_A.", ".lora_B.")] @ tensors[key]
                target = key.removeprefix("base_model.model.").split(".lora_A.")[0] + ".weight"
                weights[target] += delta * (config["lora_alpha"] / config["r"])
    return model


def reference_vectors(model: torch.nn.Module, tokenizer, texts: list[str]) -> np.ndarray:
    """Mean of real tokens' states with a padding-only (non-causal) 4D mask, right-padded batch."""
    batch = tokenizer(texts, padding=True, return_tensors="pt")
    mask = batch["attention_mask"].bool()
    length = mask.shape[1]
    visible = mask[:, None, None, :].expand(-1, 1, length, length)
    additive = torch.zeros(visible.shape).masked_fill(~visible, torch.finfo(torch.float32).min)
    positions = (mask.long().cumsum(-1) - 1).clamp(min=0)
    with torch.no_grad():
        hidden = model(input_ids=batch["input_ids"], attention_mask=additive, position_ids=positions,
                       use_cache=False).last_hidden_state
    return np.stack([hidden[i, mask[i]].mean(dim=0).numpy() for i in range(len(texts))])


def loaded_vectors(llama_dir: Path, adapter_dirs: list[Path], texts: list[str] = TEXTS) -> np.ndarray:
    encoder = load_text_encoder(llama_dir, "llm2vec", device="cpu", dtype="float32", adapters=adapter_dirs)
    return encode(encoder, texts, batch_size=4, progress=False)


def tokenizer_of(model_dir: Path):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(model_dir, local_files_only=True)


def test_merged_adapters_match_hand_merged_bidirectional_reference(
    llama_dir: Path, adapters: tuple[Path, Path]
) -> None:
    reference_model = hand_merged_llama(llama_dir, list(adapters))
    tokenizer = tokenizer_of(llama_dir)
    batched = reference_vectors(reference_model, tokenizer, TEXTS)
    alone = np.concatenate([reference_vectors(reference_model, tokenizer, [t]) for t in TEXTS])
    np.testing.assert_allclose(batched, alone, rtol=1e-4, atol=1e-5)

    got = loaded_vectors(llama_dir, list(adapters))

    assert got.shape == (len(TEXTS), 32) and got.dtype == np.float32
    np.testing.assert_allclose(got, batched, rtol=1e-4, atol=1e-5)


def test_each_adapter_changes_the_vectors(llama_dir: Path, adapters: tuple[Path, Path]) -> None:
    first, second = adapters
    both = loaded_vectors(llama_dir, [first, second])
    tokenizer = tokenizer_of(llama_dir)
    for subset in ([], [first], [second]):
        alone = loaded_vectors(llama_dir, subset)
        np.testing.assert_allclose(alone, reference_vectors(hand_merged_llama(llama_dir, subset), tokenizer, TEXTS),
                                   rtol=1e-4, atol=1e-5)
        assert np.abs(alone - both).max() > 1e-2, f"dropping adapters to {subset} should change the vectors"


def test_lora_merge_order_does_not_matter(llama_dir: Path, adapters: tuple[Path, Path]) -> None:
    """Merged LoRA deltas B @ A do not depend on W, so they add up in any order (float rounding aside)."""
    first, second = adapters
    np.testing.assert_allclose(loaded_vectors(llama_dir, [second, first]), loaded_vectors(llama_dir, [first, second]),
                               rtol=1e-4, atol=1e-5)


def test_merged_encoder_is_still_bidirectional(llama_dir: Path, adapters: tuple[Path, Path]) -> None:
    encoder = load_text_encoder(llama_dir, "llm2vec", device="cpu", adapters=list(adapters))
    assert not any(getattr(m, "is_causal", False) for m in encoder.model.modules())
    first = first_token_states(encoder, ["toy story 1995", "toy story 1996"])
    assert (first[0] - first[1]).abs().max() > 1e-3  # a later token changes the first token's state
    assert type(encoder.model).__name__ == "LlamaModel"
    assert not any("lora" in name for name, _ in encoder.model.named_parameters())


def _copy_adapter(source: Path, dest: Path) -> Path:
    dest.mkdir()
    for file in source.iterdir():
        (dest / file.name).write_bytes(file.read_bytes())
    return dest


def test_bad_adapter_dirs_are_named(tmp_path: Path, llama_dir: Path, adapters: tuple[Path, Path]) -> None:
    absent = tmp_path / "absent"
    with pytest.raises(FileNotFoundError, match=f"LoRA adapter {absent} is not a local directory"):
        load_text_encoder(llama_dir, "llm2vec", device="cpu", adapters=[adapters[0], absent])
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(FileNotFoundError, match=f"LoRA adapter {empty} has no adapter_config.json"):
        load_text_encoder(llama_dir, "llm2vec", device="cpu", adapters=[empty])

    wrong_rank = _copy_adapter(adapters[0], tmp_path / "wrong_rank")
    config = json.loads((wrong_rank / "adapter_config.json").read_text())
    (wrong_rank / "adapter_config.json").write_text(json.dumps({**config, "r": 3}))
    with pytest.raises(ValueError, match=f"LoRA adapter {wrong_rank} does not fit LlamaModel"):
        load_text_encoder(llama_dir, "llm2vec", device="cpu", adapters=[wrong_rank])

    causal_lm = _copy_adapter(adapters[0], tmp_path / "causal_lm_keys")
    tensors = load_file(causal_lm / ADAPTER_WEIGHTS)
    renamed = {k.replace("base_model.model.", "base_model.model.model."): v for k, v in tensors.items()}
    save_file(renamed, causal_lm / ADAPTER_WEIGHTS)
    with pytest.raises(ValueError, match=f"LoRA adapter {causal_lm} .*missing adapter keys"):
        load_text_encoder(llama_dir, "llm2vec", device="cpu", adapters=[causal_lm])

    bert_adapter = make_lora_adapter(make_tiny_bert(tmp_path / "bert"), tmp_path / "bert_lora", ["query", "value"],
                                     r=2, alpha=4, seed=0)
    with pytest.raises(ValueError, match=f"LoRA adapter {bert_adapter} does not fit LlamaModel"):
        load_text_encoder(llama_dir, "llm2vec", device="cpu", adapters=[bert_adapter])


def test_embed_stage_reads_adapters_from_encoder_config(
    tmp_path: Path, llama_dir: Path, adapters: tuple[Path, Path]
) -> None:
    items = tmp_path / "items.parquet"
    pl.DataFrame({"item_idx": [2, 1, 3], "item_id": ["b", "a", "c"], "title": TEXTS[:3]}).write_parquet(items)
    encoder_cfg = {"kind": "llm2vec", "model": {"path": str(llama_dir)}, "template": "{title}", "max_length": 64,
                   "batch_size": 2, "dtype": "float32", "adapters": [str(a) for a in adapters]}
    out = tmp_path / "emb.parquet"

    embed_items(str(items), str(llama_dir), "tiny", encoder_cfg, "cpu", str(out), progress=False)

    matrix, metadata = read_embeddings(out, n_items=3)
    expected = loaded_vectors(llama_dir, list(adapters), [TEXTS[1], TEXTS[0], TEXTS[2]])
    np.testing.assert_allclose(matrix[1:], expected, rtol=1e-4, atol=1e-5)
    assert metadata["adapters"] == [str(a) for a in adapters]
    inputs = read_json(f"{out}.manifest.json")["inputs"]
    assert {str(a / ADAPTER_WEIGHTS) for a in adapters} <= set(inputs)
