"""Uniform negative sampling: one item per position, never an item of the user's training prefix
nor one held out of training (``protocol.new_items``)."""

from __future__ import annotations

import torch


def sample_negatives(seen: torch.Tensor, shape: tuple[int, ...], n_items: int,
                     generator: torch.Generator, max_rounds: int = 50,
                     excluded: torch.Tensor | None = None) -> torch.Tensor:
    """Items in 1..n_items of ``shape`` [B, ...], none in the row's ``seen`` [B, H] (0 = padding)
    and none flagged in ``excluded`` [N + 1] (bool; the held-out items).

    Rejection sampling: draws colliding with the user's items (or excluded ones) are redrawn, so
    without exclusions the draws are what they always were. A user who has seen (almost) the
    whole catalogue keeps a collision after ``max_rounds``; that is astronomically rare in
    practice and harmless for the BCE objective.
    """
    neg = torch.randint(1, n_items + 1, shape, generator=generator)
    flat_seen = seen.view(seen.shape[0], 1, -1)
    for _ in range(max_rounds):
        collide = (neg.view(neg.shape[0], -1, 1) == flat_seen).any(-1).view(shape)
        if excluded is not None:
            collide |= excluded[neg]
        if not collide.any():
            break
        neg[collide] = torch.randint(1, n_items + 1, (int(collide.sum()),), generator=generator)
    return neg
