"""Paired comparisons under a report table: one model against another on the same test users,
overall and per popularity group (relative lift of the mean nDCG@k and a Wilcoxon signed-rank
p-value), and whether the lift on cold targets differs from the lift on warm ones (the paper's
central claim), with a bootstrap interval of the difference.

Per-user nDCG@k is averaged over the seeds first, so each user counts once. The Wilcoxon test then
sees the users' spread but not the training's: the lift of each seed alone (a model's seed s against
the other's seed s, which shares its phase-1 model) shows whether the sign holds from seed to seed."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from padlib.analysis.stats import lift_difference, paired_test, relative_improvement
from padlib.evaluation.metrics import NEW_GROUP, group_of_bucket, ndcg
from padlib.io import read_parquet
from padlib.report.spec import TableSpec

RESAMPLES = 2000


@dataclass(frozen=True)
class UserScores:
    """Per test user (sorted by user id): the target's frequency bucket and nDCG@k averaged over seeds;
    ``by_seed``: seed → that seed's per-user nDCG@k; ``new``: whether training never saw the target
    (None for ranks written before the new group)."""

    users: np.ndarray
    buckets: np.ndarray
    ndcg: np.ndarray
    by_seed: dict[int, np.ndarray]
    new: np.ndarray | None = None


def user_scores(ranks_paths: dict[int, str], k: int) -> UserScores:
    """One model's test ranks (``test_ranks.parquet``), seed → path, as per-user scores."""
    if not ranks_paths:
        raise ValueError("no test ranks to score")
    frames = {seed: read_parquet(path).sort("user_idx") for seed, path in sorted(ranks_paths.items())}
    first_seed = next(iter(frames))
    users, buckets = frames[first_seed]["user_idx"].to_numpy(), frames[first_seed]["bucket"].to_numpy()
    new = frames[first_seed][NEW_GROUP].to_numpy() if NEW_GROUP in frames[first_seed].columns else None
    for seed, frame in frames.items():
        if not np.array_equal(frame["user_idx"].to_numpy(), users):
            raise ValueError(f"{ranks_paths[seed]}: its test users differ from {ranks_paths[first_seed]}'s; a paired "
                             "test needs the same users")
    by_seed = {seed: ndcg(frame["rank"].to_numpy(), k) for seed, frame in frames.items()}
    return UserScores(users, buckets, np.mean(list(by_seed.values()), axis=0), by_seed, new)


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
    b's mean is 0) and the Wilcoxon p; "cold_minus_warm": (difference of lifts, low, high) or None;
    "by_seed": seed → overall lift (None when b's mean is 0) for the seeds both models ran."""
    if not np.array_equal(a.users, b.users):
        raise ValueError("the two models were tested on different users")
    masks = {"overall": np.ones(a.users.size, dtype=bool)}
    masks |= {name: (a.buckets >= lo) & (a.buckets <= hi) for name, (lo, hi) in group_of_bucket(n_buckets).items()}
    new = a.new if a.new is not None else b.new  # the same users and targets: either run's flags
    if new is not None and new.any():
        masks[NEW_GROUP] = new
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
    result["by_seed"] = {seed: relative_improvement(float(a.by_seed[seed].mean()), float(b.by_seed[seed].mean()))
                         for seed in sorted(a.by_seed.keys() & b.by_seed.keys())}
    return result


def lift_text(lift: float | None) -> str:
    """A relative improvement as the report writes it: "+3.1%", or "n/a (base 0)" for None."""
    return "n/a (base 0)" if lift is None else f"{100 * lift:+.1f}%"


def _seed_cell(lifts: dict[int, float | None]) -> str:
    """"+3.1% / -0.4% / +2.2% (2 of 3 above)": each common seed's overall lift, in seed order."""
    if not lifts:
        return "–"
    above = sum(v is not None and v > 0 for v in lifts.values())
    return f"{' / '.join(lift_text(v) for v in lifts.values())} ({above} of {len(lifts)} above)"


def _cell(block: dict[str, Any]) -> str:
    if block["lift"] is None:
        return "–" if not block["users"] else f"n/a (base 0), p = {block['p']:.2g}"
    return f"{lift_text(block['lift'])} (p = {block['p']:.2g})"


def comparison_lines(table: TableSpec, rows: pl.DataFrame, ranks: dict[str, dict[int, str]], k: int,
                     n_buckets: int) -> list[str]:
    """A markdown table of the table's paired comparisons (empty when it asks for none)."""
    chosen = pairs(table, rows)
    if not chosen:
        return []
    scores = {name: user_scores(ranks[name], k) for name in {r["model"] for pair in chosen for r in pair}}
    groups = ("overall", *group_of_bucket(n_buckets))
    if any(s.new is not None and s.new.any() for s in scores.values()):
        groups += (NEW_GROUP,)
    lines = ["| comparison | users | " + " | ".join(f"{g} nDCG@{k}" if g != "overall" else f"nDCG@{k}" for g in groups)
             + f" | cold − warm lift (95% CI) | nDCG@{k} lift per seed |", "|" + "---|" * (len(groups) + 4)]
    for mine, other in chosen:
        result = compare(scores[mine["model"]], scores[other["model"]], n_buckets)
        spread = result["cold_minus_warm"]
        contrast = "–" if spread is None else "{:+.1f} pp [{:+.1f}, {:+.1f}]".format(*(100 * v for v in spread))
        lines.append(f"| {mine['model']} vs {other['model']} | {result['overall']['users']} | "
                     + " | ".join(_cell(result[g]) for g in groups) + f" | {contrast} | {_seed_cell(result['by_seed'])} |")
    return lines + ["", f"Paired over the same test users, each user's nDCG@{k} averaged over the seeds: the "
                    f"relative lift of the mean and the two-sided Wilcoxon signed-rank p-value per group; cold − warm: "
                    f"the cold lift minus the warm lift, with a 95% percentile bootstrap interval ({RESAMPLES} "
                    "resamples of each group's users); per seed: each seed's overall lift against the other model's "
                    "run of the same seed (the user-level test does not see the spread between trainings)."]
