# Stage 5 — finetune: ID, aligned and text experts mixed by the frequency-aware gate (BCE only);
# PAD and its ablations (experts dropped, shared gate) are variants of method `pad`.


rule finetune:
    input:
        data=rules.data.output,
        embeddings="results/{dataset}/embeddings/{encoder}.parquet",
        pretrain=lambda wc: pretrain_model(wc, VARIANTS[wc.variant].pretrain_tag),
        align=lambda wc: f"results/{wc.dataset}/{wc.backbone}/seed{wc.seed}/{wc.encoder}/align/"
        f"{VARIANTS[wc.variant].align_tag}/model.pt",
    output:
        "results/{dataset}/{backbone}/seed{seed}/{encoder}/{variant}/model.pt",
    log:
        "logs/{dataset}/{backbone}/seed{seed}/{encoder}/{variant}/finetune.log",
    benchmark:
        "benchmarks/{dataset}/{backbone}/seed{seed}/{encoder}/{variant}/finetune.tsv"
    wildcard_constraints:
        variant=variants_of("pad"),
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
        "../workflow_scripts/finetune.py"
