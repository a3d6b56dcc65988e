"""Snakemake adapter: the per-dataset report."""

from padlib.report.stage import build_report
from padlib.runtime import setup_job

setup_job(snakemake.log[0], snakemake.threads, snakemake.output)
figures = {figure.name: path for figure, path in zip(snakemake.params.spec.figures, snakemake.output.figures)}
build_report(snakemake.wildcards.dataset, snakemake.params.runs, snakemake.params.data, snakemake.output.markdown,
             snakemake.output.csv, snakemake.output.plot, snakemake.params.k, spec=snakemake.params.spec,
             figure_paths=figures, kendall=snakemake.params.kendall, gates_png=snakemake.output.gates)
