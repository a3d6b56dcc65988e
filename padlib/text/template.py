"""Item text from a template over the items table's columns, e.g. ``"{title} ({year})"``."""

from __future__ import annotations

import string

import polars as pl

from padlib.errors import ConfigError, DataError


def template_fields(template: str) -> list[str]:
    return [name for _, name, _, _ in string.Formatter().parse(template) if name]


def render_texts(items: pl.DataFrame, template: str, source: str = "items") -> list[str]:
    """One text per item row; missing values render as empty strings, whitespace collapsed."""
    fields = template_fields(template)
    missing = [f for f in fields if f not in items.columns]
    if missing:
        raise ConfigError(f"encoder template {template!r} names column(s) {missing} that {source} lacks "
                          f"(columns: {items.columns})")
    columns = {f: items[f].cast(pl.Utf8).fill_null("").to_list() for f in fields}
    texts = [" ".join(template.format(**{f: columns[f][i] for f in fields}).split()) for i in range(items.height)]
    empty = [i for i, t in enumerate(texts) if not t.strip(" ().,:;-")]
    if empty:
        raise DataError(f"{source}: row {empty[0] + 1} (item {items['item_id'][empty[0]]!r}) has no text for "
                        f"template {template!r} ({len(empty)} such items)")
    return texts
