# Stage 7 — report: results table (Markdown + CSV) and the HR@10 warm/median/cold chart per dataset.


rule report:
    input:
        report_inputs,
    output:
        markdown="results/{dataset}/report.md",
        csv="results/{dataset}/report.csv",
        plot="results/{dataset}/hr_by_group.png",
    log:
        "logs/{dataset}/report.log",
    benchmark:
        "benchmarks/{dataset}/report.tsv"
    params:
        runs=lambda wc: report_runs(wc.dataset),
        data=lambda wc: f"results/{wc.dataset}/data/items.parquet",
        k=config["evaluate"]["k"],
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        "../envs/pad.yaml"
    script:
        "../workflow_scripts/report.py"
