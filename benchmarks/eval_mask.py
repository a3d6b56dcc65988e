"""The effect of ``protocol.eval_mask`` on trained checkpoints: nDCG@k on validation (and test)
with the input window left out of the ranking (``window``) and with the user's whole known prefix
left out (``prefix``, the official code), and how many users the two masks differ for.

The mask changes no weight, only which items compete with the target, so the same checkpoints are
scored both ways:

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
from padlib.data.dataset import EVAL_MASKS, load_data
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
    data = {mask: load_data(args.data, {**config["protocol"], "eval_mask": mask}) for mask in EVAL_MASKS}
    prefix = data["prefix"]
    for name in ("valid", "test"):
        split = getattr(prefix, name)
        print(f"{name}: the masks differ for {differing_users(split)} of {len(split.target)} users")
    print(f"{'checkpoint':70s} {'split':5s} " + " ".join(f"{m:>8s}" for m in EVAL_MASKS))
    for path in args.checkpoints:
        checkpoint = load_checkpoint(path)
        text = None
        if checkpoint["phase"] != "pretrain":  # every other phase has a text expert
            text = load_text(args.embeddings, prefix.n_items, ModelConfig.from_dict(checkpoint["model"]).text_norm)
        model = rebuild(checkpoint, text, prefix.item_buckets)
        for name in ("valid", "test"):
            scores = []
            for mask in EVAL_MASKS:
                split = getattr(data[mask], name)
                ranks = target_ranks(model, split.history, split.target, prefix.n_items, batch, known=split.known)
                scores.append(float(ndcg(ranks, k).mean()))
            print(f"{path:70s} {name:5s} " + " ".join(f"{s:8.4f}" for s in scores))


if __name__ == "__main__":
    main()
