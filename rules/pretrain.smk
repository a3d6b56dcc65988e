# Stage 3 — pretrain: the backbone on item IDs; phase 1 of PAD and the ID-only baseline (SASRec, ...).
# `id/` is the default run; variants with a `train` override (e.g. full softmax) get their own, e.g. `id-loss-softmax/`.


rule pretrain:
    input:
        data=rules.data.output,
    output:
        "results/{dataset}/{backbone}/seed{seed}/{pretrain}/model.pt",
    log:
        "logs/{dataset}/{backbone}/seed{seed}/{pretrain}/pretrain.log",
    benchmark:
        "timings/{dataset}/{backbone}/seed{seed}/{pretrain}/pretrain.tsv"
    wildcard_constraints:
        pretrain=runs_of("pretrain"),
    params:
        stage=stage_params("pretrain", "pretrain"),
    threads: 2
    resources:
        mem_mb=8000,
        runtime=240,
        gpu=1,
    conda:
        "../envs/pad.yaml"
    script:
        "../workflow_scripts/pretrain.py"
