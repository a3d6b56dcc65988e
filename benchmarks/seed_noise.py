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
import functools
import inspect
import json
import time
from pathlib import Path

import torch
import yaml


def stage_params(config: dict, phase: str, overrides: dict) -> dict:
    """The params a phase receives in the workflow (padlib/plan.py ``Plan.stage_params``), sasrec backbone."""
    model = {**config["model"], "backbone": {"name": "sasrec", **config["backbones"]["sasrec"]}}
    train = {**config["train"], **config[phase].get("train", {}), **overrides}
    params = {"protocol": config["protocol"], "model": model, "train": train}
    if phase in ("align", "finetune"):
        params[phase] = {k: v for k, v in config[phase].items() if k != "train"}
    return params


def on_cpu(stage):
    """``stage`` run on the CPU: this tree takes the device as an argument, reference trees from before
    it left the params read ``params["device"]`` (which ``main`` also sets)."""
    if "device" in inspect.signature(stage).parameters:
        return functools.partial(stage, device="cpu")
    return stage


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default="config.yaml")
    parser.add_argument("--data", required=True, help="the data stage's folder (items/sequences/splits.parquet)")
    parser.add_argument("--embeddings", required=True)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--out", required=True, help="folder for the checkpoints and results.json")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--train", default="{}", help="JSON overrides of every phase's train block")
    for phase in ("pretrain", "align", "finetune"):
        parser.add_argument(f"--{phase}-train", default="{}", help=f"JSON overrides of the {phase} train block only")
    parser.add_argument("--phases", type=int, default=3, help="run the first this many phases (1: pretrain only)")
    parser.add_argument("--reuse", action="store_true",
                        help="skip pretrain/align when their checkpoints are already in --out (phase-3 sweeps)")
    parser.add_argument("--tag", default="", help="suffix of the --tag-phase checkpoint's name (sweeps)")
    parser.add_argument("--tag-phase", default="finetune", choices=["pretrain", "align", "finetune"])
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    from padlib.training.phases import align, finetune, pretrain
    pretrain, align, finetune = on_cpu(pretrain), on_cpu(align), on_cpu(finetune)

    config = yaml.safe_load(Path(args.config).read_text())
    overrides = json.loads(args.train)

    def params(phase: str) -> dict:
        phase_overrides = {**overrides, **json.loads(getattr(args, f"{phase}_train"))}
        return {"device": "cpu", **stage_params(config, phase, phase_overrides)}
    out = Path(args.out)
    rows = []
    for seed in args.seeds:
        run = out / f"seed{seed}"
        run.mkdir(parents=True, exist_ok=True)
        ckpt = {p: str(run / f"{p}.pt") for p in ("pretrain", "align")}
        ckpt[args.tag_phase] = str(run / f"{args.tag_phase}{args.tag}.pt")
        steps = [
            ("pretrain", lambda: pretrain(args.data, ckpt["pretrain"], params("pretrain"), seed)),
            ("align", lambda: align(args.data, args.embeddings, ckpt["pretrain"], ckpt["align"], params("align"), seed)),
            ("finetune", lambda: finetune(args.data, args.embeddings, ckpt["pretrain"], ckpt["align"], ckpt["finetune"],
                                          params("finetune"), seed)),
        ]
        for phase, call in steps[:args.phases]:
            if args.reuse and phase != args.tag_phase and Path(ckpt[phase]).exists():
                continue
            start = time.perf_counter()
            result = call()
            row = {"seed": seed, "phase": phase, "valid_ndcg": result.best_valid_ndcg, "best_epoch": result.best_epoch,
                   "epochs": result.epochs_run, "wall_s": time.perf_counter() - start}
            rows.append(row)
            print(json.dumps(row), flush=True)
    (out / "results.json").write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
