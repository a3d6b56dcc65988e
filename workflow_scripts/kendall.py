"""Snakemake adapter: Kendall's tau of the ID space before vs after each alignment."""

import os

from padlib.analysis.stage import kendall_stage
from padlib.runtime import setup_job

setup_job(snakemake.log[0], snakemake.threads, snakemake.output)
aligned = {os.path.basename(os.path.dirname(path)): path for path in snakemake.input.aligned}
kendall_stage(os.path.dirname(snakemake.input.data[0]), snakemake.params.protocol, snakemake.input.pretrain,
              aligned, snakemake.output.json, snakemake.output.plot)
