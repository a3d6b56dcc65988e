# Stage 7 — report: results table (Markdown + CSV) and the HR@10 warm/median/cold chart per dataset.

BACKBONE_LABELS = {"sasrec": "SASRec"}


def report_runs(dataset):
    """Every trained model of ``dataset`` with its metrics file and the artifact of each stage."""
    base = f"results/{dataset}"
    data = f"{base}/data/items.parquet"
    runs = []
    for backbone in RUN["backbones"]:
        suffix_backbone = len(RUN["backbones"]) > 1
        for seed in SEEDS:
            root = f"{base}/{backbone}/seed{seed}"
            runs.append({
                "model": BACKBONE_LABELS[backbone],
                "seed": seed,
                "metrics": f"{root}/sasrec/metrics.json",
                "stages": {"data": data, "pretrain": f"{root}/sasrec/model.pt",
                           "evaluate": f"{root}/sasrec/metrics.json"},
            })
            for encoder in RUN["encoders"]:
                tags = ([encoder] if len(RUN["encoders"]) > 1 else []) + (
                    [BACKBONE_LABELS[backbone]] if suffix_backbone else [])
                runs.append({
                    "model": "PAD" + (f" ({', '.join(tags)})" if tags else ""),
                    "seed": seed,
                    "metrics": f"{root}/{encoder}/pad/metrics.json",
                    "stages": {"data": data, "embed": f"{base}/embeddings/{encoder}.parquet",
                               "pretrain": f"{root}/sasrec/model.pt", "align": f"{root}/{encoder}/align/model.pt",
                               "finetune": f"{root}/{encoder}/pad/model.pt",
                               "evaluate": f"{root}/{encoder}/pad/metrics.json"},
                })
    return runs


def report_inputs(wildcards):
    return sorted({path for run in report_runs(wildcards.dataset) for path in run["stages"].values()})


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
