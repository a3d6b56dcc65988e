"""The embed stage: render item texts, encode them once with a frozen text encoder, store Parquet.

The vectors are streamed to disk chunk by chunk, so memory does not grow with the
catalogue. A large catalogue may be split into contiguous item shards (one job each,
``shard``/``n_shards``) whose part files :func:`gather_items` joins into the one file
downstream stages read.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from padlib.io import manifest_path, read_json, read_parquet, write_manifest
from padlib.text.encoder import DEFAULT_CHUNK_SIZE, TextEncoder, encode_to_parquet, load_text_encoder
from padlib.text.store import gather_embeddings, shard_bounds, shard_metadata
from padlib.text.template import render_texts

ADAPTER_WEIGHTS = ("adapter_model.safetensors", "adapter_model.bin")


def _metadata(encoder_name: str, encoder_cfg: dict[str, Any], encoder: TextEncoder, adapters: list[str]) -> dict:
    """Provenance stored inside the Parquet file; ``adapters`` only when set, so older files stay comparable."""
    source = encoder_cfg["model"].get("wheel") or encoder_cfg["model"].get("path")
    metadata: dict[str, object] = {
        "encoder": encoder_name, "kind": encoder_cfg["kind"], "source": str(source), "dim": str(encoder.dim),
        "pooling": "mean", "template": encoder_cfg["template"], "max_length": str(encoder_cfg["max_length"]),
        "bidirectional": str(encoder.bidirectional),
        "dtype": str(encoder.model.dtype), "device": str(encoder.device),
    }
    if adapters:
        metadata["adapters"] = adapters
    return metadata


def _adapter_weight_files(adapters: list[str]) -> list[str]:
    """The adapters' weight files, so the manifest checksums them like any other input."""
    return [str(Path(a) / name) for a in adapters for name in ADAPTER_WEIGHTS if (Path(a) / name).is_file()]


def embed_items(items_path: str, model_dir: str, encoder_name: str, encoder_cfg: dict[str, Any],
                device: str, out: str, *, shard: int = 0, n_shards: int = 1,
                chunk_size: int = DEFAULT_CHUNK_SIZE, progress: bool = True) -> Path:
    """Encode the items, or shard ``shard`` of ``n_shards`` (rows ``shard_bounds`` of the sorted table), to ``out``.

    ``encoder_cfg["adapters"]`` (optional) lists LoRA adapter directories merged in order;
    ``encoder_cfg["bidirectional"]`` (optional, default true) picks the attention, recorded in
    the Parquet metadata and the manifest.
    A part file carries ``shard``/``n_shards`` in its metadata; a single run (``n_shards``
    1) writes the usual file. Returns ``out``.
    """
    start_time = time.perf_counter()
    items = read_parquet(items_path).sort("item_idx")
    start, stop = shard_bounds(items.height, shard, n_shards)
    part = items.slice(start, stop - start)
    source = items_path if n_shards == 1 else f"{items_path} (shard {shard} of {n_shards}, from row {start + 1})"
    texts = render_texts(part, encoder_cfg["template"], source=source)
    adapters = [str(a) for a in encoder_cfg.get("adapters", [])]
    encoder = load_text_encoder(model_dir, encoder_cfg["kind"], device=device, dtype=encoder_cfg["dtype"],
                                bidirectional=encoder_cfg.get("bidirectional", True), adapters=adapters)
    metadata = _metadata(encoder_name, encoder_cfg, encoder, adapters)
    if n_shards > 1:
        metadata = shard_metadata(metadata, shard, n_shards)
    written = encode_to_parquet(encoder, part["item_idx"].to_numpy(), texts, out, metadata,
                                batch_size=encoder_cfg["batch_size"], max_length=encoder_cfg["max_length"],
                                chunk_size=chunk_size, progress=progress, max_tokens=encoder_cfg.get("max_tokens"))
    write_manifest(out, config={"encoder": encoder_cfg, "device": device},
                   inputs=[items_path, *_adapter_weight_files(adapters)],
                   wall_time_s=time.perf_counter() - start_time, device=str(encoder.device),
                   extra={"items": written, "bidirectional": encoder.bidirectional,
                          "example_text": texts[0] if texts else None,
                          "shard": shard, "n_shards": n_shards, "chunk_size": chunk_size})
    return Path(out)


def gather_items(parts: Sequence[str | os.PathLike[str]], out: str | os.PathLike[str], n_items: int) -> Path:
    """The gather stage: join shard part files into one embeddings file, with a manifest. Returns ``out``.

    The manifest's wall time is the embedding work of all shards plus the gather, so reports
    show what the embed stage cost whatever the sharding.
    """
    start_time = time.perf_counter()
    metadata = gather_embeddings(parts, out, n_items)
    shard_times = [read_json(manifest_path(p)).get("wall_time_s") or 0.0 for p in parts]
    gather_s = time.perf_counter() - start_time
    write_manifest(out, config={"parts": [str(p) for p in parts], "n_items": n_items}, inputs=[str(p) for p in parts],
                   wall_time_s=sum(shard_times) + gather_s, device=metadata.get("device"),
                   extra={"items": n_items, "shard_wall_time_s": shard_times, "gather_wall_time_s": gather_s})
    return Path(out)
