"""Validation nDCG@k of the three PAD phases over several seeds, for checking that a speed
change keeps the model's quality within seed noise.

Runs pretrain → align → finetune (padlib.training.phases) on a processed dataset and prints one
row per seed and phase with the best validation nDCG, best epoch and wall time. Run it with
PYTHONPATH pointing at another checkout (e.g. a `git worktree` of a reference commit) to get the
reference figures from the same script:

    python benchmarks/seed_noise.py --data results/ml-100k/data \\
        --embeddings results/ml-100k/embeddings/smollm2.parquet --seeds 0 1 2 --out /tmp/noise-new
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
import yaml


def stage_params(config: dict, phase: str, overrides: dict) -> dict:
    """The params a phase receives in the workflow (rules/common.smk ``stage_params``), sasrec backbone."""
    model = {**config["model"], "backbone": {"name": "sasrec", **config["backbones"]["sasrec"]}}
    train = {**config["train"], **config[phase].get("train", {}), **overrides}
    params = {"device": "cpu", "protocol": config["protocol"], "model": model, "train": train}
    if phase in ("align", "finetune"):
        params[phase] = {k: v for k, v in config[phase].items() if k != "train"}
    return params


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default="config.yaml")
    parser.add_argument("--data", required=True, help="the data stage's folder (items/sequences/splits.parquet)")
    parser.add_argument("--embeddings", required=True)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--out", required=True, help="folder for the checkpoints and results.json")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--train", default="{}", help="JSON overrides of every phase's train block")
    parser.add_argument("--finetune-train", default="{}", help="JSON overrides of phase 3's train block only")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    from padlib.training.phases import align, finetune, pretrain

    config = yaml.safe_load(Path(args.config).read_text())
    overrides = json.loads(args.train)
    out = Path(args.out)
    rows = []
    for seed in args.seeds:
        run = out / f"seed{seed}"
        run.mkdir(parents=True, exist_ok=True)
        ckpt = {p: str(run / f"{p}.pt") for p in ("pretrain", "align", "finetune")}
        steps = [
            ("pretrain", lambda: pretrain(args.data, ckpt["pretrain"], stage_params(config, "pretrain", overrides), seed)),
            ("align", lambda: align(args.data, args.embeddings, ckpt["pretrain"], ckpt["align"],
                                    stage_params(config, "align", overrides), seed)),
            ("finetune", lambda: finetune(args.data, args.embeddings, ckpt["pretrain"], ckpt["align"], ckpt["finetune"],
                                          stage_params(config, "finetune",
                                                       {**overrides, **json.loads(args.finetune_train)}), seed)),
        ]
        for phase, call in steps:
            start = time.perf_counter()
            result = call()
            row = {"seed": seed, "phase": phase, "valid_ndcg": result.best_valid_ndcg, "best_epoch": result.best_epoch,
                   "epochs": result.epochs_run, "wall_s": time.perf_counter() - start}
            rows.append(row)
            print(json.dumps(row), flush=True)
    (out / "results.json").write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
