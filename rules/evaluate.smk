# Stage 6 — evaluate: full ranking on the test split from the best-validation checkpoints.


rule evaluate_sasrec:
    input:
        data=rules.data.output,
        model="results/{dataset}/{backbone}/seed{seed}/sasrec/model.pt",
    output:
        metrics="results/{dataset}/{backbone}/seed{seed}/sasrec/metrics.json",
        ranks="results/{dataset}/{backbone}/seed{seed}/sasrec/test_ranks.parquet",
    log:
        "logs/{dataset}/{backbone}/seed{seed}/evaluate_sasrec.log",
    benchmark:
        "benchmarks/{dataset}/{backbone}/seed{seed}/evaluate_sasrec.tsv"
    params:
        stage=EVAL_PARAMS,
        label="SASRec",
    threads: 2
    resources:
        mem_mb=8000,
        runtime=60,
        gpu=1,
    conda:
        "../envs/pad.yaml"
    script:
        "../workflow_scripts/evaluate.py"


rule evaluate_pad:
    input:
        data=rules.data.output,
        model="results/{dataset}/{backbone}/seed{seed}/{encoder}/pad/model.pt",
        embeddings="results/{dataset}/embeddings/{encoder}.parquet",
    output:
        metrics="results/{dataset}/{backbone}/seed{seed}/{encoder}/pad/metrics.json",
        ranks="results/{dataset}/{backbone}/seed{seed}/{encoder}/pad/test_ranks.parquet",
    log:
        "logs/{dataset}/{backbone}/seed{seed}/{encoder}/evaluate_pad.log",
    benchmark:
        "benchmarks/{dataset}/{backbone}/seed{seed}/{encoder}/evaluate_pad.tsv"
    params:
        stage=EVAL_PARAMS,
        label="PAD",
    threads: 2
    resources:
        mem_mb=8000,
        runtime=60,
        gpu=1,
    conda:
        "../envs/pad.yaml"
    script:
        "../workflow_scripts/evaluate.py"
