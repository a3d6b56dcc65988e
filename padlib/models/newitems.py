"""How a trained model scores an item it has no trained ID row for (an item added after training).

Text paths need nothing new: the item's text vector goes through the trained projection. The ID
table has no row for the item, so every ID part (the ID expert, the aligned expert's fusion input,
an ID-only model, DisCo's ID half) uses the policy's row instead: ``zero`` (the padding row's value:
the ID side says nothing, the fusion sees only the text) or ``mean`` (the mean of the trained
items' rows: "a typical item"). PAD's gate weighs the experts by the item's frequency bucket; a
new item takes ``bucket``, by default the coldest (``n_buckets``), where the data protocol puts
items never seen in training. Which row serves best is to be measured on validation (issue 25).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from padlib.errors import ConfigError

ID_ROWS = ("zero", "mean")


@dataclass(frozen=True)
class NewItemPolicy:
    id_row: str = "zero"
    bucket: int | None = None  # None: the coldest bucket, n_buckets
    # [N + 1] bool: rows that training never reached (held-out items), left out of the mean row
    untrained: torch.Tensor | None = field(default=None, compare=False, repr=False)

    @classmethod
    def from_dict(cls, cfg: dict[str, Any] | None) -> NewItemPolicy:
        policy = cls(**(cfg or {}))
        if policy.id_row not in ID_ROWS:
            raise ConfigError(f"new_items.id_row: {policy.id_row!r} is not one of {list(ID_ROWS)}")
        return policy

    def id_vector(self, table: torch.Tensor) -> torch.Tensor:
        """[d]: the ID row a new item gets from a trained table [N + 1, d] (row 0 = padding)."""
        if self.id_row == "mean":
            rows = table[1:] if self.untrained is None else table[1:][~self.untrained[1:].to(table.device)]
            return rows.mean(0)
        return table.new_zeros(table.shape[1])

    def bucket_of_new(self, n_buckets: int) -> int:
        """The gate bucket of a new item, checked against the model's 1..n_buckets."""
        bucket = n_buckets if self.bucket is None else self.bucket
        if not 1 <= bucket <= n_buckets:
            raise ConfigError(f"new_items.bucket: {bucket} is outside the model's buckets 1..{n_buckets}")
        return bucket
