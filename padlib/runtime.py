"""Job set-up shared by the workflow scripts: log redirection, console messages, thread limits, and
SIGTERM (a cluster's preemption, ``scancel`` or time limit) as a clean exit."""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from types import FrameType, TracebackType
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


class Terminated(SystemExit):
    """SIGTERM as an exit that unwinds the stack, so ``finally`` blocks run and atomic writes remove their
    temporary files. SLURM sends SIGTERM when it preempts or cancels a job or its time runs out, and
    SIGKILL after the grace time; Python's default for SIGTERM would stop the job on the spot."""

    def __init__(self, signum: int) -> None:
        super().__init__(128 + signum)


def _terminate(signum: int, frame: FrameType | None) -> None:
    logging.getLogger("padlib").warning(
        "stopped by %s; a rerun of a training job resumes after its last saved epoch", signal.Signals(signum).name)
    raise Terminated(signum)


def exit_on_sigterm() -> None:
    """Turn SIGTERM into ``Terminated`` (exit status 143) in this process."""
    signal.signal(signal.SIGTERM, _terminate)


@contextmanager
def sigterm_deferred() -> Iterator[None]:
    """Hold SIGTERM back while the block runs and deliver it once the block is done, so a file being
    written (a resume file: seconds at most) is finished and in place before the job stops. Signals are
    handled in the main thread only, so elsewhere the block runs unguarded."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: received.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL if previous is None else previous)
        if received:
            signal.raise_signal(signal.SIGTERM)


def setup_job(log_path: str | None, threads: int, outputs: Iterable[str] = ()) -> None:
    """Send this job's stdout/stderr (progress bars, warnings) to its Snakemake log; cap threads.

    padlib's warnings and errors also go to the real stderr, which Snakemake shows on the console,
    and an uncaught PadError ends the job (exit status 1) with its one-line message there and in the log.
    The manifests of the job's ``outputs`` go first: Snakemake removes a failed job's outputs but not
    their manifests, which would otherwise outlive them (a manifest is written after its artifact).
    SIGTERM ends the job cleanly (``exit_on_sigterm``).
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
    exit_on_sigterm()
    torch.set_num_threads(max(1, int(threads)))
