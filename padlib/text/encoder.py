"""Encode item texts into fixed vectors with a frozen language model.

Two kinds of encoder, both mean-pooled over the text tokens:

- ``llm2vec``: a decoder-only LM (Llama and friends) made *bidirectional*, as in
  LLM2Vec: every token attends to every non-padding token of its text. In
  transformers 5.24 the switch is ``config.is_causal = False``: the
  ``merge_with_config_defaults`` wrapper of the base model's forward then makes
  ``create_causal_mask`` build a padding-only (bidirectional) mask and passes
  ``is_causal=False`` down to the SDPA / flash kernels, which would otherwise apply
  their built-in causal mask whenever no mask is materialised (a batch without
  padding). We also clear ``is_causal`` on every attention module, for models whose
  forward lacks that wrapper, and a two-token probe at load time checks that the
  first token really sees the second (and does not, in causal mode).
- ``sentence``: a BERT-style encoder, bidirectional already.

Optional PEFT LoRA adapters are merged into the weights, in order, before the switch
to bidirectional attention: the official LLM2Vec Llama-3-8B encoders are
Meta-Llama-3-8B-Instruct + an MNTP adapter + a supervised (or SimCSE) adapter. Merging
(``W += B @ A * alpha / r``) leaves a plain base model, so encoding costs nothing extra.

Special tokens are whatever the tokenizer adds by default (``add_special_tokens=True``):
BERT wraps texts in [CLS] ... [SEP] and those take part in the mean; the SmolLM2 GGUF
tokenizer adds no BOS/EOS, so only the text's own tokens are pooled. Position ids are
computed from the attention mask, so left and right padding give the same vectors.
"""

from __future__ import annotations

import importlib
import os
import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from tqdm.auto import tqdm

from padlib.device import resolve_device, resolve_dtype
from padlib.text.store import embeddings_writer

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

KINDS = ("llm2vec", "sentence")
BIDIRECTIONAL_ATTENTION = ("sdpa", "eager")
ADAPTER_CONFIG = "adapter_config.json"
DEFAULT_CHUNK_SIZE = 8192


@dataclass
class TextEncoder:
    """A loaded tokenizer + base model pair, ready for :func:`encode`."""

    tokenizer: PreTrainedTokenizerBase
    model: torch.nn.Module
    kind: str
    device: torch.device
    bidirectional: bool = True

    @property
    def dim(self) -> int:
        return int(self.model.config.hidden_size)


def ensure_pad_token(tokenizer: PreTrainedTokenizerBase) -> None:
    """Batched encoding needs a pad token; decoder-only LMs often lack one, so reuse EOS."""
    if tokenizer.pad_token is None:
        if tokenizer.eos_token is None:
            raise ValueError("tokenizer has neither a pad token nor an EOS token to pad with")
        tokenizer.pad_token = tokenizer.eos_token


def set_bidirectional(model: torch.nn.Module, bidirectional: bool) -> None:
    """Switch a decoder-only model between causal and bidirectional attention (config + every attention module)."""
    attention_modules = [m for m in model.modules() if hasattr(m, "is_causal") and m is not model]
    if not attention_modules:
        raise ValueError(f"{type(model).__name__} has no attention modules with an 'is_causal' flag")
    model.config.is_causal = not bidirectional
    for module in attention_modules:
        module.is_causal = not bidirectional


def _probe_ids(model: torch.nn.Module) -> torch.Tensor:
    """Two 2-token inputs that differ only in their second token, avoiding the pad id."""
    pad = model.config.pad_token_id
    candidates = [i for i in range(min(int(model.config.vocab_size), 8)) if i != pad]
    return torch.tensor([[candidates[0], candidates[1]], [candidates[0], candidates[2]]])


def attends_forward(model: torch.nn.Module, device: torch.device) -> bool:
    """True when the first token's hidden state depends on a later token, i.e. attention is not causal."""
    ids = _probe_ids(model).to(device)
    with torch.inference_mode():
        hidden = model(input_ids=ids, attention_mask=torch.ones_like(ids), use_cache=False).last_hidden_state
    first = hidden[:, 0].float()
    change = (first[0] - first[1]).abs().max()
    return bool(change > 1e-5 * (1.0 + first.abs().max()))


def _local_dir(model_dir: str | os.PathLike[str]) -> Path:
    path = Path(model_dir)
    if not path.is_dir():
        raise FileNotFoundError(f"text encoder {path} is not a local model directory (models are never downloaded)")
    return path


def adapter_dir(path: str | os.PathLike[str]) -> Path:
    """Check that ``path`` is a local PEFT adapter directory (adapters, like models, are never downloaded)."""
    folder = Path(path)
    if not folder.is_dir():
        raise FileNotFoundError(f"LoRA adapter {folder} is not a local directory (adapters are never downloaded)")
    if not (folder / ADAPTER_CONFIG).is_file():
        raise FileNotFoundError(f"LoRA adapter {folder} has no {ADAPTER_CONFIG}; not a PEFT adapter directory")
    return folder


def _import_peft_model() -> type:
    """``PeftModel``, with ``torch.distributed.tensor`` imported first.

    peft 0.21 checks ``isinstance(weight, torch.distributed.tensor.DTensor)`` when it wraps
    a layer; with torch 2.13 that submodule is only an attribute once something imported
    it, otherwise wrapping fails with an AttributeError.
    """
    if torch.distributed.is_available():
        importlib.import_module("torch.distributed.tensor")
    from peft import PeftModel

    return PeftModel


def merge_adapter(model: torch.nn.Module, path: str | os.PathLike[str]) -> torch.nn.Module:
    """Apply one LoRA adapter and fold it into the weights; errors name the adapter directory.

    An adapter whose weights do not all load is refused instead of merged: peft only warns
    about missing keys (e.g. an adapter saved from ``LlamaForCausalLM``, whose keys carry an
    extra ``model.`` prefix), and the unloaded LoRA matrices would silently be a no-op.
    """
    folder = adapter_dir(path)
    peft_model_cls = _import_peft_model()
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("error", message=".*missing adapter keys.*")
            warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
            peft_model = peft_model_cls.from_pretrained(model, str(folder), is_trainable=False)
    except (UserWarning, ValueError, RuntimeError, KeyError, TypeError, OSError) as exc:
        raise ValueError(f"LoRA adapter {folder} does not fit {type(model).__name__}: {exc}") from exc
    return peft_model.merge_and_unload()


def load_text_encoder(
    model_dir: str | os.PathLike[str],
    kind: str,
    device: str | torch.device = "auto",
    dtype: str | torch.dtype = "auto",
    bidirectional: bool = True,
    attn_implementation: str = "sdpa",
    adapters: Sequence[str | os.PathLike[str]] = (),
) -> TextEncoder:
    """Load a local Hugging Face base model (no LM head) and its tokenizer, offline, in eval mode.

    ``bidirectional`` only applies to ``llm2vec``; ``False`` keeps the LM causal (the
    config's ``encoders.<name>.bidirectional``: without LLM2Vec's MNTP adapters a decoder
    LM may embed better causally); a ``sentence`` encoder refuses ``False``.
    ``attn_implementation`` is ``sdpa`` or ``eager``, the two paths whose bidirectional
    masking is checked. ``adapters`` are local PEFT LoRA directories, merged
    in order (checked up front, so a typo fails before the model loads).
    """
    from transformers import AutoModel, AutoTokenizer

    if kind not in KINDS:
        raise ValueError(f"unknown text encoder kind {kind!r}; known: {list(KINDS)}")
    if kind == "sentence" and not bidirectional:
        raise ValueError("bidirectional=False needs kind 'llm2vec'; a 'sentence' encoder is bidirectional by construction")
    if attn_implementation not in BIDIRECTIONAL_ATTENTION:
        raise ValueError(f"attn_implementation must be one of {list(BIDIRECTIONAL_ATTENTION)}")
    path = _local_dir(model_dir)
    adapter_dirs = [adapter_dir(a) for a in adapters]
    torch_device = resolve_device(device)
    torch_dtype = resolve_dtype(dtype, torch_device)
    tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
    ensure_pad_token(tokenizer)
    model = AutoModel.from_pretrained(
        path, dtype=torch_dtype, local_files_only=True, attn_implementation=attn_implementation
    )
    model.to(torch_device)
    for folder in adapter_dirs:
        model = merge_adapter(model, folder)
    model.eval()
    if kind == "llm2vec":
        set_bidirectional(model, bidirectional)
        if attends_forward(model, torch_device) != bidirectional:
            raise RuntimeError(f"{path}: could not make attention {'bi' if bidirectional else 'uni'}directional")
    return TextEncoder(tokenizer, model, kind, torch_device, bidirectional)


def mean_pool(hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Average the hidden states of real (mask == 1) tokens, in float32 whatever the model dtype."""
    mask = attention_mask.unsqueeze(-1).to(torch.float32)
    return (hidden.to(torch.float32) * mask).sum(dim=1) / mask.sum(dim=1)


def position_ids_from_mask(attention_mask: torch.Tensor) -> torch.Tensor:
    """0, 1, 2, ... over real tokens whichever side the padding is on (padding positions get 0)."""
    return (attention_mask.long().cumsum(dim=-1) - 1).clamp(min=0)


def _embed_batch(encoder: TextEncoder, features: dict[str, torch.Tensor]) -> np.ndarray:
    inputs = {name: tensor.to(encoder.device) for name, tensor in features.items()}
    inputs["position_ids"] = position_ids_from_mask(inputs["attention_mask"])
    if encoder.kind == "llm2vec":
        inputs["use_cache"] = False
    hidden = encoder.model(**inputs).last_hidden_state
    return mean_pool(hidden, inputs["attention_mask"]).cpu().numpy()


def _tokenize(
    encoder: TextEncoder, texts: Sequence[str], max_length: int, offset: int = 0
) -> list[dict[str, list[int]]]:
    """Token ids per text; ``offset`` is the index of ``texts[0]`` in the whole input, for error messages."""
    batch = encoder.tokenizer(list(texts), truncation=True, max_length=max_length)
    rows = [{name: batch[name][i] for name in batch.keys()} for i in range(len(texts))]
    empty = [i for i, row in enumerate(rows) if not row["input_ids"]]
    if empty:
        first = offset + empty[0]
        raise ValueError(f"{len(empty)} texts have no tokens (first at index {first}); mean pooling needs one")
    return rows


def length_batches(lengths: Sequence[int], batch_size: int, max_tokens: int | None = None) -> list[list[int]]:
    """Indices of ``lengths`` grouped longest first: at most ``batch_size`` texts per batch and, with
    ``max_tokens``, at most that many padded tokens (texts × the batch's longest), so batches of
    short texts grow and no compute goes to padding beyond the length spread within a batch."""
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    batches, start = [], 0
    while start < len(order):
        size = batch_size
        if max_tokens is not None:
            size = max(1, min(batch_size, max_tokens // max(lengths[order[start]], 1)))
        batches.append(order[start:start + size])
        start += size
    return batches


def _encode_chunk(
    encoder: TextEncoder, texts: Sequence[str], batch_size: int, max_length: int, offset: int, bar: tqdm,
    max_tokens: int | None = None,
) -> np.ndarray:
    """Vectors for one chunk, batched longest first (less padding, and an OOM shows on the first batch)."""
    out = np.empty((len(texts), encoder.dim), dtype=np.float32)
    rows = _tokenize(encoder, texts, max_length, offset)
    with torch.inference_mode():
        for idx in length_batches([len(r["input_ids"]) for r in rows], batch_size, max_tokens):
            features = encoder.tokenizer.pad([rows[i] for i in idx], padding=True, return_tensors="pt")
            out[idx] = _embed_batch(encoder, dict(features))
            bar.update(len(idx))
    return out


def encode_chunks(
    encoder: TextEncoder,
    texts: Sequence[str],
    batch_size: int = 32,
    max_length: int = 512,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    progress: bool = True,
    max_tokens: int | None = None,
) -> Iterator[np.ndarray]:
    """Yield ``[<= chunk_size, dim]`` float32 vectors for consecutive slices of ``texts``, in order.

    Only one chunk is tokenized and held at a time, so memory is O(chunk_size x dim)
    however long the catalogue (10^6 items x 4096 floats would be 16 GB at once).
    """
    if batch_size < 1 or chunk_size < 1:
        raise ValueError(f"batch_size and chunk_size must be positive; got {batch_size} and {chunk_size}")
    if max_tokens is not None and max_tokens < 1:
        raise ValueError(f"max_tokens must be positive (or None for no token budget); got {max_tokens}")
    with tqdm(total=len(texts), disable=not progress, desc="encode", unit="text") as bar:
        for start in range(0, len(texts), chunk_size):
            yield _encode_chunk(encoder, texts[start : start + chunk_size], batch_size, max_length, start, bar,
                                max_tokens)


def encode(
    encoder: TextEncoder,
    texts: list[str],
    batch_size: int = 32,
    max_length: int = 512,
    progress: bool = True,
    max_tokens: int | None = None,
) -> np.ndarray:
    """Mean-pooled float32 vectors ``[len(texts), dim]``, in the order of ``texts``, all in memory.

    For small inputs; large catalogues go through :func:`encode_to_parquet`. The whole
    input is one chunk, so batches are formed over all texts, longest first.
    """
    chunks = list(encode_chunks(encoder, texts, batch_size, max_length, max(len(texts), 1), progress, max_tokens))
    return chunks[0] if chunks else np.empty((0, encoder.dim), dtype=np.float32)


def encode_to_parquet(
    encoder: TextEncoder,
    item_idx: Sequence[int] | np.ndarray,
    texts: Sequence[str],
    out_path: str | os.PathLike[str],
    metadata: Mapping[str, object],
    batch_size: int = 32,
    max_length: int = 512,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    progress: bool = True,
    max_tokens: int | None = None,
) -> int:
    """Stream the vectors of ``texts`` into an embeddings Parquet, one row group per chunk; return the row count.

    The file appears at ``out_path`` only once complete (temporary file, then rename), so a
    crash or error after hours of encoding never leaves a truncated artifact.
    """
    item_idx = np.asarray(item_idx)
    if item_idx.ndim != 1 or len(item_idx) != len(texts):
        raise ValueError(f"need one item_idx per text; got {item_idx.shape} item ids for {len(texts)} texts")
    written = 0
    with embeddings_writer(out_path, encoder.dim, metadata) as write:
        for vectors in encode_chunks(encoder, texts, batch_size, max_length, chunk_size, progress, max_tokens):
            write(item_idx[written : written + len(vectors)], vectors)
            written += len(vectors)
    return written
