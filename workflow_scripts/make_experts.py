"""Snakemake adapter: MAKE (the ID expert and the MoRec text expert, fused and fine-tuned)."""

import os

from padlib.runtime import setup_job
from padlib.training.baselines import make_experts

setup_job(snakemake.log[0], snakemake.threads, snakemake.output)
make_experts(os.path.dirname(snakemake.input.data[0]), snakemake.input.embeddings, snakemake.input.pretrain,
             snakemake.input.text, snakemake.output[0], snakemake.params.stage, int(snakemake.wildcards.seed),
             device=snakemake.config["device"])
