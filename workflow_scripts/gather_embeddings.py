"""Snakemake adapter: gather the embedding shards into one Parquet file."""

import polars as pl

from padlib.runtime import setup_job
from padlib.text.stage import gather_items

setup_job(snakemake.log[0], snakemake.threads, snakemake.output)
n_items = pl.scan_parquet(snakemake.input.item_table).select(pl.len()).collect().item()
gather_items(list(snakemake.input.parts), snakemake.output[0], n_items)
