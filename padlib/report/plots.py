"""PNG figures for the report (matplotlib, no display needed)."""

from __future__ import annotations

import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import polars as pl  # noqa: E402

from padlib.io import atomic_path  # noqa: E402


def group_bar_chart(summary: pl.DataFrame, metric: str, path: str | os.PathLike[str],
                    groups: tuple[str, ...] = ("warm", "median", "cold"), title: str = "") -> None:
    """Grouped bars: ``metric`` per warm/median/cold group, one bar per model, ± std whiskers."""
    models = summary["model"].to_list()
    x = np.arange(len(groups))
    width = 0.8 / max(len(models), 1)
    fig, ax = plt.subplots(figsize=(6, 3.6), dpi=120)
    for i, row in enumerate(summary.iter_rows(named=True)):
        means = [row[f"{g} {metric}"] or 0.0 for g in groups]
        stds = [row.get(f"{g} {metric} std") for g in groups]
        stds = [0.0 if s is None or np.isnan(s) else s for s in stds]
        bars = ax.bar(x + (i - (len(models) - 1) / 2) * width, means, width, label=row["model"],
                      yerr=stds if any(stds) else None, capsize=3)
        ax.bar_label(bars, fmt="%.3f", fontsize=7)
    ax.set_xticks(x, [g.capitalize() for g in groups])
    ax.set_ylabel(metric)
    ax.set_title(title or f"{metric} by item popularity group (test split)")
    ax.legend(frameon=False)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)


def model_bar_chart(summary: pl.DataFrame, metrics: list[str], path: str | os.PathLike[str], title: str) -> None:
    """One panel per metric, one bar per model (mean over seeds, ± std whiskers)."""
    models = summary["model"].to_list()
    fig, axes = plt.subplots(1, len(metrics), figsize=(3.2 * len(metrics) + 0.25 * len(models), 3.8), dpi=120,
                             squeeze=False)
    for ax, metric in zip(axes[0], metrics):
        means = [v or 0.0 for v in summary[metric].to_list()]
        stds = summary[f"{metric} std"].to_list() if f"{metric} std" in summary.columns else [None] * len(models)
        stds = [0.0 if s is None or np.isnan(s) else s for s in stds]
        bars = ax.bar(np.arange(len(models)), means, yerr=stds if any(stds) else None, capsize=3,
                      color=[f"C{i}" for i in range(len(models))])
        ax.bar_label(bars, fmt="%.3f", fontsize=7)
        ax.set_xticks(np.arange(len(models)), models, rotation=35, ha="right", fontsize=8)
        ax.set_ylabel(metric)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
