"""The processed dataset (the data stage's Parquet files) as dense tensors for training and ranking."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import torch

from padlib.errors import ConfigError
from padlib.io import read_parquet


def left_pad(rows: list[list[int]], length: int) -> np.ndarray:
    """Keep the last ``length`` items of each row, left-padded with 0 → int64 [len(rows), length]."""
    out = np.zeros((len(rows), length), dtype=np.int64)
    for i, row in enumerate(rows):
        tail = row[-length:] if length else []
        if len(tail):
            out[i, length - len(tail):] = tail
    return out


def per_item(items: pl.DataFrame, column: str, dtype: type = np.int64) -> np.ndarray:
    """items.parquet's ``column`` as an array [N + 1] indexed by item (row 0, padding: zero; all
    zero when the column is absent, as ``held_out`` is in datasets built before the option)."""
    out = np.zeros(items.height + 1, dtype=dtype)
    if column in items.columns:
        out[items["item_idx"].to_numpy()] = items[column].to_numpy()
    return out


EVAL_MASKS = ("prefix", "window")  # the first is the default (the schema's, checked in tests/test_schema.py)
REPEAT_TARGETS = ("miss", "ranked")  # a target among the left-out items: a miss (official), or ranked; the first is the default


@dataclass
class EvalSplit:
    user_idx: torch.Tensor  # [U]
    history: torch.Tensor   # [U, L] left-padded
    target: torch.Tensor    # [U]
    known: torch.Tensor | None = None  # [U, H] items ranking leaves out (None: the input window)
    repeat_target: str = REPEAT_TARGETS[0]  # a target among them: "miss" or "ranked" (padlib.evaluation.ranking)


@dataclass
class SequenceData:
    n_items: int
    n_buckets: int
    max_input_length: int
    item_buckets: torch.Tensor   # [N + 1], 0 for padding
    unseen: torch.Tensor         # [N + 1] bool: items no training position has (padding excluded)
    held_out: torch.Tensor       # [N + 1] bool: items held out of training (protocol.new_items): never a negative
    train_input: torch.Tensor    # [U, L] left-padded
    train_target: torch.Tensor   # [U, L] next item per position, 0 where no target
    train_items: torch.Tensor    # [U, H] the training prefix: items a user never gets as a negative
    valid: EvalSplit
    test: EvalSplit

    @classmethod
    def load(cls, data_dir: str | os.PathLike[str], n_buckets: int, max_input_length: int,
             eval_mask: str = EVAL_MASKS[0], repeat_target: str = REPEAT_TARGETS[0]) -> "SequenceData":
        """``eval_mask``: the items ranking leaves out for a validation or test user: the input
        window (the last ``max_input_length`` items) or the whole known prefix (``prefix``, the
        official code's: every training item for validation, every item before the target for test).
        ``repeat_target``: whether a target among those items is a miss (the official code's) or ranked.
        The data stage's three files are each checked against their manifest (a DataError naming it otherwise)."""
        if eval_mask not in EVAL_MASKS:
            raise ConfigError(f"protocol.eval_mask: {eval_mask!r} is not one of {list(EVAL_MASKS)}")
        if repeat_target not in REPEAT_TARGETS:
            raise ConfigError(f"protocol.repeat_target: {repeat_target!r} is not one of {list(REPEAT_TARGETS)}")
        data_dir = Path(data_dir)
        items = read_parquet(data_dir / "items.parquet")
        sequences = read_parquet(data_dir / "sequences.parquet")
        splits = read_parquet(data_dir / "splits.parquet")
        n_items = items.height
        buckets = per_item(items, "bucket")
        unseen = per_item(items, "train_freq") == 0
        unseen[0] = False  # padding
        held_out = per_item(items, "held_out", bool)
        seqs = sequences["items"].to_list()
        prefixes = [seq[:-2] for seq in seqs]
        length = max_input_length
        by_user = dict(zip(sequences["user_idx"].to_list(), seqs)) if eval_mask == "prefix" else {}

        def split(name: str) -> EvalSplit:
            part = splits.filter(pl.col("split") == name).sort("user_idx")
            known = None
            if eval_mask == "prefix":  # every item before the target: the last 2 (valid) or 1 (test) cut off
                cut = 2 if name == "valid" else 1
                rows = [by_user[u][:-cut] for u in part["user_idx"].to_list()]
                known = torch.as_tensor(left_pad(rows, max(len(r) for r in rows)))
            return EvalSplit(
                user_idx=torch.tensor(part["user_idx"].to_numpy(), dtype=torch.long),
                history=torch.as_tensor(left_pad(part["history"].to_list(), length)),
                target=torch.tensor(part["target"].to_numpy(), dtype=torch.long),
                known=known,
                repeat_target=repeat_target,
            )

        return cls(
            n_items=n_items,
            n_buckets=n_buckets,
            max_input_length=length,
            item_buckets=torch.as_tensor(buckets),
            unseen=torch.as_tensor(unseen),
            held_out=torch.as_tensor(held_out),
            train_input=torch.as_tensor(left_pad([p[:-1] for p in prefixes], length)),
            train_target=torch.as_tensor(left_pad([p[1:] for p in prefixes], length)),
            train_items=torch.as_tensor(left_pad(prefixes, max(len(p) for p in prefixes))),
            valid=split("valid"),
            test=split("test"),
        )


def load_data(data_dir: str | os.PathLike[str], protocol: dict[str, Any]) -> SequenceData:
    """The data stage's output under the ``protocol`` config (buckets, input length, ranking mask)."""
    return SequenceData.load(data_dir, protocol["n_buckets"], protocol["max_input_length"],
                             protocol.get("eval_mask", EVAL_MASKS[0]), protocol.get("repeat_target", REPEAT_TARGETS[0]))
