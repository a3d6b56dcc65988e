# Stage 7 — report: the configured tables (Table 2/3 analogs) and figures (Fig. 2/4/5/6a analogs),
# every model's metrics (Markdown + CSV), and every run's wall time, per dataset.
# The figures also go into the Snakemake HTML report (`snakemake --report report.html`).


rule report:
    input:
        lambda wc: PLAN.report_inputs(wc.dataset),
    output:
        markdown=report("results/{dataset}/report.md", caption="../report/report.rst", category="Results"),
        csv="results/{dataset}/report.csv",
        plot=report("results/{dataset}/hr_by_group.png", caption="../report/hr_by_group.rst", category="Results"),
        gates=report("results/{dataset}/gate_weights.png", caption="../report/gate_weights.rst", category="Results"),
        figures=[
            report(PLAN.figure("{dataset}", f.name), caption="../report/figure.rst", category="Figures",
                   labels={"figure": f.name, "caption": f.caption})
            for f in PLAN.report.figures
        ],
    log:
        "logs/{dataset}/report.log",
    benchmark:
        "timings/{dataset}/report.tsv"
    params:
        runs=lambda wc: PLAN.report_runs(wc.dataset),
        data=lambda wc: DATA.format(dataset=wc.dataset),
        k=config["evaluate"]["k"],
        spec=PLAN.report,
        kendall=lambda wc: PLAN.kendall_entries(wc.dataset),
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        "../envs/pad.yaml"
    script:
        "../workflow_scripts/report.py"
