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

Special tokens are whatever the tokenizer adds by default (``add_special_tokens=True``):
BERT wraps texts in [CLS] ... [SEP] and those take part in the mean; the SmolLM2 GGUF
tokenizer adds no BOS/EOS, so only the text's own tokens are pooled. Position ids are
computed from the attention mask, so left and right padding give the same vectors.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from tqdm.auto import tqdm

from padlib.device import resolve_device, resolve_dtype

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

KINDS = ("llm2vec", "sentence")
BIDIRECTIONAL_ATTENTION = ("sdpa", "eager")


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


def load_text_encoder(
    model_dir: str | os.PathLike[str],
    kind: str,
    device: str | torch.device = "auto",
    dtype: str | torch.dtype = "auto",
    bidirectional: bool = True,
    attn_implementation: str = "sdpa",
) -> TextEncoder:
    """Load a local Hugging Face base model (no LM head) and its tokenizer, offline, in eval mode.

    ``bidirectional`` only applies to ``llm2vec``; ``False`` keeps the LM causal (for tests
    and ablations). ``attn_implementation`` is ``sdpa`` or ``eager``, the two paths whose
    bidirectional masking is checked.
    """
    from transformers import AutoModel, AutoTokenizer

    if kind not in KINDS:
        raise ValueError(f"unknown text encoder kind {kind!r}; known: {list(KINDS)}")
    if attn_implementation not in BIDIRECTIONAL_ATTENTION:
        raise ValueError(f"attn_implementation must be one of {list(BIDIRECTIONAL_ATTENTION)}")
    path = _local_dir(model_dir)
    torch_device = resolve_device(device)
    torch_dtype = resolve_dtype(dtype, torch_device)
    tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
    ensure_pad_token(tokenizer)
    model = AutoModel.from_pretrained(
        path, dtype=torch_dtype, local_files_only=True, attn_implementation=attn_implementation
    )
    model.to(torch_device).eval()
    if kind == "llm2vec":
        set_bidirectional(model, bidirectional)
        if attends_forward(model, torch_device) != bidirectional:
            raise RuntimeError(f"{path}: could not make attention {'bi' if bidirectional else 'uni'}directional")
    return TextEncoder(tokenizer, model, kind, torch_device, bidirectional if kind == "llm2vec" else True)


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


def _tokenize(encoder: TextEncoder, texts: list[str], max_length: int) -> list[dict[str, list[int]]]:
    batch = encoder.tokenizer(list(texts), truncation=True, max_length=max_length)
    rows = [{name: batch[name][i] for name in batch.keys()} for i in range(len(texts))]
    empty = [i for i, row in enumerate(rows) if not row["input_ids"]]
    if empty:
        raise ValueError(f"{len(empty)} texts have no tokens (first at index {empty[0]}); mean pooling needs one")
    return rows


def encode(
    encoder: TextEncoder,
    texts: list[str],
    batch_size: int = 32,
    max_length: int = 512,
    progress: bool = True,
) -> np.ndarray:
    """Mean-pooled float32 vectors ``[len(texts), dim]``, in the order of ``texts``.

    Texts are batched longest first (less padding, and an out-of-memory error shows up
    on the first batch); only one batch of hidden states is alive at a time.
    """
    if batch_size < 1:
        raise ValueError("batch_size must be positive")
    out = np.empty((len(texts), encoder.dim), dtype=np.float32)
    if not texts:
        return out
    rows = _tokenize(encoder, texts, max_length)
    order = sorted(range(len(rows)), key=lambda i: -len(rows[i]["input_ids"]))
    with torch.inference_mode(), tqdm(total=len(rows), disable=not progress, desc="encode", unit="text") as bar:
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            features = encoder.tokenizer.pad([rows[i] for i in idx], padding=True, return_tensors="pt")
            out[idx] = _embed_batch(encoder, dict(features))
            bar.update(len(idx))
    return out
