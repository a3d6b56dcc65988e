# PAD — Pre-train, Align, and Disentangle (SIGIR 2025) as a Snakemake workflow.
# `snakemake --cores N` builds every model in config `run:` and one report per dataset.

import os

from padlib.config import validate_config


configfile: "config.yaml"


report: "report/workflow.rst"


validate_config(config, os.path.join(workflow.basedir, "schemas", "config.schema.yaml"))


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
