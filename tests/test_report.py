"""The report's selected tables: the ``report`` config block, row selection, relative
improvements, the paired comparisons over users, and the grid's wall-time total."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from padlib.errors import ConfigError
from padlib.evaluation.metrics import ndcg
from padlib.io import write_json, write_manifest
from padlib.report.comparisons import comparison_lines, pairs, user_scores
from padlib.report.sections import select, with_lifts
from padlib.report.spec import Paired, Selection, TableSpec, parse_report
from padlib.report.stage import grid_wall_time
from padlib.report.table import metric_columns, reported_groups

RUN = {"backbones": ["sasrec", "gru4rec"], "encoders": ["llm"], "variants": ["sasrec", "pad", "morec"]}


def summary() -> pl.DataFrame:
    return pl.DataFrame({
        "model": ["SASRec", "PAD", "MoRec", "GRU4Rec", "PAD (GRU4Rec)"],
        "backbone": ["sasrec", "sasrec", "sasrec", "gru4rec", "gru4rec"],
        "encoder": ["", "llm", "llm", "", "llm"],
        "variant": ["sasrec", "pad", "morec", "sasrec", "pad"],
        "reference": ["sasrec"] * 5,
        "seeds": [1] * 5,
        "nDCG@10": [0.10, 0.12, 0.05, 0.08, 0.06],
        "warm nDCG@10": [0.20, 0.21, 0.10, 0.15, 0.12],
        "median nDCG@10": [0.05, 0.06, 0.02, 0.04, 0.03],
        "cold nDCG@10": [0.0, 0.01, 0.01, 0.02, 0.02],
    })


DEFINED = {"backbones": {"sasrec": {}, "gru4rec": {}, "caser": {}}, "encoders": {"llm": {}},
           "variants": {"sasrec": {}, "pad": {}, "morec": {}, "disco": {}}}


def test_report_block_names_must_be_defined_and_are_cut_to_the_run():
    config = {**DEFINED, "report": {"tables": [{"title": "T", "variants": ["sasrec", "discoo"]}]}}
    with pytest.raises(ConfigError, match=r"report.tables.0.variants: \['discoo'\] are not defined under variants"):
        parse_report(config, **RUN, k=10)
    config = {**DEFINED, "report": {"tables": [{"title": "T", "variants": ["disco", "pad", "sasrec"],
                                                "backbones": ["caser", "sasrec"]}]}}
    [table] = parse_report(config, **RUN, k=10).tables
    assert table.rows.variants == ["pad", "sasrec"] and table.rows.backbones == ["sasrec"]
    config = {**DEFINED, "report": {"tables": [{"title": "T", "variants": ["pad"],
                                                "paired": {"variant": "pad", "against": ["sasrec"]}}]}}
    with pytest.raises(ConfigError, match=r"report.tables.0.paired: \['sasrec'\] are not among"):
        parse_report(config, **RUN, k=10)
    with pytest.raises(ConfigError, match="report.baseline"):
        parse_report({**DEFINED, "report": {"baseline": "bert4rec"}}, **RUN, k=10)
    spec = parse_report({**DEFINED, "report": {"figures": [{"name": "f", "kind": "groups", "caption": "c"}]}},
                        **RUN, k=10)
    assert spec.figures[0].rows == Selection(**RUN) and spec.figures[0].metric == "nDCG@10"
    assert parse_report(DEFINED, **RUN, k=10).tables == []


def test_rows_are_selected_by_backbone_then_variant():
    rows = select(summary(), Selection(["gru4rec", "sasrec"], ["llm"], ["pad", "sasrec"]))
    assert rows["model"].to_list() == ["PAD (GRU4Rec)", "GRU4Rec", "PAD", "SASRec"]


def test_relative_improvement_is_over_the_same_backbones_baseline():
    frame = summary()
    rows, columns = with_lifts(frame, frame, 10)
    lifts = dict(zip(rows["model"], rows["Δ nDCG@10"]))
    assert lifts == {"SASRec": "+0.0%", "PAD": "+20.0%", "MoRec": "-50.0%", "GRU4Rec": "+0.0%",
                     "PAD (GRU4Rec)": "-25.0%"}
    assert dict(zip(rows["model"], rows["Δ cold nDCG@10"]))["PAD"] == "n/a (base 0)"
    assert columns[0] == "Δ nDCG@10"


def write_ranks(path, users, ranks, buckets):
    pl.DataFrame({"user_idx": users, "bucket": buckets, "rank": ranks}).write_parquet(path)
    return str(path)


def test_paired_comparisons_against_each_baseline_per_group(tmp_path):
    rng = np.random.default_rng(0)
    users = np.arange(400)
    buckets = np.repeat([1, 5, 9, 10], 100)            # warm, median, cold, cold
    base = rng.integers(0, 30, size=400)
    better_cold = np.where(buckets >= 8, base // 3, base)
    worse = base + 1                                    # seed 1 of PAD: below SASRec's seed 1 everywhere
    paths = {
        "PAD": {0: write_ranks(tmp_path / "pad.parquet", users[::-1], better_cold[::-1], buckets[::-1]),  # shuffled
                1: write_ranks(tmp_path / "pad1.parquet", users, worse, buckets)},
        "SASRec": {0: write_ranks(tmp_path / "sasrec.parquet", users, base, buckets),
                   1: write_ranks(tmp_path / "sasrec1.parquet", users, base, buckets)},
        "MoRec": {0: write_ranks(tmp_path / "morec.parquet", users, base + 20, buckets)},
    }
    scores = user_scores(paths["PAD"], 10)
    assert np.array_equal(scores.users, users) and sorted(scores.by_seed) == [0, 1]
    assert np.allclose(scores.by_seed[0], ndcg(better_cold, 10))
    assert np.allclose(scores.ndcg, (ndcg(better_cold, 10) + ndcg(worse, 10)) / 2)
    frame = summary().filter(pl.col("backbone") == "sasrec")
    table = TableSpec("T", "", Selection(["sasrec"], ["llm"], ["sasrec", "pad", "morec"]),
                      Paired("pad", ["sasrec", "morec"]))
    lines = comparison_lines(table, frame, paths, 10, 10)
    rows = {line.split(" | ")[0].lstrip("| "): line.split(" | ") for line in lines if " vs " in line}
    assert set(rows) == {"PAD vs SASRec", "PAD vs MoRec"}
    sasrec = rows["PAD vs SASRec"]
    assert sasrec[1] == "400" and sasrec[3].startswith("-")              # warm: seed 1's loss only
    cold_lift, cold_p = sasrec[5].split(" (p = ")
    assert float(cold_lift.rstrip("%")) > 50 and float(cold_p.rstrip(")")) < 1e-6
    low = float(sasrec[6].split("[")[1].split(",")[0])
    assert low > 0                                                      # cold lift above warm lift
    seed_lifts, above = sasrec[7].split(" (")
    first, second = (float(v.rstrip("%")) for v in seed_lifts.split(" / "))
    assert first > 0 > second and above == "1 of 2 above) |"
    assert rows["PAD vs MoRec"][7] == "n/a (base 0) (0 of 1 above) |"     # only seed 0 ran both
    assert rows["PAD vs MoRec"][4].startswith("n/a (base 0), p = ")      # MoRec ranks every median target ≥ 20
    paths["SASRec"] = {0: write_ranks(tmp_path / "other.parquet", users[:150], base[:150], buckets[:150])}
    with pytest.raises(ValueError, match="different users"):
        comparison_lines(table, frame, paths, 10, 10)


def test_the_new_group_is_paired_and_shown_only_where_a_run_has_new_targets(tmp_path):
    """Targets training never saw form the ``new`` group: a comparison column where the ranks flag
    them, none where they do not (ranks written before the flag existed, or no such target)."""
    users, buckets = np.arange(200), np.repeat([1, 10], 100)
    new = np.arange(200) >= 150                                 # 50 of the cold targets were never trained on
    base = np.full(200, 15)
    better_new = np.where(new, 0, base)
    def ranks(name, r, flags):
        frame = pl.DataFrame({"user_idx": users, "bucket": buckets, "rank": r})
        if flags is not None:
            frame = frame.with_columns(pl.Series("new", flags))
        frame.write_parquet(tmp_path / name)
        return {0: str(tmp_path / name)}
    frame = summary().filter(pl.col("backbone") == "sasrec")
    table = TableSpec("T", "", Selection(["sasrec"], ["llm"], ["sasrec", "pad"]), Paired("pad", ["sasrec"]))
    lines = comparison_lines(table, frame, {"PAD": ranks("p.parquet", better_new, new),
                                            "SASRec": ranks("s.parquet", base, new)}, 10, 10)
    header, row = lines[0].split(" | "), next(line for line in lines if " vs " in line).split(" | ")
    assert header[-3] == "new nDCG@10"
    assert row[-3].startswith("n/a (base 0), p = ")             # SASRec misses every new target, PAD hits them
    for flags in (None, np.zeros(200, dtype=bool)):
        lines = comparison_lines(table, frame, {"PAD": ranks("p.parquet", better_new, flags),
                                                "SASRec": ranks("s.parquet", base, flags)}, 10, 10)
        assert "new nDCG@10" not in lines[0]
    with_new = summary().with_columns(pl.Series("new nDCG@10", [0.0, 0.3, None, None, None]))
    assert reported_groups(with_new, 10) == ("warm", "median", "cold", "new")
    assert reported_groups(summary(), 10) == ("warm", "median", "cold")
    assert "new nDCG@10" in metric_columns(10, reported_groups(with_new, 10))


def test_a_table_of_several_encoders_also_pairs_the_variant_across_encoders():
    frame = pl.DataFrame({"model": ["SASRec", "PAD", "PAD (MiniLM)", "MoRec", "MoRec (MiniLM)"],
                          "backbone": ["sasrec"] * 5, "encoder": ["", "llm", "plm", "llm", "plm"],
                          "variant": ["sasrec", "pad", "pad", "morec", "morec"]})
    table = TableSpec("T", "", Selection(["sasrec"], ["llm", "plm"], ["sasrec", "morec", "pad"]),
                      Paired("pad", ["sasrec", "morec"]))
    assert [(a["model"], b["model"]) for a, b in pairs(table, frame)] == [
        ("PAD", "SASRec"), ("PAD", "MoRec"), ("PAD (MiniLM)", "SASRec"), ("PAD (MiniLM)", "MoRec (MiniLM)"),
        ("PAD", "PAD (MiniLM)")]


def test_grid_wall_time_counts_shared_stages_once(tmp_path):
    artifacts = {}
    for name, seconds in (("data", 1.0), ("pretrain", 10.0), ("pad", 20.0), ("kendall", 2.0)):
        artifacts[name] = str(tmp_path / f"{name}.json")
        write_json(artifacts[name], {})
        write_manifest(artifacts[name], config={}, inputs=[], wall_time_s=seconds)
    runs = [
        {"stages": {"data": artifacts["data"], "pretrain": artifacts["pretrain"]},
         "stage_times": {"data": 1.0, "pretrain": 10.0}},
        {"stages": {"data": artifacts["data"], "pretrain": artifacts["pretrain"], "finetune": artifacts["pad"]},
         "stage_times": {"data": 1.0, "pretrain": 10.0, "finetune": 20.0}},
    ]
    assert grid_wall_time(runs, [artifacts["kendall"]]) == (4, 33.0)


def test_diagnostic_rows_average_seeds_in_bucket_order():
    from padlib.report.diagnostics import diagnostic_rows

    def block(v):
        return {"overall": {"ndcg@10": v}, "groups": {g: {"ndcg@10": v} for g in ("warm", "median", "cold")},
                "buckets": {str(b): {"ndcg@10": v * b} for b in (1, 2, 10)}}

    runs = [{"model": "PAD", "seed": s, "metrics": {"test": block(0.2 + s), "diagnostics": {
        "experts": {"text": block(0.1), "id": block(0.3 + s)}, "gate_prior": block(0.05),
        "gate": {"learned": {}, "initial": {}}}}} for s in (0, 1)]
    runs.append({"model": "SASRec", "seed": 0, "metrics": {"test": block(0.2)}})
    frame = diagnostic_rows(runs, 10)
    assert frame["scorer"].to_list() == ["mixture", "id expert alone", "text expert alone", "gate prior only"]
    assert [c for c in frame.columns if c.startswith("b")] == ["b1", "b2", "b10"]
    assert frame.filter(pl.col("scorer") == "id expert alone")["nDCG@10"].item() == pytest.approx(0.8)
    assert frame.filter(pl.col("scorer") == "mixture")["b10"].item() == pytest.approx(7.0)


def test_the_report_says_which_mask_the_ranking_used_and_what_a_repeat_target_counts_as(tmp_path):
    from padlib.report.stage import _masked
    runs = []
    for name, protocol in [("a", {"eval_mask": "prefix", "repeat_target": "miss"}), ("b", {}),
                           ("c", {"eval_mask": "window", "repeat_target": "ranked"})]:
        metrics = tmp_path / f"{name}.json"
        write_json(metrics, {})
        write_manifest(metrics, config={"protocol": protocol}, inputs=[])
        runs.append({"metrics": str(metrics)})
    window = "the user's input window (the last max_input_length items) left out (a target among them ranked against the rest)"
    prefix = "every item the user had before the target left out (a target among them counted as a miss)"
    assert _masked(runs[2:]) == _masked(runs[1:2]) == window
    assert _masked(runs[:1]) == prefix
    assert _masked(runs) == f"{prefix} or {window}"
