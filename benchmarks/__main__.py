"""``python -m benchmarks``: the command line. The parent compares the trees (``benchmarks.compare``);
with the hidden ``--worker`` it is one tree's worker (``benchmarks.worker``), which imports only the
modules that run against any tree's ``padlib``."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import benchmarks
from benchmarks import PHASES

# ML-1M and Prime Pantry as `make bench-data` builds them
DATASETS = [f"{name}=results/{name}/data,results/{name}/embeddings/smollm2.parquet"
            for name in ("ml-1m", "prime-pantry")]


def parser() -> argparse.ArgumentParser:
    """The parent's options, and the hidden ones it passes to a worker."""
    p = argparse.ArgumentParser(prog="python -m benchmarks", description=(benchmarks.__doc__ or "").split("\n\n")[0])
    p.add_argument("--dataset", action="append",
                   help="name=DATA_DIR[,EMBEDDINGS.parquet] (default: ML-1M and Prime Pantry under results/)")
    p.add_argument("--reference", default="b12c064", help="commit to compare with, or 'none'")
    p.add_argument("--reference-tree", help="a folder holding the reference's padlib/, config.yaml and schemas/ "
                                            "(instead of extracting --reference with git archive)")
    p.add_argument("--device", default="cpu", help="cpu | cuda | auto")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--train-users", type=int, default=2048, help="users per timed training pass")
    p.add_argument("--phases", nargs="+", choices=PHASES, default=list(PHASES),
                   help="the phases to time (e.g. --phases align after a change to phase 2)")
    p.add_argument("--loss", choices=["bce", "softmax"],
                   help="train every phase with this loss (default: the config's, BCE)")
    p.add_argument("--text-dim", type=int, default=576, help="random text vectors' dim when no embeddings file")
    p.add_argument("--embed-texts", type=int, default=1024, help="item texts to embed (0: skip)")
    p.add_argument("--serve-items", type=int, default=1_000_000, help="synthetic catalogue size (0: skip)")
    p.add_argument("--serve-users", type=int, default=20)
    p.add_argument("--reference-serve-users", type=int, default=1)
    p.add_argument("--serve-batch", type=int, default=256)
    p.add_argument("--serve-add", type=int, default=10_000, help="items added to the served catalogue (0: skip)")
    p.add_argument("--full", action="store_true", help="also train every phase to early stopping (slow)")
    p.add_argument("--full-max-epochs", type=int, help="cap the --full runs' epochs (a quick check)")
    p.add_argument("--json", help="write the raw figures here")
    p.add_argument("--runs", help="only summarise the training runs under this results folder "
                                  "(e.g. results/prime-pantry after a workflow run) and exit")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--tree", help=argparse.SUPPRESS)
    p.add_argument("--label", default="current", help=argparse.SUPPRESS)
    p.add_argument("--extras", action="store_true", help=argparse.SUPPRESS)
    return p


def main(argv: list[str] | None = None) -> None:
    """A worker measures one tree; ``--runs`` summarises trained runs; otherwise compare the trees."""
    args = parser().parse_args(argv)
    args.dataset = args.dataset or DATASETS
    if args.worker:
        from benchmarks.worker import measure
        print(json.dumps(measure(args)))
    elif args.runs:
        from benchmarks.runs import summarize_runs
        print(summarize_runs(Path(args.runs)))
    else:
        from benchmarks.compare import compare
        compare(args)


if __name__ == "__main__":
    main()
