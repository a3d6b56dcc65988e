# Stage 1 — data: read the source, apply the PAD protocol, write items/sequences/splits.


rule fetch_wheel:
    output:
        "resources/wheels/{wheel}.whl",
    log:
        "logs/fetch_wheel/{wheel}.log",
    benchmark:
        "timings/fetch_wheel/{wheel}.tsv"
    params:
        requirement=lambda wc: WHEELS[wc.wheel].requirement,
    threads: 1
    resources:
        mem_mb=1000,
        runtime=30,
    conda:
        "../envs/pad.yaml"
    script:
        "../workflow_scripts/fetch_wheel.py"


rule data:
    input:
        unpack(data_inputs),
    output:
        item_table="results/{dataset}/data/items.parquet",
        sequences="results/{dataset}/data/sequences.parquet",
        splits="results/{dataset}/data/splits.parquet",
    log:
        "logs/{dataset}/data.log",
    benchmark:
        "timings/{dataset}/data.tsv"
    params:
        source=lambda wc: config["sources"][wc.dataset],
        protocol={k: v for k, v in config["protocol"].items() if k not in ("eval_mask", "repeat_target")},  # ranking only
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    conda:
        "../envs/pad.yaml"
    script:
        "../workflow_scripts/data.py"
