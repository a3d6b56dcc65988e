# Analysis — Kendall's tau between the pretrained and the aligned ID spaces per target bucket
# (paper Fig. 6a); built when a run holds a non-anchored alignment to compare with.


rule kendall:
    input:
        data=rules.data.output,
        pretrain="results/{dataset}/{backbone}/seed{seed}/id/model.pt",
        aligned=lambda wc: PLAN.kendall_models(wc.dataset, wc.backbone, wc.seed, wc.encoder),
    output:
        json="results/{dataset}/{backbone}/seed{seed}/{encoder}/kendall.json",
        plot="results/{dataset}/{backbone}/seed{seed}/{encoder}/kendall.png",
    log:
        "logs/{dataset}/{backbone}/seed{seed}/{encoder}/kendall.log",
    benchmark:
        "timings/{dataset}/{backbone}/seed{seed}/{encoder}/kendall.tsv"
    params:
        protocol=config["protocol"],
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    conda:
        "../envs/pad.yaml"
    script:
        "../workflow_scripts/kendall.py"
