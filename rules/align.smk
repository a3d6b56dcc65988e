# Stage 4 — align: the alignment expert, BCE + γ·MK-MMD between projected text and ID embeddings.


rule align:
    input:
        data=rules.data.output,
        embeddings="results/{dataset}/embeddings/{encoder}.parquet",
        pretrain="results/{dataset}/{backbone}/seed{seed}/sasrec/model.pt",
    output:
        "results/{dataset}/{backbone}/seed{seed}/{encoder}/align/model.pt",
    log:
        "logs/{dataset}/{backbone}/seed{seed}/{encoder}/align.log",
    benchmark:
        "benchmarks/{dataset}/{backbone}/seed{seed}/{encoder}/align.tsv"
    params:
        stage=training_params("align"),
    threads: 2
    resources:
        mem_mb=8000,
        runtime=240,
        gpu=1,
    conda:
        "../envs/pad.yaml"
    script:
        "../workflow_scripts/align.py"
