"""The report's diagnostics of every gated mixture (PAD and its ablations, MAKE): each expert scored
alone and the gate prior alone, per bucket (Markdown), and the learned gate per bucket (a figure).
The numbers come from the evaluate stage (``padlib.evaluation.diagnostics``)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from padlib.figures import gate_figure
from padlib.report.table import GROUP_NAMES

EXPERT_ORDER = ["id", "aligned", "text"]


def diagnostic_rows(loaded: list[dict[str, Any]], k: int) -> pl.DataFrame:
    """One row per (mixture run, scorer): the mixture itself, each expert alone, the gate prior;
    test nDCG@k overall, per group and per bucket."""
    rows = []
    for run in loaded:
        diag = run["metrics"].get("diagnostics")
        if not diag:
            continue
        experts = sorted(diag["experts"], key=lambda e: EXPERT_ORDER.index(e) if e in EXPERT_ORDER else len(EXPERT_ORDER))
        scorers = {"mixture": run["metrics"]["test"],
                   **{f"{name} expert alone": diag["experts"][name] for name in experts}}
        if "gate_prior" in diag:
            scorers["gate prior only"] = diag["gate_prior"]
        for scorer, block in scorers.items():
            row = {"model": run["model"], "scorer": scorer, "seed": run["seed"],
                   f"nDCG@{k}": block["overall"][f"ndcg@{k}"]}
            row.update({f"{g} nDCG@{k}": block["groups"][g][f"ndcg@{k}"] for g in GROUP_NAMES})
            row.update({f"b{b}": block["buckets"][b][f"ndcg@{k}"] for b in sorted(block["buckets"], key=int)})
            rows.append(row)
    if not rows:
        return pl.DataFrame()
    frame = pl.DataFrame(rows)
    values = [c for c in frame.columns if c not in ("model", "scorer", "seed")]
    return frame.group_by(["model", "scorer"], maintain_order=True).agg(pl.col(values).mean())


def gate_weights(loaded: list[dict[str, Any]]) -> dict[str, dict[str, dict[str, np.ndarray]]]:
    """model → {"learned" | "initial": expert → mean weight per bucket over seeds}."""
    out: dict[str, dict[str, dict[str, list]]] = {}
    for run in loaded:
        diag = run["metrics"].get("diagnostics")
        if not diag:
            continue
        entry = out.setdefault(run["model"], {"learned": {}, "initial": {}})
        for kind in ("learned", "initial"):
            for expert, weights in diag["gate"][kind].items():
                entry[kind].setdefault(expert, []).append(weights)
    return {model: {kind: {e: np.mean(w, axis=0) for e, w in experts.items()} for kind, experts in kinds.items()}
            for model, kinds in out.items()}


def diagnostics_section(loaded: list[dict[str, Any]], k: int, figure: str | os.PathLike[str],
                        markdown: Callable[[pl.DataFrame], str]) -> list[str]:
    """The report's "Diagnostics of the gated mixtures" lines (``markdown`` renders a frame); draws ``figure``."""
    gate_figure(gate_weights(loaded), figure)
    frame = diagnostic_rows(loaded, k)
    if frame.is_empty():
        return []
    return [
        "## Diagnostics of the gated mixtures (test)",
        "",
        f"nDCG@{k} of each mixture, of each of its experts scored alone, and of the gate prior alone: the "
        "phase-1 ID model's scores times the gate's initial ID weight of the item's bucket. The gate prior "
        "shows how much of a lift a popularity tilt gives without any text. Mean over seeds; b1–b10 are "
        "the frequency buckets (1 = warmest).",
        "",
        markdown(frame),
        "",
        f"![gate weights per bucket]({Path(figure).name})",
        "",
    ]
