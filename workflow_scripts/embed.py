"""Snakemake adapter: the embed stage for one shard of the catalogue (item texts → frozen vectors)."""

from padlib.runtime import setup_job
from padlib.text.stage import embed_items

setup_job(snakemake.log[0], snakemake.threads, snakemake.output)
embed_items(snakemake.input.item_table, snakemake.input.model, snakemake.wildcards.encoder, snakemake.params.encoder,
            snakemake.config["device"], snakemake.output[0], shard=int(snakemake.wildcards.shard),
            n_shards=int(snakemake.wildcards.n_shards))
