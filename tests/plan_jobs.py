"""Every job a dry run of the workflow plans, with its wildcards, input, output and params, as JSON.

Run as a script (``plan_jobs.py SNAKEFILE WORKDIR OUT.json [CONFIGFILE ...]``) in a subprocess, since
Snakemake changes the working directory and the logging of the process that plans. The params are
what each job's script would receive, so tests can check report labels, shared runs and rerun
triggers without running any job.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path
from typing import Any


def plan(snakefile: Path, workdir: Path, *configfiles: Path) -> list[dict[str, Any]]:
    """The planned jobs of ``snakefile`` run in ``workdir`` with ``configfiles`` over its config.yaml."""
    out = workdir / ".planned-jobs.json"
    cmd = [sys.executable, __file__, str(snakefile), str(workdir), str(out), *map(str, configfiles)]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=workdir)
    if proc.returncode != 0:
        raise AssertionError(f"planning failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}")
    return json.loads(out.read_text())


def _jsonable(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    return repr(value)


def main(snakefile: str, workdir: str, out: str, *configfiles: str) -> None:
    from snakemake.api import SnakemakeApi
    from snakemake.settings.types import (ConfigSettings, DAGSettings, OutputSettings, Quietness,
                                          ResourceSettings)

    with SnakemakeApi(OutputSettings(quiet={Quietness.ALL})) as api:
        workflow = api.workflow(resource_settings=ResourceSettings(cores=1),
                                config_settings=ConfigSettings(configfiles=[Path(c) for c in configfiles]),
                                snakefile=Path(snakefile), workdir=Path(workdir))
        workflow.dag(DAGSettings()).execute_workflow(executor="dryrun")
        jobs = [{"rule": job.rule.name, "wildcards": dict(job.wildcards.items()), "input": list(job.input),
                 "output": list(job.output), "params": dict(job.params.items())}
                for job in workflow._workflow.dag.needrun_jobs(exclude_finished=False)]
    Path(out).write_text(json.dumps(jobs, default=_jsonable))


if __name__ == "__main__":
    main(*sys.argv[1:])
