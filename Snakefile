# PAD — Pre-train, Align, and Disentangle (SIGIR 2025) as a Snakemake workflow.
# `snakemake --cores N` builds every model in config `run:` and one report per dataset.

import os
import sys

from padlib.config import validate_config
from padlib.errors import PadError


configfile: "config.yaml"


report: "report/workflow.rst"


try:
    validate_config(config, os.path.join(workflow.basedir, "schemas", "config.schema.yaml"))
except PadError as error:  # the message names the key: one line, no traceback
    sys.exit(f"ERROR: {type(error).__name__}: {error}")


include: "rules/common.smk"
include: "rules/data.smk"
include: "rules/embed.smk"
include: "rules/pretrain.smk"
include: "rules/align.smk"
include: "rules/finetune.smk"
include: "rules/baselines.smk"
include: "rules/evaluate.smk"
include: "rules/analysis.smk"
include: "rules/report.smk"


rule all:
    input:
        PLAN.targets(),
    default_target: True
