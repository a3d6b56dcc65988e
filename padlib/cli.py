"""The ``pad`` console command."""

from __future__ import annotations

import argparse
import sys

from padlib.errors import PadError


def _recommend(args: argparse.Namespace) -> int:
    from padlib.recommend import recommend

    rec = recommend(args.results, args.dataset, args.user, args.k, args.backbone, args.seed, args.encoder,
                    args.history)
    print(f"User {rec.user_id} — most recent {len(rec.history)} items (oldest first):")
    for title in rec.history:
        print(f"  · {title}")
    print(f"\nTop {len(rec.items)} recommendations (PAD, no LLM loaded; {rec.seconds * 1000:.0f} ms):")
    for rank, (title, score) in enumerate(zip(rec.items, rec.scores), 1):
        print(f"  {rank:2d}. {title}  ({score:.3f})")
    return 0


def _evidence(args: argparse.Namespace) -> int:
    from padlib.analysis.evidence import export_evidence

    written = export_evidence(args.results, args.dataset, args.dest)
    print(f"{len(written)} files under {args.dest}: metrics, test ranks, manifests and training histories")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pad", description="PAD workflow utilities")
    sub = parser.add_subparsers(dest="command", required=True)
    rec = sub.add_parser("recommend", help="print a user's history and top-k items from the trained PAD model")
    rec.add_argument("--dataset", required=True)
    rec.add_argument("--user", required=True, help="raw user id as in the source data")
    rec.add_argument("-k", type=int, default=10)
    rec.add_argument("--results", default="results", help="the workflow's results directory")
    rec.add_argument("--backbone")
    rec.add_argument("--seed", type=int)
    rec.add_argument("--encoder")
    rec.add_argument("--history", type=int, default=10, help="how many recent history items to show")
    rec.set_defaults(func=_recommend)
    ev = sub.add_parser("evidence", help="copy each run's metrics, test ranks, manifests and training histories "
                                         "out of results/ (small files to commit, e.g. under docs/results/data/)")
    ev.add_argument("--dataset", required=True)
    ev.add_argument("--dest", required=True)
    ev.add_argument("--results", default="results", help="the workflow's results directory")
    ev.set_defaults(func=_evidence)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except PadError as exc:
        print(f"pad: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
