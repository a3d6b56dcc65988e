"""Snakemake adapter: the DisCo-style baseline (shared/specific parts per modality), from scratch."""

import os

from padlib.runtime import setup_job
from padlib.training.disco import disco

setup_job(snakemake.log[0], snakemake.threads, snakemake.output)
disco(os.path.dirname(snakemake.input.data[0]), snakemake.input.embeddings, snakemake.output[0],
      snakemake.params.stage, int(snakemake.wildcards.seed), device=snakemake.config["device"])
