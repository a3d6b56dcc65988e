"""The report stage: results table (Markdown + CSV) and the warm/median/cold bar chart."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl

from padlib.io import atomic_path, manifest_path, read_json, write_text
from padlib.report.plots import group_bar_chart
from padlib.report.table import GROUP_NAMES, aggregate, metric_rows, to_markdown


STAGES = ("data", "embed", "pretrain", "align", "train", "finetune", "evaluate")


def stage_times(stages: dict[str, str]) -> dict[str, float | None]:
    """Wall time of each stage, read from the manifest beside the stage's artifact."""
    return {stage: read_json(manifest_path(path)).get("wall_time_s") for stage, path in stages.items()}


def _bucket_table(runs: list[dict[str, Any]], k: int) -> pl.DataFrame:
    rows = []
    for run in runs:
        for bucket, block in run["metrics"]["test"]["buckets"].items():
            rows.append({"model": run["model"], "seed": run["seed"], "bucket": int(bucket),
                         "users": block["users"], f"HR@{k}": block[f"hr@{k}"]})
    frame = pl.DataFrame(rows)
    return (frame.group_by(["model", "bucket"], maintain_order=True).agg(pl.col("users").first(), pl.col(f"HR@{k}").mean())
                 .pivot(on="model", index=["bucket", "users"], values=f"HR@{k}").sort("bucket"))


def build_report(dataset: str, runs: list[dict[str, Any]], data_artifact: str, out_md: str, out_csv: str,
                 out_png: str, k: int = 10) -> pl.DataFrame:
    """``runs``: ``{"model", "seed", "metrics": path, "stages": {stage: artifact path}}`` per trained model."""
    loaded = [{**run, "metrics": read_json(run["metrics"]), "stage_times": stage_times(run["stages"])} for run in runs]
    rows = metric_rows(loaded, k)
    summary = aggregate(rows)
    with atomic_path(out_csv) as tmp:
        rows.write_csv(tmp)
    group_bar_chart(summary, f"HR@{k}", out_png, title=f"{dataset}: HR@{k} by item popularity (test)")

    stats = read_json(manifest_path(data_artifact)).get("stats", {})
    metric_cols = [f"HR@{k}", f"nDCG@{k}"] + [f"{g} {m}@{k}" for g in GROUP_NAMES for m in ("HR", "nDCG")]
    time_cols = [f"{stage} s" for stage in STAGES if f"{stage} s" in summary.columns]
    base = summary.row(0, named=True)
    lift_lines = []
    for row in summary.iter_rows(named=True):
        if row["model"] == base["model"]:
            continue
        lifts = []
        for col in [f"nDCG@{k}"] + [f"{g} nDCG@{k}" for g in GROUP_NAMES]:
            if base[col]:
                lifts.append(f"{col} {100 * (row[col] / base[col] - 1):+.1f}%")
            elif base[col] is not None and row[col] is not None:
                lifts.append(f"{col} {base[col]:.4f} → {row[col]:.4f} (no relative lift from 0)")
        lift_lines.append(f"- {row['model']} vs {base['model']}: " + ", ".join(lifts))
    text = "\n".join([
        f"# PAD results — {dataset}",
        "",
        f"Data after the PAD protocol: {stats.get('users', '?')} users, {stats.get('items', '?')} items, "
        f"{stats.get('interactions', '?')} interactions. Test split, full ranking over all items with the "
        f"user's history masked; best-validation checkpoints; mean ± std over seeds.",
        "",
        "## Test metrics",
        "",
        to_markdown(summary, metric_cols),
        "",
        "Warm = buckets 1–3, median = 4–7, cold = 8–10 (equal training-interaction mass per bucket).",
        "",
        *lift_lines,
        "",
        f"## HR@{k} per frequency bucket (1 = warmest)",
        "",
        _markdown_frame(_bucket_table(loaded, k)),
        "",
        "## Wall time per stage (seconds)",
        "",
        to_markdown(summary, time_cols),
        "",
        f"![HR@{k} by group]({Path(out_png).name})",
        "",
    ])
    write_text(out_md, text)
    return summary


def _markdown_frame(frame: pl.DataFrame, digits: int = 4) -> str:
    def fmt(v: Any) -> str:
        if v is None:
            return "–"
        return f"{v:.{digits}f}" if isinstance(v, float) else str(v)

    lines = ["| " + " | ".join(frame.columns) + " |", "|" + "---|" * len(frame.columns)]
    lines += ["| " + " | ".join(fmt(v) for v in row) + " |" for row in frame.iter_rows()]
    return "\n".join(lines)
