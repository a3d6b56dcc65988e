"""The report's selected tables (the paper's Table 2 / Table 3 analogs): rows picked by
(backbone, encoder, variant), relative improvement over the backbone's ID-only model, and
paired tests over users of one variant against each of its baselines (``comparisons``)."""

from __future__ import annotations

from typing import Any

import polars as pl

from padlib.analysis.stats import relative_improvement
from padlib.report.comparisons import comparison_lines, lift_text
from padlib.report.spec import Selection, TableSpec
from padlib.report.table import metric_columns, reported_groups, to_markdown


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
    return lift_text(relative_improvement(value, base))


def with_lifts(rows: pl.DataFrame, summary: pl.DataFrame, k: int) -> tuple[pl.DataFrame, list[str]]:
    """``rows`` plus one column per metric with the relative improvement over each row's
    reference model: "+5.2%" (or "–" without one)."""
    metrics = [f"nDCG@{k}"] + [f"{g} nDCG@{k}" for g in reported_groups(summary, k)]
    columns = [f"Δ {m}" for m in metrics]
    lifts: dict[str, list[str]] = {c: [] for c in columns}
    for row in rows.iter_rows(named=True):
        base = baseline_row(summary, row)
        for metric, column in zip(metrics, columns):
            lifts[column].append(_lift(row[metric], None if base is None else base[metric]))
    return rows.with_columns(*[pl.Series(c, v, dtype=pl.String) for c, v in lifts.items()]), columns


def table_section(table: TableSpec, summary: pl.DataFrame, baseline: str | None, ranks: dict[str, dict[int, str]],
                  k: int, n_buckets: int) -> list[str]:
    """Markdown lines of one selected table: metrics ± std, relative improvements, paired tests."""
    rows = select(summary, table.rows)
    if not rows.height:
        return [f"## {table.title}", "", "(none of these models were run)", ""]
    rows, lift_columns = with_lifts(rows, summary, k)
    columns = metric_columns(k, reported_groups(summary, k)) + lift_columns
    lines = [f"## {table.title}", "", to_markdown(rows, columns), ""]
    if baseline is not None:
        lines.append(f"Δ: relative improvement over the ID-only model (`{baseline}`) of the same backbone, trained "
                     "with the same loss.")
    if table.caption:
        lines.append(table.caption)
    return lines + [""] + comparison_lines(table, rows, ranks, k, n_buckets) + [""]
