"""A small synthetic dataset with real structure, written in the users'-own-data table format."""

from __future__ import annotations

import csv
import random
from pathlib import Path

import yaml


def write_synthetic(root: Path, n_users: int = 40, n_items: int = 30, seed: int = 0) -> tuple[Path, Path]:
    """Interactions with structure (users prefer one of three genres) and item titles."""
    rng = random.Random(seed)
    genres = ["action", "comedy", "drama"]
    item_genre = {f"m{i}": genres[i % 3] for i in range(1, n_items + 1)}
    interactions = root / "interactions.csv"
    with interactions.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["user", "item", "timestamp", "rating"])
        for u in range(1, n_users + 1):
            liked = genres[u % 3]
            pool = [i for i, g in item_genre.items() if g == liked]
            others = [i for i in item_genre if i not in pool]
            for t in range(rng.randint(6, 12)):
                item = rng.choice(pool) if rng.random() < 0.8 else rng.choice(others)
                writer.writerow([f"u{u}", item, 1000 + 10 * t, rng.choice([4, 5, 5, 3])])
    items = root / "items.csv"
    with items.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["item", "title", "genre"])
        for i, g in item_genre.items():
            writer.writerow([i, f"the {g} film number {i[1:]}", g])
    return interactions, items


def write_training_inputs(root: Path, protocol: dict, n_users: int) -> int:
    """The data stage's Parquet files plus stand-in text vectors that carry each item's genre
    (as an LLM's would), for training a phase without Snakemake; returns the catalogue size."""
    import numpy as np

    from padlib.data.protocol import ProtocolConfig, apply_protocol
    from padlib.data.stage import write_dataset
    from padlib.data.tables import read_interactions, read_items
    from padlib.text.store import write_embeddings

    interactions, items = write_synthetic(root, n_users=n_users)
    result = apply_protocol(read_interactions(interactions), read_items(items), ProtocolConfig(**protocol))
    write_dataset(result, {n: str(root / f"{n}.parquet") for n in ("items", "sequences", "splits")})
    rng = np.random.default_rng(0)
    genre = result.items["genre"].to_list()
    centres = {g: rng.normal(size=12) for g in set(genre)}
    vectors = np.stack([centres[g] + 0.3 * rng.normal(size=12) for g in genre]).astype(np.float32)
    write_embeddings(root / "text.parquet", np.arange(1, len(genre) + 1), vectors, {"encoder": "stand-in"})
    return len(genre)


def tiny_grid_config(root: Path, grid: dict, llama: Path, bert: Path) -> dict:
    """configs/grid-ml-1m.yaml (``grid``) cut to a tiny synthetic dataset: every variant and backbone,
    one seed, one epoch, tiny model sizes, and the tiny encoders at ``llama`` / ``bert`` standing in for
    SmolLM2 / MiniLM."""
    interactions, items = write_synthetic(root, n_users=40)
    encoders = {"smollm2": "tinyllama", "minilm": "tinybert"}
    for block in grid["run"]["experiments"]:
        block["encoders"] = [encoders[e] for e in block["encoders"]]
    for section in grid["report"]["tables"] + grid["report"]["figures"]:
        section["encoders"] = [encoders[e] for e in section["encoders"]]
    grid["run"].update(datasets=["tiny"], encoders=["tinyllama"], seeds=[0])
    grid["sources"] = {"tiny": {"kind": "table", "interactions": str(interactions), "items": str(items)}}
    template = "{title}. Genre: {genre}"
    grid["encoders"] = {
        "tinyllama": {"kind": "llm2vec", "model": {"path": str(llama)}, "template": template},
        "tinybert": {"kind": "sentence", "model": {"path": str(bert)}, "template": template},
    }
    grid.update(
        device="cpu",
        protocol={"min_rating": 4, "min_user_interactions": 5, "max_sequence_length": 10, "max_input_length": 6,
                  "n_buckets": 10},
        backbones={"sasrec": {"blocks": 1, "heads": 2, "ffn_dim": 32}, "gru4rec": {"layers": 1},
                   "caser": {"window": 3, "n_h": 4, "n_v": 2}},
        model={"dim": 16, "projection_layers": 1},
        train={"batch_size": 16, "lr": 0.005, "weight_decay": 0.1, "max_epochs": 1, "patience": 1,
               "eval_batch_size": 64, "precision": "fp32"},  # fp32: validation reproducible by the evaluation
        ctrl={"align_epochs": 1, "align_batch_size": 16, "temperature": 0.1},
    )
    return grid


def write_tiny_workflow(root: Path) -> dict:
    """The tiny end-to-end workflow in ``root``: synthetic data, a tiny random Llama encoder and a
    ``config.yaml`` (SASRec and PAD, one seed, a few epochs, two embedding shards); returns the config."""
    from tiny_models import make_tiny_llama

    interactions, items = write_synthetic(root)
    model_dir = make_tiny_llama(root / "tiny-llama")
    config = {
        "device": "cpu",
        "run": {"datasets": ["tiny"], "encoders": ["tinyllama"], "backbones": ["sasrec"], "seeds": [0],
                "variants": ["sasrec", "pad"]},
        "sources": {"tiny": {"kind": "table", "interactions": str(interactions), "items": str(items)}},
        "protocol": {"min_rating": 4, "min_user_interactions": 5, "max_sequence_length": 10,
                     "max_input_length": 6, "n_buckets": 10},
        "encoders": {"tinyllama": {"kind": "llm2vec", "model": {"path": str(model_dir)},
                                   "template": "{title}. Genre: {genre}", "batch_size": 8, "max_length": 32}},
        "embed": {"shards": 2},
        "backbones": {"sasrec": {"blocks": 1, "heads": 2, "ffn_dim": 32, "dropout": 0.1}},
        "variants": {"sasrec": {"method": "id"}, "pad": {"method": "pad"}},
        "ctrl": {"align_epochs": 2, "align_batch_size": 16, "temperature": 0.1},
        # a random tiny LLM's mean-pooled vectors share one large component: standardised, 3 epochs find the genres
        "model": {"dim": 16, "projection_layers": 1, "text_norm": "standardize"},
        "train": {"batch_size": 16, "lr": 0.005, "weight_decay": 0.1, "max_epochs": 3, "patience": 2,
                  "eval_batch_size": 64, "precision": "fp32"},  # fp32: validation reproducible by the evaluation
        "pretrain": {"train": {}},
        "align": {"gamma": 0.2, "kernel": "gaussian", "anchoring": "rec"},
        "finetune": {"experts": ["id", "aligned", "text"], "gate": "frequency",
                     "gate_init": {"id": [1.0, 0.0], "aligned": [-4.0, -5.0], "text": [0.0, 1.0]}},
        "evaluate": {"k": 10, "batch_size": 64},
    }
    (root / "config.yaml").write_text(yaml.safe_dump(config))
    return config
