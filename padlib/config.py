"""Config validation: the JSON schema plus the cross-references a schema cannot express.

Errors name the key path (``align.gamma``) and what was expected, so a typo in a
config stops the DAG build with a message the user can act on.
"""

from __future__ import annotations

import copy
import os
from typing import Any

import jsonschema
import yaml

from padlib.errors import ConfigError


def _key_path(error: jsonschema.ValidationError) -> str:
    parts = [str(p) for p in error.absolute_path]
    return ".".join(parts) if parts else "<top level>"


def validate_config(config: dict[str, Any], schema_path: str | os.PathLike[str]) -> dict[str, Any]:
    """Validate ``config`` in place (schema defaults filled in) and return it."""
    with open(schema_path) as fh:
        schema = yaml.safe_load(fh)
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(config), key=lambda e: (len(e.absolute_path), str(e.absolute_path)))
    if errors:
        error = jsonschema.exceptions.best_match(errors)
        if error.validator == "oneOf" and error.context:
            error = min(error.context, key=lambda e: len(list(e.absolute_path)))
        raise ConfigError(f"config key {_key_path(error)}: {error.message}")
    for name, encoder in config["encoders"].items():
        for key, spec in schema["properties"]["encoders"]["additionalProperties"]["properties"].items():
            if "default" in spec:
                encoder.setdefault(key, copy.deepcopy(spec["default"]))
    for name, encoder in config["encoders"].items():
        check_encoder_attention(name, encoder)
    for key, names in (("datasets", config["sources"]), ("encoders", config["encoders"])):
        unknown = [n for n in config["run"][key] if n not in names]
        if unknown:
            target = "sources" if key == "datasets" else "encoders"
            raise ConfigError(f"config key run.{key}: {unknown} not defined under {target} (defined: {sorted(names)})")
    return config


def check_encoder_attention(name: str, encoder: dict[str, Any]) -> None:
    """Refuse ``bidirectional: false`` on a sentence encoder: a BERT-style model has no causal mode to switch to."""
    if encoder["kind"] == "sentence" and encoder.get("bidirectional") is False:
        raise ConfigError(f"config key encoders.{name}.bidirectional: false needs kind llm2vec (a decoder LM); "
                          f"kind sentence is bidirectional by construction, so leave it true or unset")


def phase_train(config: dict[str, Any], phase: str) -> dict[str, Any]:
    """The shared ``train`` block with the phase's own ``<phase>.train`` overrides applied."""
    merged = copy.deepcopy(config["train"])
    merged.update(config.get(phase, {}).get("train", {}))
    return merged
