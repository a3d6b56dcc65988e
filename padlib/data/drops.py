"""Rows a source reader leaves out on purpose, counted so that the data stage can report them.

A reader that drops rows (Amazon ratings on untitled items, MIND's repeated clicks) appends
one ``Dropped`` per reason to the list it is given; the data stage records them in the data
manifest and prints each as a warning on the console, so a smaller dataset is never a surprise
found only in a job log.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class Dropped:
    """``rows`` of the ``total`` rows (``what``: ratings, clicks) read from ``file`` left out, and why."""

    file: str
    what: str
    reason: str
    rows: int
    total: int

    def message(self) -> str:
        return f"{self.file}: dropped {self.rows} of {self.total} {self.what} {self.reason}"

    def record(self) -> dict[str, Any]:
        """The manifest entry."""
        return asdict(self)
