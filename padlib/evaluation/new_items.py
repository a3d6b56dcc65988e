"""Held-out items scored as new ones: a model trained with ``protocol.new_items`` has ID rows for
the held-out items that training never reached (their initial random values), which would rank
them by noise. Evaluation gives them the rows an item added after training gets
(``padlib.models.newitems``: the text paths from their text, the ID parts from the policy's row,
PAD's gate at the policy's bucket), so the new group measures what serving would do. Items that
occur only as a validation or test target keep their trained rows (the BCE trains them as
negatives, as in the official code)."""

from __future__ import annotations

import dataclasses

import torch
from torch import nn

from padlib.models.catalog import Catalog
from padlib.models.items import TextItems
from padlib.models.newitems import NewItemPolicy


def model_text(model: nn.Module) -> torch.Tensor | None:
    """The normalised text matrix [N + 1, d_text] a model's text paths read (None: an ID-only model)."""
    return next((m.text for m in model.modules() if isinstance(m, TextItems)), None)


@torch.inference_mode()
def catalog_with_new_items(model: nn.Module, held_out: torch.Tensor, policy: NewItemPolicy) -> Catalog:
    """``model.catalog()`` with the held-out items' rows ([N + 1] bool ``held_out``) replaced by
    new-item rows; the plain catalogue when none is held out. The policy's mean row is taken over
    the trained items only."""
    catalog = model.catalog()
    items = held_out.nonzero().flatten()
    if items.numel() == 0:
        return catalog
    text = model_text(model)
    if text is None:  # ID-only: the rows ignore text, but need one row per item
        text = torch.zeros(len(held_out), 1)
    rows = model.new_item_rows(text[items.to(text.device)], dataclasses.replace(policy, untrained=held_out))
    where = items.to(catalog.matrix.device)
    tables = [t.clone() for t in catalog.tables]
    for table, new in zip(tables, rows.tables):
        table[where] = new.to(table)
    matrix = catalog.matrix.clone()
    matrix[where] = rows.matrix.to(matrix)
    return Catalog(tables, matrix)
