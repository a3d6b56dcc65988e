"""The parent process: checks the inputs, runs the reference's worker and then the current tree's,
prints the table and, where the workflow trained runs beside the data, their time to the best epoch."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from benchmarks import ROOT, reference, worker
from benchmarks.datasets import parse_dataset
from benchmarks.runs import summarize_runs
from benchmarks.table import table


def compare(args: argparse.Namespace) -> None:
    """Measure both trees, print the table (and write the raw figures to ``--json``)."""
    for spec in args.dataset:
        _, data_dir, _ = parse_dataset(spec)
        if not (Path(data_dir) / "items.parquet").exists():
            raise SystemExit(f"{data_dir}: no processed data; build it first, e.g. `make bench-data`")
    old = reference.figures(args)
    current = worker.run(ROOT, "current", args, extras=True)
    print(table(current, old, args))
    for spec in args.dataset:
        runs = Path(parse_dataset(spec)[1]).parent
        if any(runs.rglob("model.pt")):
            print(f"\ntime to the best validation epoch, the workflow's runs under {runs}:\n{summarize_runs(runs)}")
    if args.json:
        Path(args.json).write_text(json.dumps({"current": current, "reference": old}, indent=1))
