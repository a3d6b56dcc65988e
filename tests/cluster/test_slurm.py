"""profiles/slurm on a real one-node SLURM cluster (tests/cluster/start-slurm.sh, `make test-cluster`).

The tiny workflow goes through sbatch job by job with the pinned executor plugin, every job's logs come
back, and its metrics equal those of the same workflow run locally. One training job is preempted the
way SLURM does it (`scancel`: SIGTERM, then SIGKILL after the grace time) after its second epoch;
Snakemake's retry reruns it, and it resumes after its last finished epoch and ends where the local,
uninterrupted run ended. Skipped, with the reason, where no cluster can be started (not root, no
Debian packages)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pytest
import torch
import yaml
from synthetic import write_tiny_workflow

from padlib.training.resume import resume_path

REPO = Path(__file__).resolve().parents[2]
START = REPO / "tests" / "cluster" / "start-slurm.sh"
SKIP_STATUS = 77   # start-slurm.sh: no cluster can be started here
PRETRAIN_EPOCHS = 30
PREEMPT_AFTER = 2
pytestmark = [pytest.mark.cluster, pytest.mark.slow, pytest.mark.workflow]


@pytest.fixture(scope="module")
def slurm(tmp_path_factory) -> dict[str, str]:
    """A running cluster for this module: the environment that reaches it (SLURM_CONF). Stopped after."""
    tmp = tmp_path_factory.mktemp("slurm")
    ready, log = tmp / "ready", tmp / "start-slurm.log"
    env = {**os.environ, "PAD_SLURM_READY": str(ready), "PAD_SLURM_DIR": str(tmp / "cluster")}
    with log.open("w") as out:
        proc = subprocess.Popen([str(START)], env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=out)
    deadline = time.monotonic() + 600   # includes installing the Debian packages
    while not ready.exists():
        if proc.poll() is not None:
            text = log.read_text()
            if proc.returncode == SKIP_STATUS:
                pytest.skip(text.strip().splitlines()[-1])
            pytest.fail(f"start-slurm.sh failed with status {proc.returncode}:\n{text[-4000:]}")
        if time.monotonic() > deadline:
            proc.terminate()
            pytest.fail(f"no idle SLURM node after 600 s:\n{log.read_text()[-4000:]}")
        time.sleep(0.5)
    yield {**os.environ, "SLURM_CONF": ready.read_text().strip()}
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=120) == 128 + signal.SIGTERM
    assert "stopped the cluster" in log.read_text()
    assert job_processes() == [], "a job's process outlived the cluster"


def job_processes() -> list[int]:
    """Processes still running as part of a job of the test cluster (ClusterName=pad)."""
    found = []
    for environ in Path("/proc").glob("[0-9]*/environ"):
        try:
            names = environ.read_bytes().split(b"\0")
        except OSError:
            continue
        if b"SLURM_CLUSTER_NAME=pad" in names and any(n.startswith(b"SLURM_JOB_ID=") for n in names):
            found.append(int(environ.parent.name))
    return found


def slurm_cmd(env: dict[str, str], *args: str) -> str:
    return subprocess.run(args, env=env, capture_output=True, text=True, check=True).stdout


def cluster_profile(dest: Path, env: dict[str, str]) -> Path:
    """profiles/slurm as this one-node, GPU-less, 2-core cluster can run it. Each change and why:
    - no GPU request (`gpu: 0` where the profile says 1; the rules' own `gpu=1` too): the node has no GPU,
      and sbatch refuses `--gpus=1` there ("Invalid generic resource (gres) specification");
    - account and partition: the test cluster's `pad` instead of the FILL-IN blanks;
    - one CPU and one thread per job, memory capped at the node's: the profile sizes GPU jobs for 8-core,
      32-64 GB GPU nodes, and this machine has two cores, shared;
    - status checks after 2 s instead of 40 s: a dozen short jobs, not hours-long ones.
    Everything else (runtimes, retries, latency-wait, kept logs, the status query) is the profile's."""
    profile = yaml.safe_load((REPO / "profiles" / "slurm" / "config.yaml").read_text())
    mem_mb = int(slurm_cmd(env, "sinfo", "--noheader", "--format=%m"))
    profile["default-resources"].update(slurm_account="pad", slurm_partition="pad")
    for resources in profile["set-resources"].values():
        if "gpu" in resources:
            resources["gpu"] = 0
        resources["mem_mb"] = min(resources["mem_mb"], mem_mb)
        resources["cpus_per_task"] = 1
    profile["default-resources"].update(cpus_per_task=1, mem_mb=min(profile["default-resources"]["mem_mb"], mem_mb))
    profile["set-threads"] = {rule: 1 for rule in profile["set-resources"]}
    profile["slurm-init-seconds-before-status-checks"] = 2
    dest.mkdir(parents=True)
    (dest / "config.yaml").write_text(yaml.safe_dump(profile, sort_keys=False))
    return dest


def write_workflow(root: Path) -> None:
    """The tiny workflow, with a phase 1 long enough to be preempted after its second epoch: one
    training position per step instead of 16."""
    root.mkdir(parents=True)
    config = write_tiny_workflow(root)
    config["pretrain"]["train"] = {"batch_size": 1, "max_epochs": PRETRAIN_EPOCHS, "patience": PRETRAIN_EPOCHS}
    (root / "config.yaml").write_text(yaml.safe_dump(config))


def snakemake(root: Path, *args: str, env: dict[str, str] | None = None, **popen) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "--directory", str(root), *args]
    return subprocess.Popen(cmd, cwd=root, env=env, text=True, **popen)


def saved_epoch(resume: Path) -> int:
    """The last finished epoch in a resume file, 0 while there is none."""
    try:
        return torch.load(resume, weights_only=True)["history"][-1]["epoch"]
    except (FileNotFoundError, RuntimeError, EOFError):
        return 0


def submitted(log: str) -> dict[str, str]:
    """SLURM job id → the rule it ran, from the plugin's lines in Snakemake's log."""
    found = re.findall(r"submitted with SLURM jobid (\d+) \(log: .*?/slurm_logs/rule_(\w+?)/", log)
    return {jobid: rule for jobid, rule in found}


def preempt_after(epoch: int, root: Path, log: Path, env: dict[str, str], run: subprocess.Popen) -> str:
    """`scancel` the pretrain job once its resume file holds ``epoch``; returns its SLURM job id."""
    resume = resume_path(root / "results/tiny/sasrec/seed0/id/model.pt")
    deadline = time.monotonic() + 600
    while saved_epoch(resume) < epoch:
        assert run.poll() is None, f"the workflow ended before pretrain reached epoch {epoch}:\n{log.read_text()[-4000:]}"
        assert time.monotonic() < deadline, "pretrain did not reach its second epoch in 600 s"
        time.sleep(0.05)
    jobid = next(j for j, rule in submitted(log.read_text()).items() if rule == "pretrain")
    slurm_cmd(env, "scancel", jobid)
    return jobid


def sacct_states(env: dict[str, str], jobids: list[str]) -> dict[str, str]:
    out = slurm_cmd(env, "sacct", "-X", "--noheader", "--parsable2", "--format=JobIDRaw,State", "-j", ",".join(jobids))
    return dict(line.split("|")[:2] for line in out.splitlines())


def metrics_of(root: Path) -> dict[str, dict]:
    """Every metrics.json of a run, without the training wall time (the one field that may differ)."""
    found = {}
    for path in sorted((root / "results").rglob("metrics.json")):
        metrics = json.loads(path.read_text())
        metrics.pop("train_wall_time_s")
        found[str(path.relative_to(root))] = metrics
    return found


def test_tiny_workflow_through_sbatch_with_a_preempted_job(slurm, tmp_path):
    local, cluster = tmp_path / "local", tmp_path / "cluster"
    write_workflow(local)
    write_workflow(cluster)
    ran = snakemake(local, "--cores", "1", stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert ran.wait(timeout=600) == 0, ran.stdout.read()[-4000:]

    profile = cluster_profile(tmp_path / "profile", slurm)
    log = tmp_path / "snakemake-slurm.log"
    start = time.monotonic()
    with log.open("w") as out:
        run = snakemake(cluster, "--workflow-profile", str(profile), env=slurm, stdout=out, stderr=subprocess.STDOUT)
        try:
            preempted = preempt_after(PREEMPT_AFTER, cluster, log, slurm, run)
            status = run.wait(timeout=900)
        finally:
            if run.poll() is None:   # a hung run: its jobs go with the cluster
                run.kill()
    wall_s = time.monotonic() - start
    text = log.read_text()
    assert status == 0, text[-6000:]

    jobs = submitted(text)
    rules = sorted(jobs.values())
    assert rules == sorted(["data", "embed", "embed", "gather_embeddings", "pretrain", "pretrain", "align",
                            "finetune", "evaluate_id", "evaluate_variant", "report"]), rules
    states = sacct_states(slurm, list(jobs))
    assert states.pop(preempted).startswith("CANCELLED")
    assert set(states.values()) == {"COMPLETED"}, states
    slurm_logs = {jobid: list((cluster / ".snakemake/slurm_logs").glob(f"rule_{rule}/**/{jobid}.log"))
                  for jobid, rule in jobs.items()}
    assert all(len(found) == 1 for found in slurm_logs.values()), slurm_logs   # every job's, the preempted one's too
    assert "stopped by SIGTERM" in slurm_logs[preempted][0].read_text()   # a clean exit, not SLURM's SIGKILL

    resumed = re.search(r"resuming after epoch (\d+) of (\d+)", (cluster / "logs/tiny/sasrec/seed0/id/pretrain.log").read_text())
    assert resumed, "the rerun of the preempted job started over"
    epoch = int(resumed.group(1))
    assert PREEMPT_AFTER <= epoch < PRETRAIN_EPOCHS and int(resumed.group(2)) == PRETRAIN_EPOCHS

    assert metrics_of(cluster) == metrics_of(local) and len(metrics_of(local)) == 2
    for ranks in (local / "results").rglob("test_ranks.parquet"):
        assert pl.read_parquet(ranks).equals(pl.read_parquet(cluster / ranks.relative_to(local)))
    print(f"\nSLURM jobs {', '.join(f'{j} {r}' for j, r in jobs.items())}; preempted {preempted} after epoch {epoch}; "
          f"cluster run {wall_s:.0f} s")
