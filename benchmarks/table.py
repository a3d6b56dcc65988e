"""The printed table: each figure of the current tree beside the reference's, with the speed-up,
then the datasets, the matmul peak, the embedding throughput and any full runs."""

from __future__ import annotations

import argparse
import sys
from typing import Any

Figures = dict[str, Any]  # what one worker printed (benchmarks.worker.measure)


def ratio(ref: float | None, new: float | None) -> str:
    """How many times faster ``new`` is than ``ref`` ("—" when either is missing)."""
    return f"{ref / new:.1f}×" if ref and new else "—"


def epoch_cell(phase: dict[str, Any] | None) -> str:
    """An epoch's seconds with the batch size, precision and loss it trained with."""
    if not phase:
        return "—"
    return f"{phase['epoch_s']:.1f} s (b{phase['batch_size']}, {phase['precision']}, {phase.get('loss', 'bce')})"


def training_rows(current: Figures, reference: Figures | None) -> list[str]:
    """Per dataset: every phase's epoch, then the validation pass of SASRec (pretrain) and PAD."""
    lines = []
    for name, entry in current["datasets"].items():
        ref_phases = (reference or {}).get("datasets", {}).get(name, {}).get("phases", {})
        for phase, cur in entry["phases"].items():
            old = ref_phases.get(phase)
            lines.append(f"| {phase} epoch | {name} | {epoch_cell(old)} | {epoch_cell(cur)} | "
                         f"{ratio(old and old['epoch_s'], cur['epoch_s'])} |")
        for phase in [p for p in ("pretrain", "finetune") if p in entry["phases"]]:
            cur = entry["phases"][phase]["valid_s"]
            old = ref_phases.get(phase, {}).get("valid_s")
            lines.append(f"| {phase} validation pass | {name} | {f'{old:.2f} s' if old else '—'} | {cur:.2f} s | "
                         f"{ratio(old, cur)} |")
    return lines


def serving_rows(cur: Figures, old: Figures | None) -> list[str]:
    """One user's top-10 (and the screen against fp32 alone), a batch's, and the catalogue build."""
    items = f"{cur['n_items']:,} items"
    old_ms = old["latency_ms"] if old else None
    lines = [f"| top-10, 1 user, after loading | {items} | {f'{old_ms:.0f} ms' if old_ms else '—'} | "
             f"{cur['latency_ms']:.1f} ms | {ratio(old_ms, cur['latency_ms'])} |"]
    if "fp32_latency_ms" in cur:
        lines.append(f"| top-10, 1 user: fp32 alone → float16 screen (same top-10: {cur['screen_exact']}) | "
                     f"{items} | {cur['fp32_latency_ms']:.1f} ms | {cur['latency_ms']:.1f} ms | "
                     f"{ratio(cur['fp32_latency_ms'], cur['latency_ms'])} |")
    lines += [
        f"| top-10 per user, batch of {cur.get('batch')} | {items} | — | "
        f"{cur.get('batched_ms_per_user', float('nan')):.1f} ms | — |",
        f"| loading (catalogue build) | {items} | — | {cur['load_s']:.2f} s | — |"]
    if "added" in cur:  # new items: rows computed and appended, text embedding not counted
        added = f"{cur['added']:,} new items"
        lines += [f"| adding {added}: by copying → into spare room | {items} | {cur['add_copy_s']:.2f} s | "
                  f"{cur['add_in_place_s']:.2f} s | {ratio(cur['add_copy_s'], cur['add_in_place_s'])} |",
                  f"| top-10, 1 user, after adding {added} | {items} | — | {cur['latency_after_add_ms']:.1f} ms | — |"]
    return lines


def notes(current: Figures) -> list[str]:
    """The lines under the table: datasets, matmul peak, embedding throughput, full runs."""
    lines = []
    for name, entry in current["datasets"].items():
        text = "the SmolLM2 embeddings" if entry["real_text"] else "random text vectors (speed does not depend on them)"
        lines.append(f"{name}: {entry['users']:,} users, {entry['items']:,} items, {text}")
    if "peak_gflops" in current:
        peak = current["peak_gflops"]
        lines.append(f"matmul peak: fp32 {peak['fp32']:.0f} GFLOP/s, bf16 {peak['bf16']:.0f} GFLOP/s")
    if "embedding" in current:
        e = current["embedding"]
        peak = current["peak_gflops"]["bf16" if e["dtype"] == "bfloat16" else "fp32"]
        budget = f", ≤ {e['max_tokens']} padded tokens" if e.get("max_tokens") else ""
        lines.append(f"embedding ({e['source']}, {e['dtype']}, batches of ≤ {e['batch_size']} texts{budget}, "
                     f"longest first): {e['texts']} {e['dataset']} titles, {e['tokens']} tokens in "
                     f"{e['seconds']:.1f} s = {e['texts_per_s']:.0f} texts/s, {e['tokens_per_s']:.0f} tokens/s, "
                     f"{e['gflops']:.0f} GFLOP/s = {100 * e['gflops'] / peak:.0f} % of the measured "
                     f"{e['dtype']} matmul peak")
    for name, runs in current.get("full", {}).items():
        lines.append(f"\nfull runs, {name} (seed 0): " + "; ".join(
            f"{phase} best epoch {r['best_epoch']} of {r['epochs_run']}, {r['to_best_s']:.0f} s to best "
            f"({r['wall_s']:.0f} s total), valid nDCG@10 {r['valid_ndcg']:.4f}, test nDCG@10 {r['test_ndcg']:.4f}"
            for phase, r in runs.items()))
    return lines


def table(current: Figures, reference: Figures | None, args: argparse.Namespace) -> str:
    """The current tree's figures against the reference's (None: no reference)."""
    m = current["machine"]
    lines = [f"machine: {m['cpu']}, {m['cores']} cores, torch {m['torch']}, {m['threads']} torch threads, "
             f"device {m['device']}",
             f"reference: {args.reference}; command: python -m benchmarks {' '.join(sys.argv[1:])}", "",
             "| figure | dataset | reference | current | speed-up |", "|---|---|---|---|---|",
             *training_rows(current, reference)]
    if "serving" in current:
        lines += serving_rows(current["serving"], (reference or {}).get("serving"))
    return "\n".join([*lines, "", *notes(current)])
