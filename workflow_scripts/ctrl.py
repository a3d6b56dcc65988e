"""Snakemake adapter: CTRL (contrastive ID↔text pre-alignment, then the ID model)."""

import os

from padlib.runtime import setup_job
from padlib.training.baselines import ctrl

setup_job(snakemake.log[0], snakemake.threads, snakemake.output)
ctrl(os.path.dirname(snakemake.input.data[0]), snakemake.input.embeddings, snakemake.output[0],
     snakemake.params.stage, int(snakemake.wildcards.seed), device=snakemake.config["device"])
