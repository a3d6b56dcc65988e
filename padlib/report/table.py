"""The results table: one row per model (mean ± std over seeds) with test metrics and stage times."""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl

from padlib.evaluation.metrics import NEW_GROUP

GROUP_NAMES = ("warm", "median", "cold")  # by popularity bucket; every run has them
KEYS = ("backbone", "encoder", "variant", "reference")


def metric_rows(runs: list[dict[str, Any]], k: int = 10) -> pl.DataFrame:
    """One row per (model, seed) run: overall and group HR/nDCG on the test split, the validation
    nDCG the checkpoint was picked on (what every fidelity decision reads), and stage times.

    Each run is ``{"model", "seed", "metrics": <metrics.json>, "stage_times": {stage: seconds}}``
    and may name its ``backbone`` / ``encoder`` / ``variant`` (kept as key columns).
    """
    rows = []
    for run in runs:
        test, valid = run["metrics"]["test"], run["metrics"].get("valid")
        keys = {key: run.get(key) or "" for key in KEYS}
        row = {"model": run["model"], **keys, "seed": run["seed"], "users": test["overall"]["users"],
               f"valid nDCG@{k}": valid["overall"][f"ndcg@{k}"] if valid else None,
               f"HR@{k}": test["overall"][f"hr@{k}"], f"nDCG@{k}": test["overall"][f"ndcg@{k}"]}
        for group in (*GROUP_NAMES, NEW_GROUP):
            block = test["groups"].get(group) or {}  # runs evaluated before the new group lack it
            row[f"{group} HR@{k}"] = block.get(f"hr@{k}")
            row[f"{group} nDCG@{k}"] = block.get(f"ndcg@{k}")
        for stage, seconds in run["stage_times"].items():
            row[f"{stage} s"] = seconds
        row["best epoch"] = run["metrics"]["best_epoch"]
        rows.append(row)
    return pl.DataFrame(rows, infer_schema_length=None)


def reported_groups(summary: pl.DataFrame, k: int) -> tuple[str, ...]:
    """The groups a table shows: warm / median / cold, and ``new`` where some run had test targets
    that training never saw (the column is all-null otherwise, and ``aggregate`` drops it)."""
    column = f"{NEW_GROUP} nDCG@{k}"
    has_new = column in summary.columns and summary[column].drop_nulls().len() > 0
    return (*GROUP_NAMES, NEW_GROUP) if has_new else GROUP_NAMES


def metric_columns(k: int, groups: tuple[str, ...] = GROUP_NAMES) -> list[str]:
    """The columns of every metrics table: the validation nDCG the checkpoint was picked on, then the
    test HR and nDCG overall and per group."""
    return [f"valid nDCG@{k}", f"HR@{k}", f"nDCG@{k}"] + [f"{g} {m}@{k}" for g in groups for m in ("HR", "nDCG")]


def aggregate(rows: pl.DataFrame) -> pl.DataFrame:
    """Mean and std over seeds for every numeric column, model order kept."""
    numeric = [c for c in rows.columns if c not in ("model", "seed") and rows[c].dtype.is_numeric()]
    keys = [c for c in KEYS if c in rows.columns]
    return (rows.group_by("model", maintain_order=True)
                .agg(pl.len().alias("seeds"), *[pl.col(c).first() for c in keys],
                     *[pl.col(c).mean().alias(c) for c in numeric],
                     *[pl.col(c).std().alias(f"{c} std") for c in numeric]))


def cell(mean: float | str | None, std: float | None, digits: int) -> str:
    """One table cell: "0.0701", "0.0701 ± 0.0012" over several seeds, "–" where there is no value."""
    if isinstance(mean, str):
        return mean
    if mean is None or (isinstance(mean, float) and np.isnan(mean)):
        return "–"
    text = f"{mean:.{digits}f}"
    if std is not None and not np.isnan(std):
        text += f" ± {std:.{digits}f}"
    return text


def to_markdown(summary: pl.DataFrame, columns: list[str], digits: int = 4) -> str:
    header = "| model | seeds | " + " | ".join(columns) + " |"
    lines = [header, "|" + "---|" * (len(columns) + 2)]
    for row in summary.iter_rows(named=True):
        cells = [cell(row.get(c), row.get(f"{c} std"), 1 if c.endswith(" s") else digits) for c in columns]
        lines.append(f"| {row['model']} | {row['seeds']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
