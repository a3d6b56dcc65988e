# Baselines of the paper's Table 2 that are not a PAD phase. `scratch` trains the ones that start
# from nothing, by the variant's method: Hybrid, MoRec, CTRL (contrastive pre-alignment, then the ID
# model) and DisCo-style (shared/specific parts per modality, docs/disco.md). `make_experts` trains
# MAKE (Sheng et al., 2024): the phase-1 ID expert and a MoRec text expert, fused and fine-tuned.


rule scratch:
    input:
        data=rules.data.output,
        embeddings="results/{dataset}/embeddings/{encoder}.parquet",
    output:
        "results/{dataset}/{backbone}/seed{seed}/{encoder}/{variant}/model.pt",
    log:
        "logs/{dataset}/{backbone}/seed{seed}/{encoder}/{variant}/train.log",
    benchmark:
        "timings/{dataset}/{backbone}/seed{seed}/{encoder}/{variant}/train.tsv"
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


rule make_experts:
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
        "timings/{dataset}/{backbone}/seed{seed}/{encoder}/{variant}/finetune.tsv"
    wildcard_constraints:
        variant=runs_of("make_experts"),
    params:
        stage=stage_params("make_experts", "variant"),
    threads: 2
    resources:
        mem_mb=8000,
        runtime=240,
        gpu=1,
    conda:
        "../envs/pad.yaml"
    script:
        "../workflow_scripts/make_experts.py"
