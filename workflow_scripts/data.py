"""Snakemake adapter: the data stage (source → PAD protocol → Parquet)."""

from padlib.data.stage import build_dataset
from padlib.runtime import setup_job

setup_job(snakemake.log[0], snakemake.threads)
result = build_dataset(snakemake.params.source, snakemake.params.protocol, dict(snakemake.input.items()),
                       dict(snakemake.output.items()))
print(f"{result.sequences.height} users, {result.items.height} items")
