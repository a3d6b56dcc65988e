# Stage 4 — align: the alignment expert, BCE + γ·(MK-MMD or InfoNCE) between projected text and IDs.
# One run per distinct alignment config, named after the first variant that uses it.


rule align:
    input:
        data=rules.data.output,
        embeddings="results/{dataset}/embeddings/{encoder}.parquet",
        pretrain=phase1_model("alignment"),
    output:
        "results/{dataset}/{backbone}/seed{seed}/{encoder}/align/{alignment}/model.pt",
    log:
        "logs/{dataset}/{backbone}/seed{seed}/{encoder}/align/{alignment}.log",
    benchmark:
        "timings/{dataset}/{backbone}/seed{seed}/{encoder}/align/{alignment}.tsv"
    wildcard_constraints:
        alignment=runs_of("align"),
    params:
        stage=stage_params("align", "alignment"),
    threads: 2
    resources:
        mem_mb=8000,
        runtime=240,
        gpu=1,
    conda:
        "../envs/pad.yaml"
    script:
        "../workflow_scripts/align.py"
