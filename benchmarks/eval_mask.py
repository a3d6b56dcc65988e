"""The effect of ``protocol.eval_mask`` and ``protocol.repeat_target`` on trained checkpoints:
nDCG@k on validation (and test) with the input window left out of the ranking (``window``) or the
user's whole known prefix (``prefix``, the official code), a target among those items counted as a
miss (``miss``, the official code) or ranked against the rest (``ranked``); how many users the two
masks differ for, and how many targets are repeats.

The protocol changes no weight, only which items compete with the target, so the same checkpoints
are scored every way:

    python benchmarks/eval_mask.py --data results/prime-pantry/data \\
        --embeddings results/prime-pantry/embeddings/smollm2.parquet \\
        --config config.yaml configs/prime-pantry.yaml \\
        results/prime-pantry/sasrec/seed0/id/model.pt results/prime-pantry/sasrec/seed0/smollm2/pad/model.pt
"""

from __future__ import annotations

import argparse

import torch
import yaml

from padlib.config import merge_config
from padlib.data.dataset import EVAL_MASKS, REPEAT_TARGETS, load_data
from padlib.evaluation.metrics import ndcg
from padlib.evaluation.ranking import target_ranks
from padlib.models.build import ModelConfig, load_checkpoint, rebuild
from padlib.text.store import load_text


def differing_users(split) -> int:
    """Users whose known prefix holds an item outside the input window."""
    window = [set(row[row != 0].tolist()) for row in split.history]
    prefix = [set(row[row != 0].tolist()) for row in split.known]
    return sum(p != w for p, w in zip(prefix, window))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoints", nargs="+")
    parser.add_argument("--data", required=True, help="the data stage's folder")
    parser.add_argument("--embeddings", help="the text embeddings (checkpoints with a text expert)")
    parser.add_argument("--config", nargs="+", default=["config.yaml"],
                        help="config files, merged in order as Snakemake does; protocol and evaluate are used")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    config: dict = {}
    for path in args.config:
        merge_config(config, yaml.safe_load(open(path)))
    k, batch = config["evaluate"]["k"], config["evaluate"]["batch_size"]
    ways = [(mask, repeat) for mask in EVAL_MASKS for repeat in REPEAT_TARGETS]
    data = {way: load_data(args.data, {**config["protocol"], "eval_mask": way[0], "repeat_target": way[1]})
            for way in ways}
    prefix = data[ways[0]]
    for name in ("valid", "test"):
        split = getattr(prefix, name)
        repeats = int((split.known == split.target.unsqueeze(-1)).any(-1).sum())
        print(f"{name}: the masks differ for {differing_users(split)} of {len(split.target)} users; "
              f"{repeats} targets are in the user's known prefix")
    print(f"{'checkpoint':70s} {'split':5s} " + " ".join(f"{m + '/' + r:>14s}" for m, r in ways))
    for path in args.checkpoints:
        checkpoint = load_checkpoint(path)
        text = None
        if checkpoint["phase"] != "pretrain":  # every other phase has a text expert
            text = load_text(args.embeddings, prefix.n_items, ModelConfig.from_dict(checkpoint["model"]).text_norm)
        model = rebuild(checkpoint, text, prefix.item_buckets)
        for name in ("valid", "test"):
            scores = []
            for way in ways:
                split = getattr(data[way], name)
                ranks = target_ranks(model, split.history, split.target, prefix.n_items, batch, known=split.known,
                                     repeat_target=split.repeat_target)
                scores.append(float(ndcg(ranks, k).mean()))
            print(f"{path:70s} {name:5s} " + " ".join(f"{s:14.4f}" for s in scores))


if __name__ == "__main__":
    main()
