"""A small synthetic dataset with real structure, written in the users'-own-data table format."""

from __future__ import annotations

import csv
import random
from pathlib import Path


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
