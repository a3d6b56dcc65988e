"""Snakemake adapter: phase 3, triple experts with the frequency-aware gate."""

import os

from padlib.runtime import setup_job
from padlib.training.phases import finetune

setup_job(snakemake.log[0], snakemake.threads, snakemake.output)
finetune(os.path.dirname(snakemake.input.data[0]), snakemake.input.embeddings, snakemake.input.pretrain,
         snakemake.input.align, snakemake.output[0], snakemake.params.stage, int(snakemake.wildcards.seed),
         device=snakemake.config["device"])
