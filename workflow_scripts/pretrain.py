"""Snakemake adapter: phase 1, SASRec on item IDs."""

import os

from padlib.runtime import setup_job
from padlib.training.phases import pretrain

setup_job(snakemake.log[0], snakemake.threads, snakemake.output)
pretrain(os.path.dirname(snakemake.input.data[0]), snakemake.output[0], snakemake.params.stage,
         int(snakemake.wildcards.seed), device=snakemake.config["device"])
