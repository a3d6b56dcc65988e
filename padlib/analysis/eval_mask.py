"""The effect of ``protocol.eval_mask`` and ``protocol.repeat_target`` on trained checkpoints:
nDCG@k on validation and test with the input window left out of the ranking (``window``) or the
user's whole known prefix (``prefix``, the official code), a target among those items counted as a
miss (``miss``, the official code) or ranked against the rest (``ranked``); how many users the two
masks differ for, and how many targets are repeats.

The protocol changes no weight, only which items compete with the target, so the same checkpoints
are scored every way:

    python -m padlib.analysis.eval_mask --data results/prime-pantry/data \\
        --embeddings results/prime-pantry/embeddings/smollm2.parquet \\
        --config config.yaml configs/prime-pantry.yaml \\
        results/prime-pantry/sasrec/seed0/id/model.pt results/prime-pantry/sasrec/seed0/smollm2/pad/model.pt
"""

from __future__ import annotations

import argparse
from typing import Any

import torch
import yaml

from padlib.config import merge_config
from padlib.data.dataset import EVAL_MASKS, REPEAT_TARGETS, EvalSplit, SequenceData, load_data
from padlib.evaluation.metrics import ndcg
from padlib.evaluation.ranking import target_ranks
from padlib.models.build import ModelConfig, rebuild
from padlib.models.checkpoint import load_checkpoint
from padlib.text.store import load_text

Way = tuple[str, str]  # (eval_mask, repeat_target)
WAYS: list[Way] = [(mask, repeat) for mask in EVAL_MASKS for repeat in REPEAT_TARGETS]
SPLITS = ("valid", "test")


def differing_users(split: EvalSplit) -> int:
    """Users whose known prefix holds an item outside the input window."""
    window = [set(row[row != 0].tolist()) for row in split.history]
    prefix = [set(row[row != 0].tolist()) for row in split.known]
    return sum(p != w for p, w in zip(prefix, window))


def repeat_targets(split: EvalSplit) -> int:
    """Users whose target is already in their known prefix (a repeat purchase)."""
    return int((split.known == split.target.unsqueeze(-1)).any(-1).sum())


def load_ways(data_dir: str, protocol: dict[str, Any]) -> dict[Way, SequenceData]:
    """The dataset under every (eval_mask, repeat_target) of ``WAYS``, the rest of ``protocol`` kept."""
    return {way: load_data(data_dir, {**protocol, "eval_mask": way[0], "repeat_target": way[1]}) for way in WAYS}


def score_checkpoint(path: str, data: dict[Way, SequenceData], embeddings: str | None, k: int,
                     batch: int) -> dict[str, list[float]]:
    """Split → the checkpoint's nDCG@k under each way of ``WAYS``, in that order."""
    checkpoint = load_checkpoint(path)
    base = data[WAYS[0]]
    text = None
    if checkpoint["phase"] != "pretrain":  # every other phase has a text expert
        text = load_text(embeddings, base.n_items, ModelConfig.from_dict(checkpoint["model"]).text_norm)
    model = rebuild(checkpoint, text, base.item_buckets)
    scores: dict[str, list[float]] = {}
    for name in SPLITS:
        scores[name] = []
        for way in WAYS:
            split = getattr(data[way], name)
            ranks = target_ranks(model, split.history, split.target, base.n_items, batch, known=split.known,
                                 repeat_target=split.repeat_target)
            scores[name].append(float(ndcg(ranks, k).mean()))
    return scores


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m padlib.analysis.eval_mask", description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoints", nargs="+")
    parser.add_argument("--data", required=True, help="the data stage's folder")
    parser.add_argument("--embeddings", help="the text embeddings (checkpoints with a text expert)")
    parser.add_argument("--config", nargs="+", default=["config.yaml"],
                        help="config files, merged in order as Snakemake does; protocol and evaluate are used")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    config: dict[str, Any] = {}
    for path in args.config:
        with open(path) as fh:
            merge_config(config, yaml.safe_load(fh))
    data = load_ways(args.data, config["protocol"])
    prefix = data[WAYS[0]]  # the first way is the prefix mask
    for name in SPLITS:
        split = getattr(prefix, name)
        print(f"{name}: the masks differ for {differing_users(split)} of {len(split.target)} users; "
              f"{repeat_targets(split)} targets are in the user's known prefix")
    print(f"{'checkpoint':70s} {'split':5s} " + " ".join(f"{m + '/' + r:>14s}" for m, r in WAYS))
    k, batch = config["evaluate"]["k"], config["evaluate"]["batch_size"]
    for path in args.checkpoints:
        scores = score_checkpoint(path, data, args.embeddings, k, batch)
        for name in SPLITS:
            print(f"{path:70s} {name:5s} " + " ".join(f"{s:14.4f}" for s in scores[name]))


if __name__ == "__main__":
    main()
