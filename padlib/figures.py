"""Every PNG figure of the workflow (matplotlib, no display needed), each saved atomically by
``save_figure``."""

from __future__ import annotations

import os
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import polars as pl  # noqa: E402

from padlib.io import atomic_path  # noqa: E402


def save_figure(fig: Any, path: str | os.PathLike[str]) -> None:
    """Write ``fig`` as a PNG at ``path`` atomically (a killed job leaves no half-written image), then close it."""
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)


def group_bar_chart(summary: pl.DataFrame, metric: str, path: str | os.PathLike[str],
                    groups: tuple[str, ...] = ("warm", "median", "cold"), title: str = "") -> None:
    """Grouped bars: ``metric`` per group (warm / median / cold, and ``new`` where the report has it),
    one bar per model, ± std whiskers."""
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
    save_figure(fig, path)


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
    save_figure(fig, path)


def plot_tau(results: dict[str, dict[int, dict]], path: str | os.PathLike[str], title: str) -> None:
    """Kendall's τ per target bucket, one line per alignment (paper Fig. 6a)."""
    fig, ax = plt.subplots(figsize=(6, 3.6), dpi=120)
    for label, buckets in results.items():
        xs = sorted(buckets)
        ax.plot(xs, [np.nan if buckets[b]["tau"] is None else buckets[b]["tau"] for b in xs], marker="o", label=label)
    ax.set_xlabel("target item bucket (1 = warmest)")
    ax.set_ylabel("Kendall's τ vs pretrained IDs")
    ax.set_title(title)
    ax.legend(frameon=False, fontsize=8)
    save_figure(fig, path)


def gate_figure(weights: dict[str, dict[str, dict[str, np.ndarray]]], path: str | os.PathLike[str]) -> None:
    """One panel per mixture: each expert's learned gate weight per bucket (solid) and its initial
    weight (dashed). Without mixtures the figure says so."""
    n = max(len(weights), 1)
    fig, axes = plt.subplots(1, n, figsize=(4.2 * n, 3.4), dpi=120, squeeze=False, sharey=True)
    for ax, (model, kinds) in zip(axes[0], weights.items()):
        for i, (expert, learned) in enumerate(kinds["learned"].items()):
            buckets = np.arange(1, len(learned) + 1)
            ax.plot(buckets, learned, marker="o", color=f"C{i}", label=f"{expert} (learned)")
            ax.plot(buckets, kinds["initial"][expert], linestyle="--", color=f"C{i}", alpha=0.6,
                    label=f"{expert} (initial)")
        ax.set_title(model, fontsize=9)
        ax.set_xlabel("item bucket (1 = warmest)")
        ax.set_ylim(0, 1)
    axes[0][0].set_ylabel("gate weight")
    if weights:
        axes[0][0].legend(frameon=False, fontsize=7)
    else:
        axes[0][0].text(0.5, 0.5, "no gated mixture in this report", ha="center", va="center")
    fig.suptitle("Gate weight per expert and bucket, mean over seeds", fontsize=10)
    save_figure(fig, path)
