"""The worker protocol: each code tree is measured by a worker process of its own, one tree after
the other, so the two never share the cores. ``run`` starts a worker with the tree first on
``PYTHONPATH`` and reads the one JSON object it prints last; ``measure`` is what a worker does.

The worker runs as ``python -P -m benchmarks --worker``: ``-P`` keeps the working directory off
``sys.path``, so the checkout's own ``padlib`` cannot shadow the tree's."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import torch

from padlib.device import resolve_device

from benchmarks import ROOT
from benchmarks.datasets import load_dataset, parse_dataset
from benchmarks.hardware import machine, matmul_peak
from benchmarks.params import load_config
from benchmarks.serving import serving
from benchmarks.training import time_phase


def command(tree: Path, label: str, args: argparse.Namespace, extras: bool) -> list[str]:
    """The worker's command line: the parent's options, and the extras only for the current tree."""
    cmd = [sys.executable, "-P", "-m", "benchmarks", "--worker", "--tree", str(tree), "--label", label,
           "--device", args.device, "--threads", str(args.threads), "--train-users", str(args.train_users),
           "--text-dim", str(args.text_dim), "--phases", *args.phases]
    if args.loss:
        cmd += ["--loss", args.loss]
    for spec in args.dataset:
        cmd += ["--dataset", spec]
    if extras:
        cmd += ["--extras", "--embed-texts", str(args.embed_texts)]
    cmd += ["--serve-items", str(args.serve_items)]  # 0 (skip) too: the worker's default is not 0
    if args.serve_items:
        cmd += ["--serve-users", str(args.serve_users if extras else args.reference_serve_users),
                "--serve-batch", str(args.serve_batch), "--serve-add", str(args.serve_add if extras else 0)]
    if args.full and extras:
        cmd += ["--full"] + (["--full-max-epochs", str(args.full_max_epochs)] if args.full_max_epochs else [])
    return cmd


def run(tree: Path, label: str, args: argparse.Namespace, extras: bool) -> dict[str, Any]:
    """The figures of ``tree`` (its ``padlib`` and ``config.yaml``), measured by a worker process."""
    path = os.pathsep.join(p for p in (str(tree), str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
    env = {**os.environ, "PYTHONPATH": path, "OMP_NUM_THREADS": str(args.threads), "TQDM_DISABLE": "1"}
    proc = subprocess.run(command(tree, label, args, extras), env=env, capture_output=True, text=True)
    sys.stderr.write(proc.stderr[-4000:] if proc.returncode else "")
    if proc.returncode:
        raise SystemExit(f"{label} worker failed (exit {proc.returncode})")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def log(label: str, what: str, figures: Any) -> None:
    """A measurement as it lands, on stderr (the parent shows it when a worker fails)."""
    print(f"[{label}] {what}: {figures}", file=sys.stderr, flush=True)


def measure(args: argparse.Namespace) -> dict[str, Any]:
    """Every figure of the tree at ``args.tree``: per dataset the phases' epochs, then (``--extras``,
    the current tree) the matmul peak and embedding, serving, and (``--full``) whole runs."""
    torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    config = load_config(Path(args.tree), args.loss)
    result: dict[str, Any] = {"datasets": {}, "machine": machine(device)}
    for spec in args.dataset:
        name, data_dir, embeddings = parse_dataset(spec)
        data, text = load_dataset(data_dir, embeddings, config, args.text_dim)
        entry: dict[str, Any] = {"users": data.valid.history.shape[0], "items": data.n_items,
                                 "real_text": bool(embeddings) and Path(embeddings).is_file(), "phases": {}}
        for phase in args.phases:
            entry["phases"][phase] = time_phase(phase, data, text, config, device, args.train_users)
            log(args.label, f"{name} {phase}", entry["phases"][phase])
        result["datasets"][name] = entry
    if args.extras:
        result["peak_gflops"] = {"fp32": matmul_peak(device, "float32"), "bf16": matmul_peak(device, "bfloat16")}
        log(args.label, "peak", result["peak_gflops"])
        if args.embed_texts:
            from benchmarks.embedding import embedding, item_texts  # not imported by reference workers
            name, data_dir, _ = parse_dataset(args.dataset[-1])  # Prime Pantry by default: the paper's titles
            texts = item_texts(data_dir, args.embed_texts)
            result["embedding"] = {**embedding(device, texts, config["encoders"]["smollm2"]), "dataset": name}
            log(args.label, "embedding", result["embedding"])
    if args.serve_items:
        result["serving"] = serving(config, device, args.serve_items, args.serve_users, args.serve_batch,
                                    args.serve_add)
        log(args.label, "serving", result["serving"])
    if args.full:
        result["full"] = full(args, config, device)
    return result


def full(args: argparse.Namespace, config: dict[str, Any], device: torch.device) -> dict[str, Any]:
    """``--full``: every dataset's phases trained to early stopping (the current tree's alone)."""
    from benchmarks.runs import full_runs  # imports padlib.models.checkpoint, which b12c064 lacks
    out = {}
    for spec in args.dataset:
        name, data_dir, embeddings = parse_dataset(spec)
        with tempfile.TemporaryDirectory() as tmp:
            out[name] = full_runs(data_dir, embeddings, config, device, Path(tmp), args.full_max_epochs)
        log(args.label, f"full {name}", out[name])
    return out
