"""The report stage: the selected tables (Table 2/3 analogs), figures with captions, Kendall's τ,
every model's metrics (Markdown + CSV), and the wall time of every run and of the whole grid."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from padlib.figures import group_bar_chart, model_bar_chart, plot_tau
from padlib.io import atomic_path, manifest_path, read_json, read_json_artifact, write_text
from padlib.report.diagnostics import diagnostics_section
from padlib.report.sections import baseline_row, select, table_section
from padlib.report.spec import FigureSpec, ReportSpec
from padlib.report.table import aggregate, metric_columns, metric_rows, reported_groups, to_markdown

log = logging.getLogger(__name__)


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


def kendall_means(kendall: list[dict[str, Any]]) -> dict[str, dict[int, dict]]:
    """τ per alignment label and bucket, averaged over the seeds' loaded kendall.json (``entry["tau"]``)."""
    values: dict[str, dict[int, list[float]]] = {}
    for entry in kendall:
        for label, buckets in entry["tau"].items():
            for bucket, block in buckets.items():
                if block["tau"] is not None:
                    values.setdefault(label, {}).setdefault(int(bucket), []).append(block["tau"])
    return {label: {b: {"tau": float(np.mean(v))} for b, v in sorted(buckets.items())}
            for label, buckets in values.items()}


def _kendall_section(kendall: list[dict[str, Any]]) -> list[str]:
    lines = []
    for backbone, encoder in dict.fromkeys((e["backbone"], e["encoder"]) for e in kendall):
        entries = [e for e in kendall if (e["backbone"], e["encoder"]) == (backbone, encoder)]
        taus = kendall_means(entries)
        buckets = sorted({b for per in taus.values() for b in per})
        frame = pl.DataFrame({"alignment": list(taus),
                              **{str(b): [taus[label].get(b, {}).get("tau") for label in taus] for b in buckets}})
        lines += [f"## Kendall's τ, pretrained vs aligned ID space, per target bucket ({backbone}, {encoder})", "",
                  _markdown_frame(frame, 3), "",
                  f"Mean over {len(entries)} seed(s) of τ between (history item, target) distances in the phase-1 ID "
                  "table and in each alignment expert's ID table (1 = the collaborative geometry is kept).", ""]
    return lines


def draw_figures(figures: list[FigureSpec], paths: dict[str, str], summary: pl.DataFrame,
                 kendall: list[dict[str, Any]], k: int) -> list[str]:
    """Write each configured figure; return the report lines that show it with its caption."""
    lines = []
    for figure in figures:
        path = paths[figure.name]
        if figure.kind == "kendall":
            backbone, encoder = figure.rows.backbones[0], figure.rows.encoders[0]
            plot_tau(kendall_means([e for e in kendall if (e["backbone"], e["encoder"]) == (backbone, encoder)]),
                     path, figure.title)
        else:
            rows = select(summary, figure.rows)
            if figure.kind == "groups":
                group_bar_chart(rows, figure.metric, path, groups=reported_groups(summary, k), title=figure.title)
            else:
                model_bar_chart(rows, [f"HR@{k}", f"nDCG@{k}"], path, figure.title)
        relative = os.path.relpath(path, os.path.dirname(paths["_report"]))
        lines += [f"### {figure.title}", "", f"![{figure.title}]({relative})", "", f"*{figure.caption}*", ""]
    return lines


def grid_wall_time(loaded: list[dict[str, Any]], extra: list[str]) -> tuple[int, float]:
    """(distinct stage artifacts, their summed wall time in s): each shared stage counted once."""
    times = {}
    for run in loaded:
        for stage, path in run["stages"].items():
            times[path] = run["stage_times"][stage]
    for path in extra:
        times[path] = read_json(manifest_path(path)).get("wall_time_s")
    return len(times), float(sum(t for t in times.values() if t is not None))


def _masked(runs: list[dict[str, Any]]) -> str:
    """What the ranking left out and what became of a target among those items, from the evaluate
    stage's recorded protocol (``protocol.eval_mask``, ``protocol.repeat_target``; manifests from
    before these options hold none: those runs masked the window and ranked such a target)."""
    window = "the user's input window (the last max_input_length items)"
    names = {None: window, "window": window, "prefix": "every item the user had before the target"}
    repeats = {None: "ranked against the rest", "ranked": "ranked against the rest", "miss": "counted as a miss"}
    ways = set()
    for run in runs:
        protocol = read_json(manifest_path(run["metrics"]))["config"]["protocol"]
        ways.add(f"{names[protocol.get('eval_mask')]} left out (a target among them "
                 f"{repeats[protocol.get('repeat_target')]})")
    return " or ".join(sorted(ways))


def build_report(dataset: str, runs: list[dict[str, Any]], data_artifact: str, out_md: str, out_csv: str,
                 out_png: str, k: int = 10, spec: ReportSpec | None = None, figure_paths: dict[str, str] | None = None,
                 kendall: list[dict[str, Any]] | None = None, gates_png: str | None = None) -> pl.DataFrame:
    """``runs``: ``{"model", "seed", "backbone", "encoder", "variant", "metrics": path, "ranks": path,
    "stages": {stage: artifact path}}`` per trained model; ``spec``: the selected tables and figures
    (``figure_paths``: name → PNG path; ``gates_png``: the mixtures' gate figure); ``kendall``:
    ``{"backbone", "encoder", "seed", "path", "labels"}`` per kendall.json, ``labels`` mapping its
    alignment run names to report labels."""
    spec = spec or ReportSpec(baseline=None)
    kendall = [{**entry, "tau": {entry["labels"][name]: taus
                                 for name, taus in read_json_artifact(entry["path"])["tau"].items()}}
               for entry in kendall or []]
    loaded = [{**run, "metrics": read_json_artifact(run["metrics"]), "stage_times": stage_times(run["stages"])}
              for run in runs]
    rows = metric_rows(loaded, k)
    summary = aggregate(rows)
    with atomic_path(out_csv) as tmp:
        rows.write_csv(tmp)
    group_bar_chart(summary, f"HR@{k}", out_png, groups=reported_groups(summary, k), title=f"{dataset}: HR@{k} by item popularity (test)")
    ranks: dict[str, dict[int, str]] = {}
    for run in runs:
        if run.get("ranks"):
            ranks.setdefault(run["model"], {})[run["seed"]] = run["ranks"]
    figure_lines = draw_figures(spec.figures, {**(figure_paths or {}), "_report": out_md}, summary, kendall, k)
    diagnostics = diagnostics_section(loaded, k, gates_png, _markdown_frame) if gates_png else []
    n_jobs, total = grid_wall_time(loaded, [entry["path"] for entry in kendall])
    log.info("grid wall time: %d distinct stage artifacts, %.0f s (%.2f h)", n_jobs, total, total / 3600)

    stats = read_json(manifest_path(data_artifact)).get("stats", {})
    time_cols = [f"{stage} s" for stage in STAGES if f"{stage} s" in rows.columns]
    run_times = rows.select("model", "seed", *time_cols).with_columns(
        pl.sum_horizontal(*time_cols).alias("total s"))
    n_buckets = len(loaded[0]["metrics"]["test"]["buckets"])
    sections = [line for table in spec.tables
                for line in table_section(table, summary, spec.baseline, ranks, k, n_buckets)]
    text = "\n".join([
        f"# PAD results — {dataset}",
        "",
        f"Data after the PAD protocol: {stats.get('users', '?')} users, {stats.get('items', '?')} items, "
        f"{stats.get('interactions', '?')} interactions. Test split, full ranking over all items with "
        f"{_masked(runs)}; best-validation checkpoints (`valid nDCG@{k}`: the validation split's, on which "
        "each checkpoint was picked and every default chosen); mean ± std over seeds.",
        "",
        *sections,
        *(["## Figures", "", *figure_lines] if figure_lines else []),
        *_kendall_section(kendall),
        *diagnostics,
        "## All models",
        "",
        to_markdown(summary, metric_columns(k, reported_groups(summary, k))),
        "",
        "Warm = buckets 1–3, median = 4–7, cold = 8–10 (equal training-interaction mass per bucket)"
        + ("; new = targets that training never saw (held out, or only ever a validation or test target; they "
           "are in the coldest bucket too)." if "new" in reported_groups(summary, k) else "."),
        "",
        *_lift_lines(summary, spec.baseline, k),
        "",
        f"## HR@{k} per frequency bucket (1 = warmest)",
        "",
        _markdown_frame(_bucket_table(loaded, k)),
        "",
        "## Wall time per stage (seconds, mean over seeds)",
        "",
        to_markdown(summary, time_cols),
        "",
        f"Total: {n_jobs} distinct stage runs (shared stages such as data, embeddings, phase 1 and alignments "
        f"counted once) took {total:.0f} s = {total / 3600:.2f} h of wall time, summed over jobs.",
        "",
        f"![HR@{k} by group]({Path(out_png).name})",
        "",
        "## Every run's wall time (seconds)",
        "",
        _markdown_frame(run_times, 1),
        "",
    ])
    write_text(out_md, text)
    return summary


def _lift_lines(summary: pl.DataFrame, baseline: str | None, k: int) -> list[str]:
    """Per model, its relative improvement over its reference model (without ``report.baseline``:
    over the first row)."""
    lines = []
    first = summary.row(0, named=True)
    for row in summary.iter_rows(named=True):
        base = baseline_row(summary, row) if baseline else first
        if base is None or row["model"] == base["model"]:
            continue
        lifts = []
        for col in [f"nDCG@{k}"] + [f"{g} nDCG@{k}" for g in reported_groups(summary, k)]:
            if base[col]:
                lifts.append(f"{col} {100 * (row[col] / base[col] - 1):+.1f}%")
            elif base[col] is not None and row[col] is not None:
                lifts.append(f"{col} {base[col]:.4f} → {row[col]:.4f} (no relative lift from 0)")
        lines.append(f"- {row['model']} vs {base['model']}: " + ", ".join(lifts))
    return lines


def _markdown_frame(frame: pl.DataFrame, digits: int = 4) -> str:
    def fmt(v: Any) -> str:
        if v is None:
            return "–"
        return f"{v:.{digits}f}" if isinstance(v, float) else str(v)

    lines = ["| " + " | ".join(frame.columns) + " |", "|" + "---|" * len(frame.columns)]
    lines += ["| " + " | ".join(fmt(v) for v in row) + " |" for row in frame.iter_rows()]
    return "\n".join(lines)
