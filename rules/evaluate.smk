# Stage 6 — evaluate: full ranking on the test split from the best-validation checkpoints.


rule evaluate_id:
    input:
        data=rules.data.output,
        model="results/{dataset}/{backbone}/seed{seed}/{pretrain}/model.pt",
    output:
        metrics="results/{dataset}/{backbone}/seed{seed}/{pretrain}/metrics.json",
        ranks="results/{dataset}/{backbone}/seed{seed}/{pretrain}/test_ranks.parquet",
    log:
        "logs/{dataset}/{backbone}/seed{seed}/{pretrain}/evaluate_id.log",
    benchmark:
        "timings/{dataset}/{backbone}/seed{seed}/{pretrain}/evaluate_id.tsv"
    wildcard_constraints:
        pretrain=runs_of("evaluate_id"),
    params:
        stage=PLAN.eval_params,
    threads: 2
    resources:
        mem_mb=8000,
        runtime=60,
        gpu=1,
    conda:
        "../envs/pad.yaml"
    script:
        "../workflow_scripts/evaluate.py"


rule evaluate_variant:
    input:
        data=rules.data.output,
        model="results/{dataset}/{backbone}/seed{seed}/{encoder}/{variant}/model.pt",
        embeddings="results/{dataset}/embeddings/{encoder}.parquet",
        # PAD's "gate prior only" diagnostic scores with the phase-1 model
        pretrain=lambda wc: (PLAN.phase1_model(wc.dataset, wc.backbone, wc.seed, wc.variant)
                             if PLAN.variants[wc.variant].method == "pad" else []),
    output:
        metrics="results/{dataset}/{backbone}/seed{seed}/{encoder}/{variant}/metrics.json",
        ranks="results/{dataset}/{backbone}/seed{seed}/{encoder}/{variant}/test_ranks.parquet",
    log:
        "logs/{dataset}/{backbone}/seed{seed}/{encoder}/{variant}/evaluate.log",
    benchmark:
        "timings/{dataset}/{backbone}/seed{seed}/{encoder}/{variant}/evaluate.tsv"
    wildcard_constraints:
        variant=runs_of("evaluate_variant"),
    params:
        stage=PLAN.eval_params,
    threads: 2
    resources:
        mem_mb=8000,
        runtime=60,
        gpu=1,
    conda:
        "../envs/pad.yaml"
    script:
        "../workflow_scripts/evaluate.py"
