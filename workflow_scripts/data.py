"""Snakemake adapter: the data stage (source → PAD protocol → Parquet)."""

from padlib.data.stage import build_dataset
from padlib.runtime import setup_job

setup_job(snakemake.log[0], snakemake.threads, snakemake.output)
inputs = dict(snakemake.input.items())
outputs = {"items": snakemake.output.item_table, "sequences": snakemake.output.sequences,
           "splits": snakemake.output.splits}
result = build_dataset(snakemake.params.source, snakemake.params.protocol, inputs, outputs)
print(f"{result.sequences.height} users, {result.items.height} items")
