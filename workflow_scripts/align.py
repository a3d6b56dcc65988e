"""Snakemake adapter: phase 2, the alignment expert (BCE + γ·MK-MMD)."""

import os

from padlib.runtime import setup_job
from padlib.training.phases import align

setup_job(snakemake.log[0], snakemake.threads, snakemake.output)
align(os.path.dirname(snakemake.input.data[0]), snakemake.input.embeddings, snakemake.input.pretrain,
      snakemake.output[0], snakemake.params.stage, int(snakemake.wildcards.seed), device=snakemake.config["device"])
