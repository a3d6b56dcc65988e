# Stage 5 — finetune: ID, aligned and text experts mixed by the frequency-aware gate (BCE only);
# PAD and its ablations (experts dropped, shared gate) are variants of method `pad`.


rule finetune:
    input:
        data=rules.data.output,
        embeddings="results/{dataset}/embeddings/{encoder}.parquet",
        pretrain=phase1_model("variant"),
        align=lambda wc: PLAN.aligned_model(wc.dataset, wc.backbone, wc.seed, wc.encoder, wc.variant),
    output:
        "results/{dataset}/{backbone}/seed{seed}/{encoder}/{variant}/model.pt",
    log:
        "logs/{dataset}/{backbone}/seed{seed}/{encoder}/{variant}/finetune.log",
    benchmark:
        "timings/{dataset}/{backbone}/seed{seed}/{encoder}/{variant}/finetune.tsv"
    wildcard_constraints:
        variant=runs_of("finetune"),
    params:
        stage=stage_params("finetune", "variant"),
    threads: 2
    resources:
        mem_mb=8000,
        runtime=240,
        gpu=1,
    conda:
        "../envs/pad.yaml"
    script:
        "../workflow_scripts/finetune.py"
