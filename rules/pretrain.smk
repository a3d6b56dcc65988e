# Stage 3 — pretrain: SASRec (or another backbone) on item IDs; phase 1 of PAD and the SASRec baseline.


rule pretrain:
    input:
        data=rules.data.output,
    output:
        "results/{dataset}/{backbone}/seed{seed}/sasrec/model.pt",
    log:
        "logs/{dataset}/{backbone}/seed{seed}/pretrain.log",
    benchmark:
        "benchmarks/{dataset}/{backbone}/seed{seed}/pretrain.tsv"
    params:
        stage=training_params("pretrain"),
    threads: 2
    resources:
        mem_mb=8000,
        runtime=240,
        gpu=1,
    conda:
        "../envs/pad.yaml"
    script:
        "../workflow_scripts/pretrain.py"
