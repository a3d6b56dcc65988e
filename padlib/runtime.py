"""Job set-up shared by the workflow scripts: log redirection and thread limits."""

from __future__ import annotations

import logging
import os
import sys

import torch


def setup_job(log_path: str | None, threads: int) -> None:
    """Send this job's stdout/stderr (progress bars, warnings) to its Snakemake log; cap threads."""
    if log_path:
        os.makedirs(os.path.dirname(log_path) or ".", exist_ok=True)
        stream = open(log_path, "w", buffering=1)
        sys.stdout = sys.stderr = stream
        logging.basicConfig(stream=stream, level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s",
                            force=True)
    torch.set_num_threads(max(1, int(threads)))
