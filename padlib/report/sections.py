"""The report's selected tables (the paper's Table 2 / Table 3 analogs): rows picked by
(backbone, encoder, variant), relative improvement over the backbone's ID-only model, and a
paired test over users of one variant against the best of its baselines."""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl

from padlib.analysis.stats import paired_test, relative_improvement
from padlib.evaluation.metrics import ndcg
from padlib.io import read_parquet
from padlib.report.spec import Selection, TableSpec
from padlib.report.table import GROUP_NAMES, to_markdown


def select(summary: pl.DataFrame, rows: Selection) -> pl.DataFrame:
    """Summary rows of a selection, ordered by backbone, then variant, then encoder (ID-only
    models have no encoder and match any)."""
    parts = []
    for backbone in rows.backbones:
        for variant in rows.variants:
            for encoder in ["", *rows.encoders]:
                parts.append(summary.filter((pl.col("backbone") == backbone) & (pl.col("variant") == variant)
                                            & (pl.col("encoder") == encoder)))
    return pl.concat(parts) if parts else summary.clear()


def baseline_row(summary: pl.DataFrame, row: dict[str, Any]) -> dict[str, Any] | None:
    """The row's reference: the ID-only model of the same backbone trained with the same loss."""
    if not row.get("reference"):
        return None
    match = summary.filter((pl.col("backbone") == row["backbone"]) & (pl.col("variant") == row["reference"]))
    return match.row(0, named=True) if match.height else None


def _lift(value: float | None, base: float | None) -> str:
    if value is None or base is None:
        return "–"
    lift = relative_improvement(value, base)
    return "n/a (base 0)" if lift is None else f"{100 * lift:+.1f}%"


def with_lifts(rows: pl.DataFrame, summary: pl.DataFrame, k: int) -> tuple[pl.DataFrame, list[str]]:
    """``rows`` plus one column per metric with the relative improvement over each row's
    reference model: "+5.2%" (or "–" without one)."""
    metrics = [f"nDCG@{k}"] + [f"{g} nDCG@{k}" for g in GROUP_NAMES]
    columns = [f"Δ {m}" for m in metrics]
    lifts: dict[str, list[str]] = {c: [] for c in columns}
    for row in rows.iter_rows(named=True):
        base = baseline_row(summary, row)
        for metric, column in zip(metrics, columns):
            lifts[column].append(_lift(row[metric], None if base is None else base[metric]))
    return rows.with_columns(*[pl.Series(c, v, dtype=pl.String) for c, v in lifts.items()]), columns


def per_user_ndcg(ranks_paths: list[str], k: int) -> tuple[np.ndarray, np.ndarray]:
    """(user ids, nDCG@k per user averaged over the seeds' test ranks), users sorted."""
    frames = [read_parquet(path, ["user_idx", "rank"]).sort("user_idx") for path in ranks_paths]
    users = frames[0]["user_idx"].to_numpy()
    for path, frame in zip(ranks_paths, frames):
        if not np.array_equal(frame["user_idx"].to_numpy(), users):
            raise ValueError(f"{path}: its test users differ from {ranks_paths[0]}'s; a paired test needs the same users")
    return users, np.mean([ndcg(f["rank"].to_numpy(), k) for f in frames], axis=0)


def paired_lines(table: TableSpec, rows: pl.DataFrame, ranks: dict[str, list[str]], k: int) -> list[str]:
    """One line per backbone: the paired variant vs the best (by mean nDCG@k) of ``against``."""
    if table.paired is None:
        return []
    lines = []
    for backbone in table.rows.backbones:
        mine = rows.filter((pl.col("backbone") == backbone) & (pl.col("variant") == table.paired.variant))
        others = rows.filter((pl.col("backbone") == backbone) & pl.col("variant").is_in(table.paired.against)
                             & (pl.col("variant") != table.paired.variant))
        if not mine.height or not others.height:
            continue
        best = others.sort(f"nDCG@{k}", descending=True, nulls_last=True).row(0, named=True)
        for row in mine.iter_rows(named=True):
            users_a, a = per_user_ndcg(ranks[row["model"]], k)
            users_b, b = per_user_ndcg(ranks[best["model"]], k)
            if not np.array_equal(users_a, users_b):
                raise ValueError(f"{row['model']} and {best['model']} were tested on different users")
            test = paired_test(a, b)
            t_p = "–" if test["t_p_value"] is None else f"{test['t_p_value']:.3g}"
            lines.append(f"- Paired test, {row['model']} vs the best baseline {best['model']} (per-user nDCG@{k}, "
                         f"averaged over seeds, {test['n']} users): mean difference {test['mean_difference']:+.4f}, "
                         f"Wilcoxon signed-rank p = {test['p_value']:.3g}, paired t-test p = {t_p}.")
    return lines


def table_section(table: TableSpec, summary: pl.DataFrame, baseline: str | None, ranks: dict[str, list[str]],
                  k: int) -> list[str]:
    """Markdown lines of one selected table: metrics ± std, relative improvements, paired tests."""
    rows = select(summary, table.rows)
    if not rows.height:
        return [f"## {table.title}", "", "(none of these models were run)", ""]
    rows, lift_columns = with_lifts(rows, summary, k)
    metrics = [f"HR@{k}", f"nDCG@{k}"] + [f"{g} {m}@{k}" for g in GROUP_NAMES for m in ("HR", "nDCG")]
    lines = [f"## {table.title}", "", to_markdown(rows, metrics + lift_columns), ""]
    if baseline is not None:
        lines.append(f"Δ: relative improvement over the ID-only model (`{baseline}`) of the same backbone, trained "
                     "with the same loss.")
    if table.caption:
        lines.append(table.caption)
    return lines + [""] + paired_lines(table, rows, ranks, k) + [""]
