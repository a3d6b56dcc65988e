"""The machine a worker runs on: its name, cores and threads, and the matmul peak the embedding
figure is compared with."""

from __future__ import annotations

import os
import platform
import time
from pathlib import Path

import torch


def sync(device: torch.device) -> None:
    """Wait for queued GPU work, so a timer stops after the work and not after its launch."""
    if device.type == "cuda":
        torch.cuda.synchronize()


def matmul_peak(device: torch.device, dtype_name: str, n: int = 2048, repeats: int = 10) -> float:
    """GFLOP/s of an n×n×n matrix product (the best of ``repeats``; n = 8192 on a GPU)."""
    dtype = getattr(torch, dtype_name)
    if device.type == "cuda":
        n = 8192
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    a @ b
    sync(device)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        a @ b
        sync(device)
        best = min(best, time.perf_counter() - start)
    return 2 * n ** 3 / best / 1e9


def cpu_name() -> str:
    """The CPU's model name (``/proc/cpuinfo``), else what ``platform`` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine(device: torch.device) -> dict:
    """What the table's first line names: CPU, usable cores, torch version and threads, device."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {"cpu": cpu_name(), "cores": cores, "torch": torch.__version__, "threads": torch.get_num_threads(),
            "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"}
