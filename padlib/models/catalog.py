"""Prepared item sides for scoring: the catalogue a recommender's ``catalog()`` computes, its
serving layout, and appending items added after training.

A user's score for item i is ``users(...) @ matrix[i]`` (``padlib.models.recommender``). New items'
rows (:class:`CatalogRows`, from a recommender's ``new_item_rows``) are appended, not recomputed
with the rest: ``ServingCatalog.extend`` writes them into spare room kept past the last item and
grows that room geometrically, so an append costs O(M) for M items in the common case and the
catalogue is copied only when the room runs out (or when extending a catalogue that has since been
extended: the room then belongs to the newer one).
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass, field

import torch

from padlib.models.screen import HalfScreen

GROWTH = 0.25  # spare room a reallocation adds, as a share of the items it holds
_EXTEND = threading.Lock()  # appends to a shared room are claimed one at a time


@dataclass(frozen=True)
class CatalogRows:
    """Rows for M new items: each expert's table rows [M, d_k] (looked up when a user's history
    holds the item) and the scoring rows [M, D]."""

    tables: list[torch.Tensor]
    matrix: torch.Tensor

    def __len__(self) -> int:
        return self.matrix.shape[0]


@dataclass(frozen=True)
class Catalog:
    """Prepared item side for scoring: each expert's item table [N + 1, d_k] (the inputs a
    user's history is looked up in) and the matrix [N + 1, D] user vectors are scored against."""

    tables: list[torch.Tensor]
    matrix: torch.Tensor

    @property
    def n_items(self) -> int:
        return self.matrix.shape[0] - 1

    def columns(self, lo: int, hi: int) -> torch.Tensor:
        """[D, hi - lo]: the scoring matrix of items lo..hi-1, to multiply user vectors with."""
        return self.matrix[lo:hi].T

    def extend(self, rows: CatalogRows) -> Catalog:
        """This catalogue with ``rows`` appended as items N + 1..N + M (a copy: for batch work;
        a running service appends to its ``for_serving()`` catalogue instead)."""
        return Catalog([torch.cat([t, r.to(t)]) for t, r in zip(self.tables, rows.tables)],
                       torch.cat([self.matrix, rows.matrix.to(self.matrix)]))

    def for_serving(self, screen: bool = True, spare: float = 0.0) -> ServingCatalog:
        """The same catalogue stored item-major ([D, N + 1]), with a float16 screen for one user
        at a time on CPU (``padlib.models.screen``: exact top-k from half the bytes). One user's
        scores are a matrix-vector product that reads the whole matrix, so it is memory-bound;
        CPU BLAS streams the item-major layout about 2.4x faster than the row-major one
        (the benchmark's serving figures, benchmarks/serving.py), which keeps batches and the
        screen's fallback fast.
        ``spare`` (a share of N + 1) reserves room for items added later, so that the first
        ``extend`` appends in place instead of copying the catalogue."""
        half = screen and self.matrix.device.type == "cpu"
        n = self.matrix.shape[0]
        if spare <= 0:
            return ServingCatalog(self.tables, self.matrix.T.contiguous(), HalfScreen.build(self.matrix) if half else None)
        with torch.inference_mode():
            room = _Room.allocate(self.tables, self.matrix.T, half, n + math.ceil(spare * n))
            built = HalfScreen.build(self.matrix, room.screen) if half else None
        return ServingCatalog(room.tables_to(n), room.scores[:, :n], built, room)


@dataclass(frozen=True)
class ServingCatalog:
    """A prepared catalogue for scoring few users at a time: ``scores`` is [D, N + 1] (possibly a
    view of wider storage: ``room`` holds it, with space to append items)."""

    tables: list[torch.Tensor]
    scores: torch.Tensor
    screen: HalfScreen | None = None
    room: _Room | None = field(default=None, repr=False, compare=False)

    @property
    def n_items(self) -> int:
        return self.scores.shape[1] - 1

    def columns(self, lo: int, hi: int) -> torch.Tensor:
        return self.scores[:, lo:hi]

    def rescore(self, user: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """user [D], items [M] → their fp32 scores [M]."""
        return user @ self.scores[:, items]

    def extend(self, rows: CatalogRows, growth: float = GROWTH) -> ServingCatalog:
        """A catalogue with ``rows`` appended as items N + 1..N + M; this one stays valid and unchanged.

        The rows go into the spare room when this catalogue is the newest one on its storage;
        otherwise the catalogue is copied into storage with ``growth`` (a share) to spare. The
        float16 screen gets the new rows at its scale, or is rebuilt when they do not fit it."""
        n, m = self.scores.shape[1], len(rows)
        with _EXTEND, torch.inference_mode():
            room = self.room
            if room is None or room.used != n or room.capacity < n + m:
                room = _Room.allocate(self.tables, self.scores, self.screen is not None,
                                      n + m + math.ceil(growth * (n + m)), self.screen)
            for table, new in zip(room.tables, rows.tables):
                table[n:n + m] = new
            room.scores[:, n:n + m] = rows.matrix.T
            screen = None
            if self.screen is not None:
                screen = self.screen.extend(rows.matrix, room.screen)
                if screen is None:  # a new scale: fresh storage, the older catalogues keep their screen
                    room.screen = torch.empty_like(room.screen)
                    screen = HalfScreen.build(room.scores[:, :n + m].T, room.screen)
            room.used = n + m
        return ServingCatalog(room.tables_to(n + m), room.scores[:, :n + m], screen, room)


class _Room:
    """Storage with spare capacity past the ``used`` items: each table [capacity, d_k], the scores
    [D, capacity] and the screen's float16 rows [capacity, D]. Catalogues hold views of it; only the
    one whose size equals ``used`` may append in place (an older one copies first)."""

    def __init__(self, tables: list[torch.Tensor], scores: torch.Tensor, screen: torch.Tensor | None,
                 used: int) -> None:
        self.tables, self.scores, self.screen, self.used = tables, scores, screen, used

    @property
    def capacity(self) -> int:
        return self.scores.shape[1]

    def tables_to(self, n: int) -> list[torch.Tensor]:
        return [t[:n] for t in self.tables]

    @classmethod
    def allocate(cls, tables: list[torch.Tensor], scores: torch.Tensor, screen: bool, capacity: int,
                 current: HalfScreen | None = None) -> _Room:
        """Storage for ``capacity`` items holding copies of ``tables`` and ``scores`` [D, N + 1] (and
        of ``current``'s screen rows, when given)."""
        n = scores.shape[1]
        room = cls([t.new_empty((capacity, t.shape[1])) for t in tables], scores.new_empty((scores.shape[0], capacity)),
                   torch.empty((capacity, scores.shape[0]), dtype=torch.float16) if screen else None, n)
        for dst, src in zip(room.tables, tables):
            dst[:n] = src
        room.scores[:, :n] = scores
        if current is not None:
            room.screen[:n] = current.rows
        return room
