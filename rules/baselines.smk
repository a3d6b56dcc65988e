# Baselines of the paper's Table 2 that are not a PAD phase: Hybrid and MoRec (from scratch),
# CTRL (contrastive pre-alignment, then the ID model), MAKE (ID + MoRec experts fused) and
# DisCo-style (shared/specific parts per modality, docs/disco.md).


rule scratch:
    input:
        data=rules.data.output,
        embeddings="results/{dataset}/embeddings/{encoder}.parquet",
    output:
        "results/{dataset}/{backbone}/seed{seed}/{encoder}/{variant}/model.pt",
    log:
        "logs/{dataset}/{backbone}/seed{seed}/{encoder}/{variant}/train.log",
    benchmark:
        "benchmarks/{dataset}/{backbone}/seed{seed}/{encoder}/{variant}/train.tsv"
    wildcard_constraints:
        variant=runs_of("scratch"),
    params:
        stage=stage_params("scratch", "variant"),
        method=lambda wc: PLAN.variants[wc.variant].method,
    threads: 2
    resources:
        mem_mb=8000,
        runtime=240,
        gpu=1,
    conda:
        "../envs/pad.yaml"
    script:
        "../workflow_scripts/scratch.py"


rule ctrl:
    input:
        data=rules.data.output,
        embeddings="results/{dataset}/embeddings/{encoder}.parquet",
    output:
        "results/{dataset}/{backbone}/seed{seed}/{encoder}/{variant}/model.pt",
    log:
        "logs/{dataset}/{backbone}/seed{seed}/{encoder}/{variant}/train.log",
    benchmark:
        "benchmarks/{dataset}/{backbone}/seed{seed}/{encoder}/{variant}/train.tsv"
    wildcard_constraints:
        variant=runs_of("ctrl"),
    params:
        stage=stage_params("ctrl", "variant"),
    threads: 2
    resources:
        mem_mb=8000,
        runtime=240,
        gpu=1,
    conda:
        "../envs/pad.yaml"
    script:
        "../workflow_scripts/ctrl.py"


rule make:
    input:
        data=rules.data.output,
        embeddings="results/{dataset}/embeddings/{encoder}.parquet",
        pretrain=phase1_model("variant"),
        text=lambda wc: PLAN.text_model(wc.dataset, wc.backbone, wc.seed, wc.encoder, wc.variant),
    output:
        "results/{dataset}/{backbone}/seed{seed}/{encoder}/{variant}/model.pt",
    log:
        "logs/{dataset}/{backbone}/seed{seed}/{encoder}/{variant}/finetune.log",
    benchmark:
        "benchmarks/{dataset}/{backbone}/seed{seed}/{encoder}/{variant}/finetune.tsv"
    wildcard_constraints:
        variant=runs_of("make"),
    params:
        stage=stage_params("make", "variant"),
    threads: 2
    resources:
        mem_mb=8000,
        runtime=240,
        gpu=1,
    conda:
        "../envs/pad.yaml"
    script:
        "../workflow_scripts/make.py"


rule disco:
    input:
        data=rules.data.output,
        embeddings="results/{dataset}/embeddings/{encoder}.parquet",
    output:
        "results/{dataset}/{backbone}/seed{seed}/{encoder}/{variant}/model.pt",
    log:
        "logs/{dataset}/{backbone}/seed{seed}/{encoder}/{variant}/train.log",
    benchmark:
        "benchmarks/{dataset}/{backbone}/seed{seed}/{encoder}/{variant}/train.tsv"
    wildcard_constraints:
        variant=runs_of("disco"),
    params:
        stage=stage_params("disco", "variant"),
    threads: 2
    resources:
        mem_mb=8000,
        runtime=240,
        gpu=1,
    conda:
        "../envs/pad.yaml"
    script:
        "../workflow_scripts/disco.py"
