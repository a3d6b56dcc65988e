"""The README's expected-results table, made from a run's ``report.csv`` instead of typed by hand.

After ``make run`` (or any run of the embedded default)::

    python -m padlib.report.readme_table results/ml-100k/report.csv --readme README.md

rewrites the block between the README's two ``expected-results`` markers: one row per model (the
report's order), the test metrics as the mean over seeds (± std where there are several), and a line
naming the seeds, the users and the commit the table was made at. Without ``--readme`` the block is
printed. ``tests/test_docs.py`` checks that the README's table has the form this module writes, so the
two cannot drift apart.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import polars as pl

from padlib.io import write_text
from padlib.report.table import aggregate, cell

START = "<!-- expected-results: written by python -m padlib.report.readme_table -->"
END = "<!-- expected-results: end -->"


def table_columns(k: int = 10) -> list[str]:
    """The README's metric columns: overall HR and nDCG, nDCG per popularity group, and cold HR (the
    paper's cold-item claim)."""
    return [f"HR@{k}", f"nDCG@{k}", f"warm nDCG@{k}", f"median nDCG@{k}", f"cold nDCG@{k}", f"cold HR@{k}"]


def expected_results_table(report_csv: str | Path, k: int = 10) -> str:
    """The Markdown table of ``report_csv`` (the report stage's per-run rows): one row per model."""
    summary = aggregate(pl.read_csv(report_csv))
    columns = table_columns(k)
    lines = ["| model | " + " | ".join(columns) + " |", "|" + "---|" * (len(columns) + 1)]
    for row in summary.iter_rows(named=True):
        cells = [cell(row[c], row.get(f"{c} std"), 4) for c in columns]
        lines.append(f"| {row['model']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def provenance(report_csv: str | Path, commit: str) -> str:
    """The line under the table: which seeds and how many test users, from which run."""
    rows = pl.read_csv(report_csv)
    seeds = sorted(rows["seed"].unique().to_list())
    users = ", ".join(f"{u:,}" for u in sorted(rows["users"].unique().to_list()))
    return (f"Seed{'s' if len(seeds) > 1 else ''} {', '.join(map(str, seeds))}, test split, {users} users; "
            f"`make run` at commit `{commit}`.")


def readme_block(report_csv: str | Path, commit: str, k: int = 10) -> str:
    """The whole block between (and including) the markers."""
    return "\n".join([START, "", expected_results_table(report_csv, k), "", provenance(report_csv, commit), END])


def replace_block(text: str, block: str, start_marker: str = START, end_marker: str = END) -> str:
    """``text`` with its marked block replaced by ``block``; an error if the markers are missing, so a
    page edited by hand is not silently left as it was."""
    start, end = text.find(start_marker), text.find(end_marker)
    if start < 0 or end < start:
        raise ValueError(f"no block between {start_marker!r} and {end_marker!r}")
    return text[:start] + block + text[end + len(end_marker):]


def head_commit() -> str:
    """The short hash of the checkout's HEAD: the run this table comes from should be at that commit."""
    return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                          check=True).stdout.strip()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m padlib.report.readme_table", description=__doc__.split("\n")[0])
    parser.add_argument("report_csv", help="the report stage's CSV, e.g. results/ml-100k/report.csv")
    parser.add_argument("--readme", help="rewrite this file's expected-results block instead of printing it")
    parser.add_argument("--commit", help="the commit the run was made at (default: git HEAD)")
    parser.add_argument("-k", type=int, default=10, help="the cut-off of the metrics (evaluate.k)")
    args = parser.parse_args(argv)
    block = readme_block(args.report_csv, args.commit or head_commit(), args.k)
    if args.readme is None:
        print(block)
        return 0
    write_text(args.readme, replace_block(Path(args.readme).read_text(), block))
    return 0


if __name__ == "__main__":
    sys.exit(main())
