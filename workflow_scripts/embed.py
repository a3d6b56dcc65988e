"""Snakemake adapter: the embed stage (item texts → frozen encoder vectors → Parquet)."""

from padlib.runtime import setup_job
from padlib.text.stage import embed_items

setup_job(snakemake.log[0], snakemake.threads)
embed_items(snakemake.input.item_table, snakemake.input.model, snakemake.wildcards.encoder, snakemake.params.encoder,
            snakemake.params.device, snakemake.output[0])
