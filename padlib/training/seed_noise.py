"""Validation nDCG@k of the three PAD phases over several seeds, for checking that a speed
change keeps the model's quality within seed noise.

Runs pretrain → align → finetune (``padlib.training.phases``) on a processed dataset with the params
the workflow gives a PAD variant's runs (``Plan.stage_params``), under the ``--train`` overrides, and
prints one row per seed and phase with the best validation nDCG, best epoch and wall time:

    python -m padlib.training.seed_noise --data results/ml-100k/data \\
        --embeddings results/ml-100k/embeddings/smollm2.parquet --seeds 0 1 2 --out /tmp/noise-new

It lives beside the phases it drives: ``padlib.analysis`` cannot import them (the report imports
``padlib.analysis``, the training stages the run plan, and the run plan the report). A tree from
before the run plan (b12c064) cannot run it: its reference figures came from
``benchmarks/seed_noise.py`` of a commit that still had it, with ``PYTHONPATH`` at the older tree.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import torch
import yaml

from padlib.config import merge_config, validate_config
from padlib.errors import ConfigError
from padlib.plan import Plan
from padlib.training.phases import align, finetune, pretrain

PHASES = ("pretrain", "align", "finetune")


def load_plan(paths: list[str], schema: str) -> Plan:
    """The run plan of the config files merged in order (as Snakemake merges ``--configfile``), validated."""
    config: dict[str, Any] = {}
    for path in paths:
        merge_config(config, yaml.safe_load(Path(path).read_text()))
    return Plan.from_config(validate_config(config, schema))


def phase_params(plan: Plan, phase: str, variant: str, backbone: str, overrides: dict[str, Any]) -> dict[str, Any]:
    """What the workflow's rule for ``phase`` gives ``variant``'s run, its ``train`` block overridden."""
    spec = plan.variants.get(variant)
    if spec is None or spec.align_tag is None:
        raise ConfigError(f"--variant {variant!r}: not a PAD variant of this config (PAD variants: "
                          f"{sorted(v.name for v in plan.variants.values() if v.align_tag)})")
    run = {"pretrain": spec.pretrain_tag, "align": spec.align_tag, "finetune": variant}[phase]
    params = plan.stage_params(phase, backbone, run)
    return {**params, "train": {**params["train"], **overrides}}


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m padlib.training.seed_noise", description=__doc__.split("\n\n")[0])
    p.add_argument("--config", nargs="+", default=["config.yaml"], help="config files, merged in order")
    p.add_argument("--schema", default="schemas/config.schema.yaml")
    p.add_argument("--variant", default="pad", help="the PAD variant whose runs' params are used")
    p.add_argument("--backbone", default="sasrec")
    p.add_argument("--data", required=True, help="the data stage's folder (items/sequences/splits.parquet)")
    p.add_argument("--embeddings", required=True)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--out", required=True, help="folder for the checkpoints and results.json")
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--train", default="{}", help="JSON overrides of every phase's train block")
    for phase in PHASES:
        p.add_argument(f"--{phase}-train", default="{}", help=f"JSON overrides of the {phase} train block only")
    p.add_argument("--phases", type=int, default=3, help="run the first this many phases (1: pretrain only)")
    p.add_argument("--reuse", action="store_true",
                   help="skip pretrain/align when their checkpoints are already in --out (phase-3 sweeps)")
    p.add_argument("--tag", default="", help="suffix of the --tag-phase checkpoint's name (sweeps)")
    p.add_argument("--tag-phase", default="finetune", choices=PHASES)
    return p


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    """Train the phases for every seed; returns the rows it also writes to ``--out``/results.json."""
    args = parser().parse_args(argv)
    torch.set_num_threads(args.threads)
    plan = load_plan(args.config, args.schema)
    params = {phase: phase_params(plan, phase, args.variant, args.backbone,
                                  {**json.loads(args.train), **json.loads(getattr(args, f"{phase}_train"))})
              for phase in PHASES}
    out = Path(args.out)
    rows = []
    for seed in args.seeds:
        run = out / f"seed{seed}"
        run.mkdir(parents=True, exist_ok=True)
        ckpt = {p: str(run / f"{p}.pt") for p in PHASES}
        ckpt[args.tag_phase] = str(run / f"{args.tag_phase}{args.tag}.pt")
        steps = {
            "pretrain": lambda: pretrain(args.data, ckpt["pretrain"], params["pretrain"], seed, device=args.device),
            "align": lambda: align(args.data, args.embeddings, ckpt["pretrain"], ckpt["align"], params["align"], seed,
                                   device=args.device),
            "finetune": lambda: finetune(args.data, args.embeddings, ckpt["pretrain"], ckpt["align"],
                                         ckpt["finetune"], params["finetune"], seed, device=args.device),
        }
        for phase in PHASES[:args.phases]:
            if args.reuse and phase != args.tag_phase and Path(ckpt[phase]).exists():
                continue
            start = time.perf_counter()
            result = steps[phase]()
            row = {"seed": seed, "phase": phase, "valid_ndcg": result.best_valid_ndcg, "best_epoch": result.best_epoch,
                   "epochs": result.epochs_run, "wall_s": time.perf_counter() - start}
            rows.append(row)
            print(json.dumps(row), flush=True)
    (out / "results.json").write_text(json.dumps(rows, indent=1))
    return rows


if __name__ == "__main__":
    main()
