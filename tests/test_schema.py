"""schemas/config.schema.yaml is the one place for the config's enums: each set of choices the code
checks or dispatches on must equal the schema's, so adding a choice in one place and not the other
fails here instead of in a run."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest
import yaml

from padlib.config import validate_config
from padlib.data.dataset import EVAL_MASKS
from padlib.data.protocol import ProtocolConfig
from padlib.data.stage import SOURCE_KINDS
from padlib.device import _DTYPES
from padlib.errors import ConfigError
from padlib.fetch import MODEL_WHEELS
from padlib.losses.mmd import KERNELS, MULTI_KERNEL
from padlib.models.build import BACKBONES, EXPERT_NAMES, GATE_HIDDEN, GATES, ModelConfig, backbone_options
from padlib.models.init import INITS
from padlib.models.newitems import ID_ROWS, NewItemPolicy
from padlib.models.sasrec import BLOCKS, SASRecConfig
from padlib.report.spec import FIGURE_KINDS
from padlib.text.encoder import KINDS
from padlib.text.normalize import NORMS
from padlib.training.disco import LOSS_KEYS
from padlib.training.loop import LOSSES, PRECISIONS, TrainConfig
from padlib.training.phases import ALIGN_DEFAULTS, ALIGNMENT_LOSSES, ALIGNMENT_SAMPLES, ANCHORINGS
from padlib.variants import DEFAULT_LABELS, METHODS

SCHEMA = yaml.safe_load((Path(__file__).resolve().parents[1] / "schemas" / "config.schema.yaml").read_text())
DEFS, PROPS = SCHEMA["$defs"], SCHEMA["properties"]
VARIANT = PROPS["variants"]["additionalProperties"]["properties"]
ENCODER = PROPS["encoders"]["additionalProperties"]["properties"]
FIGURE = PROPS["report"]["properties"]["figures"]["items"]["properties"]
TRAIN, ALIGN, FINETUNE = (DEFS[name]["properties"] for name in ("train_overrides", "align_options",
                                                                  "finetune_options"))
NEW_ITEMS = PROPS["evaluate"]["properties"]["new_items"]["properties"]


def source_kinds(schema: dict[str, Any]) -> list[str]:
    kinds = []
    for option in schema["additionalProperties"]["oneOf"]:
        kind = option["properties"]["kind"]
        kinds += kind["enum"] if "enum" in kind else [kind["const"]]
    return kinds


@pytest.mark.parametrize(("code", "schema"), [
    pytest.param(METHODS, VARIANT["method"]["enum"], id="variants.method"),
    pytest.param(DEFAULT_LABELS, VARIANT["method"]["enum"], id="labels per method"),
    pytest.param(LOSSES, TRAIN["loss"]["enum"], id="train.loss"),
    pytest.param(PRECISIONS, TRAIN["precision"]["enum"], id="train.precision"),
    pytest.param(ALIGNMENT_LOSSES, ALIGN["loss"]["enum"], id="align.loss"),
    pytest.param(KERNELS, ALIGN["kernel"]["enum"], id="align.kernel"),
    pytest.param(ANCHORINGS, ALIGN["anchoring"]["enum"], id="align.anchoring"),
    pytest.param(GATES, FINETUNE["gate"]["enum"], id="finetune.gate"),
    pytest.param(EXPERT_NAMES, FINETUNE["experts"]["items"]["enum"], id="finetune.experts"),
    pytest.param(EXPERT_NAMES, FINETUNE["gate_init"]["required"], id="finetune.gate_init"),
    pytest.param(BACKBONES, DEFS["backbone_name"]["enum"], id="backbone names"),
    pytest.param(BACKBONES, DEFS["backbone_options"]["properties"], id="backbones options"),
    pytest.param(MODEL_WHEELS, DEFS["model_source"]["properties"]["wheel"]["enum"], id="model wheels"),
    pytest.param(KINDS, ENCODER["kind"]["enum"], id="encoder kinds"),
    pytest.param(("auto", *_DTYPES), ENCODER["dtype"]["enum"], id="encoder dtypes"),
    pytest.param(NORMS, DEFS["model_options"]["properties"]["text_norm"]["enum"], id="model.text_norm"),
    pytest.param(LOSS_KEYS, PROPS["disco"]["required"], id="disco required"),
    pytest.param(LOSS_KEYS, PROPS["disco"]["properties"], id="disco keys"),
    pytest.param(FIGURE_KINDS, FIGURE["kind"]["enum"], id="figure kinds"),
    pytest.param(ALIGNMENT_SAMPLES, ALIGN["sample"]["enum"], id="align.sample"),
    pytest.param(MULTI_KERNEL, ALIGN["multi_kernel"]["enum"], id="align.multi_kernel"),
    pytest.param(INITS, DEFS["model_options"]["properties"]["init"]["enum"], id="model.init"),
    pytest.param(BLOCKS, DEFS["backbone_options"]["properties"]["sasrec"]["properties"]["block"]["enum"], id="sasrec.block"),
    pytest.param(EVAL_MASKS, PROPS["protocol"]["properties"]["eval_mask"]["enum"], id="protocol.eval_mask"),
    pytest.param(SOURCE_KINDS, source_kinds(PROPS["sources"]), id="source kinds"),
    pytest.param(ID_ROWS, NEW_ITEMS["id_row"]["enum"], id="evaluate.new_items.id_row"),
])
def test_code_choices_equal_the_schema_enum(code, schema):
    assert sorted(code) == sorted(schema)


@pytest.mark.parametrize("name", BACKBONES)
def test_each_backbone_takes_exactly_the_options_the_schema_allows(name):
    assert sorted(backbone_options(name)) == sorted(DEFS["backbone_options"]["properties"][name]["properties"])


@pytest.mark.parametrize(("code", "schema"), [
    pytest.param(ALIGN_DEFAULTS, {k: ALIGN[k]["default"] for k in ALIGN_DEFAULTS}, id="align defaults"),
    pytest.param(GATE_HIDDEN, FINETUNE["gate_hidden"]["default"], id="finetune.gate_hidden"),
    pytest.param(ModelConfig().init, DEFS["model_options"]["properties"]["init"]["default"], id="model.init"),
    pytest.param(SASRecConfig().block, DEFS["backbone_options"]["properties"]["sasrec"]["properties"]["block"]["default"],
                 id="sasrec.block"),
    pytest.param(EVAL_MASKS[0], PROPS["protocol"]["properties"]["eval_mask"]["default"], id="protocol.eval_mask"),
])
def test_code_defaults_equal_the_schema_default(code, schema):
    assert code == schema


@pytest.mark.parametrize(("config_class", "properties"), [
    pytest.param(TrainConfig, DEFS["train_overrides"]["properties"], id="train"),
    pytest.param(ModelConfig, DEFS["model_options"]["properties"], id="model"),
    pytest.param(ProtocolConfig, PROPS["protocol"]["properties"], id="protocol"),
    pytest.param(NewItemPolicy, NEW_ITEMS, id="evaluate.new_items"),
    *[pytest.param(BACKBONES[name][1], DEFS["backbone_options"]["properties"][name]["properties"], id=name)
      for name in BACKBONES],
])
def test_every_code_side_default_is_the_schema_default(config_class, properties):
    """The schema's ``default:`` values are the only defaults: every field of a config dataclass that
    the schema knows has the schema's default, and every such schema key has one."""
    for field in dataclasses.fields(config_class):
        if field.name not in properties:
            continue
        code = field.default if field.default is not dataclasses.MISSING else field.default_factory()
        assert "default" in properties[field.name], f"{config_class.__name__}.{field.name}: no schema default"
        if dataclasses.is_dataclass(code):  # a nested block: {} in the schema, its keys' defaults inside
            assert properties[field.name]["default"] == {}, f"{config_class.__name__}.{field.name}"
            test_every_code_side_default_is_the_schema_default(type(code), properties[field.name]["properties"])
            continue
        assert code == properties[field.name]["default"], f"{config_class.__name__}.{field.name}"


def test_strings_the_schema_types_as_numbers_are_numbers():
    """Nested --config values arrive as strings, and YAML 1.1 reads 1.0e6 as one: the schema types
    them; a string that is no number still fails validation with the key named."""
    from padlib.config import coerce_scalars

    schema = SCHEMA
    config = {"align": {"gamma": "0.5", "kernel": "gaussian"}, "train": {"lr": "1.0e6", "patience": "21"},
              "protocol": {"min_rating": "null"}, "variants": {"v": {"method": "pad", "align": {"gamma": "0"}}}}
    coerce_scalars(config, schema, schema)
    assert config == {"align": {"gamma": 0.5, "kernel": "gaussian"}, "train": {"lr": 1e6, "patience": 21},
                      "protocol": {"min_rating": None}, "variants": {"v": {"method": "pad", "align": {"gamma": 0}}}}
    assert coerce_scalars({"train": {"patience": "many"}}, schema, schema) == {"train": {"patience": "many"}}
    # booleans as YAML 1.2 spells them: PyYAML's YAML 1.1 "no" / "on" stay strings, for validation to refuse
    for word, typed in [("false", False), ("TRUE", True), ("no", "no"), ("on", "on")]:
        coerced = coerce_scalars({"train": {"validate_untrained": word}}, schema, schema)
        assert coerced == {"train": {"validate_untrained": typed}}, word


@pytest.mark.parametrize("protocol,message", [
    ({"max_input_length": 30, "max_sequence_length": 23}, "protocol.max_input_length: 30 exceeds"),
    ({"min_user_interactions": 25, "max_sequence_length": 23}, "protocol.min_user_interactions: 25 exceeds"),
])
def test_protocol_lengths_must_fit_together(protocol, message):
    config = yaml.safe_load((Path(__file__).resolve().parents[1] / "config.yaml").read_text())
    config["protocol"].update(protocol)
    with pytest.raises(ConfigError, match=message):
        validate_config(config, Path(__file__).resolve().parents[1] / "schemas" / "config.schema.yaml")


def test_the_new_item_settings_validate_and_reach_the_policy():
    """``evaluate.new_items`` takes the policy's choices (a bucket from 1, or null for the coldest) and
    refuses anything else with the key named; a --config string is typed by the schema."""
    from padlib.config import coerce_scalars

    root = Path(__file__).resolve().parents[1]
    config = yaml.safe_load((root / "config.yaml").read_text())
    config["evaluate"]["new_items"] = {"id_row": "mean", "bucket": "3"}
    coerce_scalars(config, SCHEMA, SCHEMA)
    validate_config(config, root / "schemas" / "config.schema.yaml")
    assert NewItemPolicy.from_dict(config["evaluate"]["new_items"]) == NewItemPolicy("mean", 3)
    for bad, message in [({"id_row": "learned"}, "evaluate.new_items.id_row"), ({"bucket": 0}, "evaluate.new_items.bucket")]:
        config["evaluate"]["new_items"] = bad
        with pytest.raises(ConfigError, match=message):
            validate_config(config, root / "schemas" / "config.schema.yaml")
