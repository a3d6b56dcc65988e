"""Snakemake adapter: test-split full ranking of one trained model."""

import os

from padlib.evaluation.stage import evaluate_checkpoint
from padlib.runtime import setup_job

setup_job(snakemake.log[0], snakemake.threads, snakemake.output)
evaluate_checkpoint(os.path.dirname(snakemake.input.data[0]), snakemake.input.model,
                    snakemake.input.get("embeddings"), snakemake.output.metrics, snakemake.output.ranks,
                    snakemake.params.stage, snakemake.input.get("pretrain") or None,
                    device=snakemake.config["device"])
