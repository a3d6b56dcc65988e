"""Job set-up shared by the workflow scripts: log redirection, console messages and thread limits."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterable
from types import TracebackType
from typing import TextIO

import torch

from padlib.errors import PadError
from padlib.io import manifest_path

CONSOLE_HANDLER = "padlib-console"


def _console_handler(console: TextIO) -> logging.Handler:
    """Warnings and errors of padlib's loggers on the console, where Snakemake's user looks first."""
    handler = logging.StreamHandler(console)
    handler.set_name(CONSOLE_HANDLER)
    handler.setLevel(logging.WARNING)
    handler.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
    return handler


def _report_pad_errors(exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
    """A PadError (bad input or config) becomes one line in the log and on the console, without a
    traceback: the message already names the file, row or key. Any other exception is a bug and keeps
    its traceback."""
    if not issubclass(exc_type, PadError):
        sys.__excepthook__(exc_type, exc, tb)
        return
    logging.getLogger("padlib").error("%s: %s", exc_type.__name__, " ".join(str(exc).splitlines()))


def setup_job(log_path: str | None, threads: int, outputs: Iterable[str] = ()) -> None:
    """Send this job's stdout/stderr (progress bars, warnings) to its Snakemake log; cap threads.

    padlib's warnings and errors also go to the real stderr, which Snakemake shows on the console,
    and an uncaught PadError ends the job (exit status 1) with its one-line message there and in the log.
    The manifests of the job's ``outputs`` go first: Snakemake removes a failed job's outputs but not
    their manifests, which would otherwise outlive them (a manifest is written after its artifact).
    """
    for output in outputs:
        manifest_path(output).unlink(missing_ok=True)
    console = sys.__stderr__ or sys.stderr
    if log_path:
        os.makedirs(os.path.dirname(log_path) or ".", exist_ok=True)
        stream = open(log_path, "w", buffering=1)
        sys.stdout = sys.stderr = stream
        logging.basicConfig(stream=stream, level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s",
                            force=True)
        padlib_log = logging.getLogger("padlib")
        for handler in [h for h in padlib_log.handlers if h.get_name() == CONSOLE_HANDLER]:
            padlib_log.removeHandler(handler)
        padlib_log.addHandler(_console_handler(console))
    sys.excepthook = _report_pad_errors
    torch.set_num_threads(max(1, int(threads)))
