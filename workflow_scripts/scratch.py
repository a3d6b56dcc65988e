"""Snakemake adapter: a baseline trained from scratch (Hybrid, MoRec, CTRL, DisCo-style), by its method."""

import os

from padlib.runtime import setup_job
from padlib.training.baselines import scratch

setup_job(snakemake.log[0], snakemake.threads, snakemake.output)
scratch(os.path.dirname(snakemake.input.data[0]), snakemake.input.embeddings, snakemake.output[0],
        snakemake.params.stage, int(snakemake.wildcards.seed), snakemake.params.method,
        device=snakemake.config["device"])
