"""Config validation: the JSON schema plus the cross-references a schema cannot express.

Errors name the key path (``align.gamma``) and what was expected, so a typo in a
config stops the DAG build with a message the user can act on.
"""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from padlib.errors import ConfigError
from padlib.variants import experiments, resolve_variants

MODEL_CONFIG = "config.json"
ADAPTER_CONFIG = "adapter_config.json"


def _key_path(error: jsonschema.ValidationError) -> str:
    parts = [str(p) for p in error.absolute_path]
    return ".".join(parts) if parts else "<top level>"


def _message(error: jsonschema.ValidationError) -> str:
    """jsonschema's message, or for a rule the schema describes (the path-safe names) that description."""
    description = error.schema.get("description") if isinstance(error.schema, dict) else None
    if error.validator in ("pattern", "not") and description:
        what = "name" if "propertyNames" in error.relative_schema_path else "value"
        return f"{what} {error.instance!r} is not allowed: {description}"
    if error.validator in ("maxProperties", "minProperties") and isinstance(error.schema, dict):
        names = sorted(error.schema.get("properties", {}))
        if error.schema.get("minProperties") == error.schema.get("maxProperties") == 1 and names:
            given = sorted(error.instance) if isinstance(error.instance, dict) else []
            return f"give exactly one of {', '.join(names)} (got {', '.join(given) or 'none'})"
    return error.message


def check_encoder_dirs(config: dict[str, Any]) -> None:
    """Every local model and adapter directory an encoder of this run reads holds its config file.

    Checked when the config is read, so a wrong path stops the DAG build instead of failing at
    embed time (after the data stage) with a tokenizer error. Encoders the run does not use
    (e.g. the paper presets' Llama paths in a run of ID-only variants) are not checked.
    """
    used = dict.fromkeys(e.encoder for e in experiments(config, resolve_variants(config)) if e.encoder)
    for name in used:
        encoder = config["encoders"][name]
        folders = [(f"encoders.{name}.model.path", encoder["model"]["path"], MODEL_CONFIG,
                    "a local Hugging Face model directory")] if "path" in encoder["model"] else []
        folders += [(f"encoders.{name}.adapters.{i}", path, ADAPTER_CONFIG, "a local PEFT LoRA adapter directory")
                    for i, path in enumerate(encoder.get("adapters", []))]
        for key, path, needed, what in folders:
            if not Path(path).is_dir():
                raise ConfigError(f"config key {key}: {path} is not a directory; expected {what} with {needed}")
            if not (Path(path) / needed).is_file():
                raise ConfigError(f"config key {key}: {path} has no {needed}; expected {what}")


SCALAR_TYPES = {"number": (int, float), "integer": (int,), "boolean": (bool,), "null": (type(None),)}
YAML12_BOOLEANS = {"true", "True", "TRUE", "false", "False", "FALSE"}  # not YAML 1.1's yes/no/on/off


def _resolve(node: dict[str, Any], schema: dict[str, Any]) -> list[dict[str, Any]]:
    """``node`` and the subschemas it refers to through ``$ref`` and ``allOf`` (this schema's own refs)."""
    nodes = [node]
    if "$ref" in node:
        nodes += _resolve(schema["$defs"][node["$ref"].rsplit("/", 1)[-1]], schema)
    for part in node.get("allOf", []):
        nodes += _resolve(part, schema)
    return nodes


def _typed_scalar(value: str, types: list[str]) -> Any:
    """A string the schema wants as a number, integer, boolean or null, read as YAML 1.2 reads it
    (``0.5``, ``1.0e6``, ``1e-5``, ``true``, ``null``), or the string itself when it is not one."""
    parsed = yaml.safe_load(value) if value.strip() else value
    if isinstance(parsed, str) and "number" in types:
        try:
            parsed = float(parsed)
        except ValueError:
            return value
    wanted = tuple(t for name in types for t in SCALAR_TYPES.get(name, ()))
    if isinstance(parsed, bool) and (bool not in wanted or value.strip() not in YAML12_BOOLEANS):
        return value
    return parsed if isinstance(parsed, wanted) else value


def coerce_scalars(value: Any, node: dict[str, Any], schema: dict[str, Any]) -> Any:
    """``value`` with every string the schema types as a number, integer, boolean or null converted.

    Snakemake reads nested ``--config`` values (``--config align='{gamma: 0.5}'``) as strings, and YAML
    1.1 reads ``1.0e6`` as a string too; typed here, a number given anywhere is a number."""
    nodes = _resolve(node, schema)
    if isinstance(value, dict):
        for key in list(value):
            subs = [n["properties"][key] for n in nodes if key in n.get("properties", {})]
            subs += [n["additionalProperties"] for n in nodes
                     if key not in n.get("properties", {}) and isinstance(n.get("additionalProperties"), dict)]
            for sub in subs:
                value[key] = coerce_scalars(value[key], sub, schema)
        return value
    if isinstance(value, list):
        items = next((n["items"] for n in nodes if isinstance(n.get("items"), dict)), None)
        return value if items is None else [coerce_scalars(v, items, schema) for v in value]
    if isinstance(value, str):
        types = [t for n in nodes for t in ([n["type"]] if isinstance(n.get("type"), str) else n.get("type", []))]
        if any(t in SCALAR_TYPES for t in types) and "string" not in types:
            return _typed_scalar(value, types)
    return value


def validate_config(config: dict[str, Any], schema_path: str | os.PathLike[str]) -> dict[str, Any]:
    """Validate ``config`` in place (strings typed by the schema, schema defaults filled in) and return it."""
    with open(schema_path) as fh:
        schema = yaml.safe_load(fh)
    coerce_scalars(config, schema, schema)
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(config), key=lambda e: (len(e.absolute_path), str(e.absolute_path)))
    if errors:
        error = jsonschema.exceptions.best_match(errors)
        if error.validator == "oneOf" and error.context:
            error = min(error.context, key=lambda e: len(list(e.absolute_path)))
        raise ConfigError(f"config key {_key_path(error)}: {_message(error)}")
    fill_defaults(config, schema)
    check_protocol(config["protocol"])
    for name, encoder in config["encoders"].items():
        check_encoder_attention(name, encoder)
    for key, names in (("datasets", config["sources"]), ("encoders", config["encoders"])):
        unknown = [n for n in config["run"][key] if n not in names]
        if unknown:
            target = "sources" if key == "datasets" else "encoders"
            raise ConfigError(f"config key run.{key}: {unknown} not defined under {target} (defined: {sorted(names)})")
    check_encoder_dirs(config)
    return config


def check_protocol(protocol: dict[str, Any]) -> None:
    """The protocol's lengths must fit together: a user keeps at most ``max_sequence_length`` items,
    the test target is the last and the validation target the one before, so a history holds at
    most ``max_sequence_length - 1`` items; and at least ``min_user_interactions`` must fit."""
    longest, window = protocol["max_sequence_length"], protocol["max_input_length"]
    if protocol["min_user_interactions"] > longest:
        raise ConfigError(f"config key protocol.min_user_interactions: {protocol['min_user_interactions']} exceeds "
                          f"protocol.max_sequence_length ({longest}): no user could be kept")
    if window > longest - 1:
        raise ConfigError(f"config key protocol.max_input_length: {window} exceeds the longest history a user can "
                          f"have, protocol.max_sequence_length - 1 = {longest - 1}")


def _fill(section: dict[str, Any], properties: dict[str, Any]) -> None:
    """Defaults into ``section``, and into its nested blocks that have their own (``protocol.new_items``)."""
    for key, spec in properties.items():
        if "default" in spec:
            section.setdefault(key, copy.deepcopy(spec["default"]))
        if isinstance(section.get(key), dict) and "properties" in spec:
            _fill(section[key], spec["properties"])


def fill_defaults(config: dict[str, Any], schema: dict[str, Any]) -> None:
    """Write the schema's defaults into the sections the training and embedding code read.

    The rules' params are these sections, so a default then reaches Snakemake's params trigger:
    changing one (in the schema, which the code's defaults are tested against) reruns the stages it
    changes, and two runs made under different defaults are told apart by their manifests' config."""
    defs = schema["$defs"]
    _fill(config["train"], defs["train_overrides"]["properties"])
    _fill(config["align"], defs["align_options"]["properties"])
    _fill(config["finetune"], defs["finetune_options"]["properties"])
    _fill(config["model"], defs["model_options"]["properties"])
    _fill(config["protocol"], schema["properties"]["protocol"]["properties"])
    for name, options in config["backbones"].items():
        _fill(options, defs["backbone_options"]["properties"][name]["properties"])
    for encoder in config["encoders"].values():
        _fill(encoder, schema["properties"]["encoders"]["additionalProperties"]["properties"])


def check_encoder_attention(name: str, encoder: dict[str, Any]) -> None:
    """Refuse ``bidirectional: false`` on a sentence encoder: a BERT-style model has no causal mode to switch to."""
    if encoder["kind"] == "sentence" and encoder.get("bidirectional") is False:
        raise ConfigError(f"config key encoders.{name}.bidirectional: false needs kind llm2vec (a decoder LM); "
                          f"kind sentence is bidirectional by construction, so leave it true or unset")


def merge_config(config: dict[str, Any], overlay: dict[str, Any]) -> dict[str, Any]:
    """``overlay`` merged into ``config`` (in place) the way Snakemake merges ``--configfile`` files:
    dicts key by key, anything else replaced."""
    for key, value in overlay.items():
        config[key] = merge_config(config.get(key, {}), value) if isinstance(value, dict) else value
    return config


def phase_train(config: dict[str, Any], phase: str) -> dict[str, Any]:
    """The shared ``train`` block with the phase's own ``<phase>.train`` overrides applied."""
    merged = copy.deepcopy(config["train"])
    merged.update(config.get(phase, {}).get("train", {}))
    return merged
