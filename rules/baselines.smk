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
        variant=variants_of("hybrid", "morec"),
    params:
        stage=lambda wc: stage_params("scratch", wc.backbone, train=VARIANTS[wc.variant].train),
        method=lambda wc: VARIANTS[wc.variant].method,
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
        variant=variants_of("ctrl"),
    params:
        stage=lambda wc: stage_params("ctrl", wc.backbone, train=VARIANTS[wc.variant].train, ctrl=config["ctrl"]),
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
        pretrain=lambda wc: pretrain_model(wc, VARIANTS[wc.variant].pretrain_tag),
        text=lambda wc: variant_model(wc.dataset, wc.backbone, wc.seed, wc.encoder, VARIANTS[wc.variant].text_from),
    output:
        "results/{dataset}/{backbone}/seed{seed}/{encoder}/{variant}/model.pt",
    log:
        "logs/{dataset}/{backbone}/seed{seed}/{encoder}/{variant}/finetune.log",
    benchmark:
        "benchmarks/{dataset}/{backbone}/seed{seed}/{encoder}/{variant}/finetune.tsv"
    wildcard_constraints:
        variant=variants_of("make"),
    params:
        stage=lambda wc: stage_params("finetune", wc.backbone, train=VARIANTS[wc.variant].phase_train("finetune"),
                                      finetune=VARIANTS[wc.variant].finetune),
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
        variant=variants_of("disco"),
    params:
        stage=lambda wc: stage_params("disco", wc.backbone, train=VARIANTS[wc.variant].train, disco=config["disco"]),
    threads: 2
    resources:
        mem_mb=8000,
        runtime=240,
        gpu=1,
    conda:
        "../envs/pad.yaml"
    script:
        "../workflow_scripts/disco.py"
