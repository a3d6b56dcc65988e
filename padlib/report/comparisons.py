"""Paired comparisons under a report table: one model against another on the same test users,
overall and per popularity group (relative lift of the mean nDCG@k and a Wilcoxon signed-rank
p-value), and whether the lift on cold targets differs from the lift on warm ones (the paper's
central claim), with a bootstrap interval of the difference.

Per-user nDCG@k is averaged over the seeds first, so each user counts once."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from padlib.analysis.stats import lift_difference, paired_test, relative_improvement
from padlib.evaluation.metrics import group_of_bucket, ndcg
from padlib.io import read_parquet
from padlib.report.spec import TableSpec

RESAMPLES = 2000


@dataclass(frozen=True)
class UserScores:
    """Per test user (sorted by user id): the target's frequency bucket and nDCG@k averaged over seeds."""

    users: np.ndarray
    buckets: np.ndarray
    ndcg: np.ndarray


def user_scores(ranks_paths: list[str], k: int) -> UserScores:
    """One model's seeds' test ranks (``test_ranks.parquet``) as per-user scores."""
    frames = [read_parquet(path, ["user_idx", "bucket", "rank"]).sort("user_idx") for path in ranks_paths]
    users, buckets = frames[0]["user_idx"].to_numpy(), frames[0]["bucket"].to_numpy()
    for path, frame in zip(ranks_paths, frames):
        if not np.array_equal(frame["user_idx"].to_numpy(), users):
            raise ValueError(f"{path}: its test users differ from {ranks_paths[0]}'s; a paired test needs the same users")
    return UserScores(users, buckets, np.mean([ndcg(f["rank"].to_numpy(), k) for f in frames], axis=0))


def pairs(table: TableSpec, rows: pl.DataFrame) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(model, against) row pairs a table's ``paired`` block asks for, per backbone: the paired
    variant against each listed variant of the same encoder (ID-only models have none), and,
    in a table of several encoders, the variant with the first encoder against the others."""
    if table.paired is None:
        return []
    out = []
    for backbone in table.rows.backbones:
        on = [r for r in rows.iter_rows(named=True) if r["backbone"] == backbone]
        mine = [r for r in on if r["variant"] == table.paired.variant]
        for row in mine:
            for other in (v for v in table.paired.against if v != row["variant"]):
                match = [r for r in on if r["variant"] == other and r["encoder"] in ("", row["encoder"])]
                out += [(row, m) for m in match[:1]]
        first = [r for r in mine if r["encoder"] == table.rows.encoders[0]]
        out += [(row, r) for row in first for r in mine if r["encoder"] != row["encoder"]]
    return out


def compare(a: UserScores, b: UserScores, n_buckets: int) -> dict[str, Any]:
    """a against b: per group ("overall", "warm", ...) the users, the lift of mean nDCG (None when
    b's mean is 0) and the Wilcoxon p; "cold_minus_warm": (difference of lifts, low, high) or None."""
    if not np.array_equal(a.users, b.users):
        raise ValueError("the two models were tested on different users")
    masks = {"overall": np.ones(a.users.size, dtype=bool)}
    masks |= {name: (a.buckets >= lo) & (a.buckets <= hi) for name, (lo, hi) in group_of_bucket(n_buckets).items()}
    result: dict[str, Any] = {}
    for name, mask in masks.items():
        if not mask.any():
            result[name] = {"users": 0, "lift": None, "p": None}
            continue
        x, y = a.ndcg[mask], b.ndcg[mask]
        result[name] = {"users": int(mask.sum()), "lift": relative_improvement(float(x.mean()), float(y.mean())),
                        "p": paired_test(x, y)["p_value"]}
    cold, warm = masks["cold"], masks["warm"]
    result["cold_minus_warm"] = (lift_difference((a.ndcg[cold], b.ndcg[cold]), (a.ndcg[warm], b.ndcg[warm]),
                                                 resamples=RESAMPLES) if cold.any() and warm.any() else None)
    return result


def _cell(block: dict[str, Any]) -> str:
    if block["lift"] is None:
        return "–" if not block["users"] else f"n/a (base 0), p = {block['p']:.2g}"
    return f"{100 * block['lift']:+.1f}% (p = {block['p']:.2g})"


def comparison_lines(table: TableSpec, rows: pl.DataFrame, ranks: dict[str, list[str]], k: int,
                     n_buckets: int) -> list[str]:
    """A markdown table of the table's paired comparisons (empty when it asks for none)."""
    chosen = pairs(table, rows)
    if not chosen:
        return []
    scores = {name: user_scores(ranks[name], k) for name in {r["model"] for pair in chosen for r in pair}}
    groups = ("overall", *group_of_bucket(n_buckets))
    lines = ["| comparison | users | " + " | ".join(f"{g} nDCG@{k}" if g != "overall" else f"nDCG@{k}" for g in groups)
             + " | cold − warm lift (95% CI) |", "|" + "---|" * (len(groups) + 3)]
    for mine, other in chosen:
        result = compare(scores[mine["model"]], scores[other["model"]], n_buckets)
        spread = result["cold_minus_warm"]
        contrast = "–" if spread is None else "{:+.1f} pp [{:+.1f}, {:+.1f}]".format(*(100 * v for v in spread))
        lines.append(f"| {mine['model']} vs {other['model']} | {result['overall']['users']} | "
                     + " | ".join(_cell(result[g]) for g in groups) + f" | {contrast} |")
    return lines + ["", f"Paired over the same test users, each user's nDCG@{k} averaged over the seeds: the "
                    f"relative lift of the mean and the two-sided Wilcoxon signed-rank p-value per group; cold − warm: "
                    f"the cold lift minus the warm lift, with a 95% percentile bootstrap interval ({RESAMPLES} "
                    "resamples of each group's users)."]
