"""The embed stage: render item texts, encode them once with a frozen text encoder, store Parquet."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import polars as pl

from padlib.io import write_manifest
from padlib.text.encoder import encode, load_text_encoder
from padlib.text.store import write_embeddings
from padlib.text.template import render_texts


def embed_items(items_path: str, model_dir: str, encoder_name: str, encoder_cfg: dict[str, Any],
                device: str, out: str) -> np.ndarray:
    start = time.perf_counter()
    items = pl.read_parquet(items_path).sort("item_idx")
    texts = render_texts(items, encoder_cfg["template"], source=items_path)
    encoder = load_text_encoder(model_dir, encoder_cfg["kind"], device=device, dtype=encoder_cfg["dtype"])
    vectors = encode(encoder, texts, batch_size=encoder_cfg["batch_size"], max_length=encoder_cfg["max_length"])
    source = encoder_cfg["model"].get("wheel") or encoder_cfg["model"].get("path")
    metadata = {
        "encoder": encoder_name, "kind": encoder_cfg["kind"], "source": str(source), "dim": str(vectors.shape[1]),
        "pooling": "mean", "template": encoder_cfg["template"], "max_length": str(encoder_cfg["max_length"]),
        "bidirectional": str(encoder_cfg["kind"] == "llm2vec" or encoder_cfg["kind"] == "sentence"),
        "dtype": str(encoder.model.dtype), "device": str(encoder.device),
    }
    write_embeddings(out, items["item_idx"].to_numpy(), vectors, metadata)
    write_manifest(out, config={"encoder": encoder_cfg, "device": device}, inputs=[items_path],
                   wall_time_s=time.perf_counter() - start, device=str(encoder.device),
                   extra={"items": len(texts), "example_text": texts[0]})
    return vectors
