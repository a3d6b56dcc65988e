"""What the report shows beyond the full results table: the ``report`` config block.

    report:
      baseline: sasrec            # ID-only variant each row's relative improvement is measured against
      tables:                     # e.g. the paper's Table 2 / Table 3 analogs
        - title: ...
          caption: ...            # one line under the table
          backbones: [sasrec]
          encoders: [smollm2]
          variants: [sasrec, hybrid, ..., pad]
          paired: {variant: pad, against: [sasrec, hybrid, ...]}   # paired tests vs each of these
                                  # (several encoders: also the first encoder's pad vs the others')
      figures:                    # PNGs under results/<dataset>/figures/<name>.png
        - name: fig2-groups
          kind: groups            # groups: warm/median/cold bars; overall: HR and nDCG bars; kendall: τ per bucket
          caption: ...
          backbones/encoders/variants: as for tables (kendall: the first backbone and encoder)

A missing block means no extra tables or figures. Every name must be defined in the config
(under ``backbones`` / ``encoders`` / ``variants``); names the run does not train are left out,
so one report block serves a run of any subset of the grid.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from padlib.errors import ConfigError

FIGURE_KINDS = ("groups", "overall", "kendall")


@dataclass(frozen=True)
class Selection:
    """Rows of a table or figure: these variants on these backbones with these encoders."""

    backbones: list[str]
    encoders: list[str]
    variants: list[str]


@dataclass(frozen=True)
class Paired:
    variant: str
    against: list[str]


@dataclass(frozen=True)
class TableSpec:
    title: str
    caption: str
    rows: Selection
    paired: Paired | None


@dataclass(frozen=True)
class FigureSpec:
    name: str
    kind: str
    title: str
    caption: str
    rows: Selection
    metric: str


@dataclass(frozen=True)
class ReportSpec:
    baseline: str | None
    tables: list[TableSpec] = field(default_factory=list)
    figures: list[FigureSpec] = field(default_factory=list)


def _selection(block: dict[str, Any], key: str, defined: dict[str, list[str]], ran: dict[str, list[str]]) -> Selection:
    chosen = {}
    for name in ("backbones", "encoders", "variants"):
        values = list(block.get(name) or ran[name])
        unknown = [v for v in values if v not in defined[name]]
        if unknown:
            raise ConfigError(f"config key {key}.{name}: {unknown} are not defined under {name} "
                              f"(defined: {sorted(defined[name])})")
        chosen[name] = [v for v in values if v in ran[name]]
    return Selection(**chosen)


def parse_report(config: dict[str, Any], backbones: list[str], encoders: list[str], variants: list[str],
                 k: int) -> ReportSpec:
    """The ``report`` block checked against the config, reduced to what the run trains
    (``backbones`` / ``encoders`` / ``variants``; all of them, in run order, where a block omits a key)."""
    block = config.get("report") or {}
    defined = {name: list(config.get(name) or {}) for name in ("backbones", "encoders", "variants")}
    ran = {"backbones": backbones, "encoders": encoders, "variants": variants}
    baseline = block.get("baseline")
    if baseline is not None and baseline not in defined["variants"]:
        raise ConfigError(f"config key report.baseline: {baseline!r} is not defined under variants")
    tables = []
    for i, table in enumerate(block.get("tables") or []):
        key = f"report.tables.{i}"
        rows = _selection(table, key, defined, ran)
        paired = None
        if table.get("paired"):
            spec = table["paired"]
            wanted = [spec["variant"], *spec["against"]]
            missing = [v for v in wanted if v not in (table.get("variants") or variants)]
            if missing:
                raise ConfigError(f"config key {key}.paired: {missing} are not among the table's variants")
            paired = Paired(spec["variant"], list(spec["against"]))
        tables.append(TableSpec(table["title"], table.get("caption", ""), rows, paired))
    figures = []
    for i, figure in enumerate(block.get("figures") or []):
        key = f"report.figures.{i}"
        if figure["kind"] not in FIGURE_KINDS:
            raise ConfigError(f"config key {key}.kind: {figure['kind']!r} is not one of {list(FIGURE_KINDS)}")
        figures.append(FigureSpec(figure["name"], figure["kind"], figure.get("title", figure["name"]),
                                  figure.get("caption", ""), _selection(figure, key, defined, ran),
                                  figure.get("metric", f"nDCG@{k}")))
    names = [f.name for f in figures]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ConfigError(f"config key report.figures: names {repeated} are used more than once")
    return ReportSpec(baseline, tables, figures)
