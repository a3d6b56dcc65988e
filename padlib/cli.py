"""The ``pad`` console command."""

from __future__ import annotations

import argparse
import sys

from padlib.errors import PadError


def _recommend(args: argparse.Namespace) -> int:
    from padlib.recommend import recommend

    rec = recommend(args.results, args.dataset, args.user, args.k, args.backbone, args.seed, args.encoder,
                    args.history, args.variant)
    print(f"User {rec.user_id} — most recent {len(rec.history)} items (oldest first):")
    for title in rec.history:
        print(f"  · {title}")
    added = ""
    if rec.added:
        bucket = "the coldest" if rec.policy.bucket is None else str(rec.policy.bucket)
        added = f"; {rec.added} added items, ID row {rec.policy.id_row}, gate bucket {bucket}"
    model = "PAD" if args.variant == "pad" else args.variant
    print(f"\nTop {len(rec.items)} recommendations ({model}, no LLM loaded; {rec.seconds * 1000:.0f} ms{added}):")
    for rank, (title, score) in enumerate(zip(rec.items, rec.scores), 1):
        print(f"  {rank:2d}. {title}  ({score:.3f})")
    return 0


def _add_items(args: argparse.Namespace) -> int:
    from padlib.serving.add import add_items

    done = add_items(args.results, args.dataset, args.items, backbone=args.backbone, seed=args.seed,
                     encoder=args.encoder, variant=args.variant, model_dir=args.model_dir, device=args.device,
                     progress=True)
    last = done.first_index + len(done.item_ids) - 1
    print(f"{len(done.item_ids)} items added to {done.catalog} as items {done.first_index}..{last} "
          f"({done.part.name}, {done.seconds:.1f} s); pad recommend ranks them with the rest")
    return 0


def _model_options(parser: argparse.ArgumentParser) -> None:
    """The options that pick one trained model under results/ (``padlib.serving.served.find_model``)."""
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--results", default="results", help="the workflow's results directory")
    parser.add_argument("--backbone")
    parser.add_argument("--seed", type=int)
    parser.add_argument("--encoder")
    parser.add_argument("--variant", default="pad", help="the trained variant (a text model: pad, morec, ...)")


def _evidence(args: argparse.Namespace) -> int:
    from padlib.analysis.evidence import export_evidence

    written = export_evidence(args.results, args.dataset, args.dest)
    print(f"{len(written)} files under {args.dest}: metrics, test ranks, manifests and training histories")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pad", description="PAD workflow utilities")
    sub = parser.add_subparsers(dest="command", required=True)
    rec = sub.add_parser("recommend", help="print a user's history and top-k items from the trained PAD model")
    _model_options(rec)
    rec.add_argument("--user", required=True, help="raw user id as in the source data")
    rec.add_argument("-k", type=int, default=10)
    rec.add_argument("--history", type=int, default=10, help="how many recent history items to show")
    rec.set_defaults(func=_recommend)
    add = sub.add_parser("add-items", help="embed new items' text with the dataset's encoder and add them to the "
                                           "trained model's served catalogue (pad recommend then ranks them)")
    _model_options(add)
    add.add_argument("--items", required=True, help="CSV/TSV/Parquet: an 'item' id column and the columns the "
                                                    "dataset's encoder template names")
    add.add_argument("--model-dir", help="the encoder's local model directory (default: as the workflow prepared it)")
    add.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N for the encoder")
    add.set_defaults(func=_add_items)
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
