"""Time to the best validation epoch of whole training runs: every phase trained to early stopping
by the workflow's own stage functions (``--full``), or the runs a workflow already trained
(``--runs``). Each run's fit history records every epoch's training and validation seconds."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from padlib.evaluation.stage import evaluate_checkpoint
from padlib.models.checkpoint import load_checkpoint
from padlib.training.baselines import scratch
from padlib.training.phases import align, finetune, pretrain

from benchmarks import PHASES
from benchmarks.params import phase_params


def to_best_s(history: list[dict[str, Any]], best_epoch: int) -> float:
    """Training and validation seconds up to and including the best epoch."""
    return sum(h["train_s"] + h["valid_s"] for h in history if h["epoch"] <= best_epoch)


def full_runs(data_dir: str, embeddings: str, config: dict[str, Any], device: torch.device, workdir: Path,
              max_epochs: int | None = None) -> dict[str, dict[str, Any]]:
    """Each phase trained to early stopping (or ``max_epochs``): wall time to the best validation
    epoch, and the test nDCG@10 of the phase's checkpoint."""
    params = {phase: phase_params(config, phase) for phase in PHASES}
    if max_epochs:
        for p in params.values():
            p["train"] = {**p["train"], "max_epochs": max_epochs}
    ckpt = {p: str(workdir / f"{p}.pt") for p in PHASES}
    where = str(device)
    runs = {
        "pretrain": lambda: pretrain(data_dir, ckpt["pretrain"], params["pretrain"], 0, device=where),
        "align": lambda: align(data_dir, embeddings, ckpt["pretrain"], ckpt["align"], params["align"], 0,
                               device=where),
        "finetune": lambda: finetune(data_dir, embeddings, ckpt["pretrain"], ckpt["align"], ckpt["finetune"],
                                     params["finetune"], 0, device=where),
        "morec": lambda: scratch(data_dir, embeddings, ckpt["morec"], params["morec"], 0, "morec", device=where),
    }
    out = {}
    for phase, run in runs.items():
        result = run()
        out[phase] = {"best_epoch": result.best_epoch, "epochs_run": result.epochs_run,
                      "valid_ndcg": result.best_valid_ndcg, "wall_s": result.wall_time_s,
                      "to_best_s": to_best_s(result.history, result.best_epoch)}
        metrics = evaluate_checkpoint(data_dir, ckpt[phase], embeddings, str(workdir / f"{phase}-metrics.json"),
                                      str(workdir / f"{phase}-ranks.parquet"),
                                      {"protocol": config["protocol"], "evaluate": config["evaluate"]},
                                      device=where)
        out[phase]["test_ndcg"] = metrics["test"]["overall"]["ndcg@10"]
    return out


def summarize_runs(results: Path) -> str:
    """A table of the training runs under ``results`` (a workflow's checkpoints): time to the best
    validation epoch, with the test nDCG@10 of the run's metrics.json when evaluated."""
    lines = ["| run | best epoch / run | to best | total | valid nDCG@10 | test nDCG@10 |", "|---|---|---|---|---|---|"]
    for path in sorted(results.rglob("model.pt")):
        fit = load_checkpoint(path)["fit"]
        if not all("train_s" in h for h in fit["history"] if h["epoch"] <= fit["best_epoch"]):
            continue
        metrics = path.parent / "metrics.json"
        test = json.loads(metrics.read_text())["test"]["overall"]["ndcg@10"] if metrics.exists() else None
        lines.append(f"| {path.parent.relative_to(results)} | {fit['best_epoch']} / {fit['epochs_run']} | "
                     f"{to_best_s(fit['history'], fit['best_epoch']):.0f} s | {fit['wall_time_s']:.0f} s | "
                     f"{fit['best_valid_ndcg']:.4f} | {'—' if test is None else f'{test:.4f}'} |")
    return "\n".join(lines)
