# Stage 3 — pretrain: the backbone on item IDs; phase 1 of PAD and the ID-only baseline (SASRec, ...).


rule pretrain:
    input:
        data=rules.data.output,
    output:
        "results/{dataset}/{backbone}/seed{seed}/id/model.pt",
    log:
        "logs/{dataset}/{backbone}/seed{seed}/pretrain.log",
    benchmark:
        "benchmarks/{dataset}/{backbone}/seed{seed}/pretrain.tsv"
    params:
        stage=lambda wc: stage_params("pretrain", wc.backbone),
    threads: 2
    resources:
        mem_mb=8000,
        runtime=240,
        gpu=1,
    conda:
        "../envs/pad.yaml"
    script:
        "../workflow_scripts/pretrain.py"
