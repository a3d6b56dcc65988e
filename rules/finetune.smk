# Stage 5 — finetune: ID, aligned and text experts mixed by the frequency-aware gate (BCE only).


rule finetune:
    input:
        data=rules.data.output,
        embeddings="results/{dataset}/embeddings/{encoder}.parquet",
        pretrain="results/{dataset}/{backbone}/seed{seed}/sasrec/model.pt",
        align="results/{dataset}/{backbone}/seed{seed}/{encoder}/align/model.pt",
    output:
        "results/{dataset}/{backbone}/seed{seed}/{encoder}/pad/model.pt",
    log:
        "logs/{dataset}/{backbone}/seed{seed}/{encoder}/finetune.log",
    benchmark:
        "benchmarks/{dataset}/{backbone}/seed{seed}/{encoder}/finetune.tsv"
    params:
        stage=training_params("finetune"),
    threads: 2
    resources:
        mem_mb=8000,
        runtime=240,
        gpu=1,
    conda:
        "../envs/pad.yaml"
    script:
        "../workflow_scripts/finetune.py"
