"""A trained model loaded for serving: its catalogue prepared once, the items added after training
(``padlib.serving.store``) appended, and more added while it runs, all without the LLM.

The frozen item-text vectors were computed by the embed stage (and by ``pad add-items`` for added
items); here only the projection MLPs, the backbones and one matrix product run. An added item's
text is normalised with the training catalogue's statistics and its ID parts take the
:class:`~padlib.models.newitems.NewItemPolicy` the model was evaluated with (``evaluate.new_items``
in the manifest of ``metrics.json`` beside it; the defaults when it has none).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import torch
from torch import nn

from padlib.data.dataset import per_item
from padlib.errors import DataError, PadError
from padlib.evaluation.new_items import catalog_with_new_items
from padlib.evaluation.ranking import check_finite, top_k
from padlib.io import manifest_path, read_json, read_parquet
from padlib.models.build import ModelConfig, rebuild
from padlib.models.catalog import ServingCatalog
from padlib.models.checkpoint import load_checkpoint
from padlib.models.newitems import NewItemPolicy
from padlib.serving.store import catalog_dir, check_encoder, encoder_record, read_added
from padlib.text.normalize import TextNorm
from padlib.text.store import read_embeddings


def find_model(results: Path, dataset: str, backbone: str | None, seed: int | None, encoder: str | None,
               variant: str = "pad") -> Path:
    """The one trained model of ``variant`` the options match, or a PadError listing what matched."""
    pattern = f"{backbone or '*'}/seed{'*' if seed is None else seed}/{encoder or '*'}/{variant}/model.pt"
    found = sorted((results / dataset).glob(pattern))
    if not found:
        raise PadError(f"no trained PAD model matches {results / dataset / pattern}; run the workflow first")
    if len(found) > 1:
        listing = "\n  ".join(str(p) for p in found)
        raise PadError(f"several PAD models match; choose with --backbone/--seed/--encoder:\n  {listing}")
    return found[0]


def evaluated_policy(model_path: Path) -> NewItemPolicy:
    """``evaluate.new_items`` as the evaluation beside the model recorded it; the defaults otherwise."""
    manifest = manifest_path(model_path.parent / "metrics.json")
    config: dict[str, Any] = (read_json(manifest).get("config") or {}) if manifest.is_file() else {}
    return NewItemPolicy.from_dict((config.get("evaluate") or {}).get("new_items"))


@dataclass
class ServedModel:
    """A model ranking its trained items (indices 1..N) and added ones (N + 1, ...): ``catalog`` grows
    with :meth:`add`; ``labels[i - 1]`` is item i's title (or id)."""

    model: nn.Module
    catalog: ServingCatalog
    norm: TextNorm
    policy: NewItemPolicy
    max_length: int
    labels: list[str]
    item_ids: list[str]
    source: str
    n_trained: int
    _known: set[str] = field(default_factory=set, repr=False)

    @property
    def n_items(self) -> int:
        return self.catalog.n_items

    @property
    def n_added(self) -> int:
        return self.n_items - self.n_trained

    @classmethod
    def load(cls, model_path: str | os.PathLike[str], data_dir: str | os.PathLike[str],
             embeddings: str | os.PathLike[str] | None, policy: NewItemPolicy | None = None,
             spare: float = 0.0) -> ServedModel:
        """The checkpoint at ``model_path`` over the dataset's items (``data_dir``) and text vectors
        (``embeddings``; None for an ID-only model), plus its served catalogue's items; ``spare``
        reserves room for items added while serving (``Catalog.for_serving``)."""
        model_path, data_dir = Path(model_path), Path(data_dir)
        checkpoint = load_checkpoint(model_path)
        n_items = checkpoint["n_items"]
        items = read_parquet(data_dir / "items.parquet").sort("item_idx")
        norm, text = TextNorm("none"), None
        if embeddings is not None:
            matrix, _ = read_embeddings(embeddings, n_items)
            norm = TextNorm.fit(matrix, ModelConfig.from_dict(checkpoint["model"]).text_norm)
            text = torch.zeros(matrix.shape)
            text[1:] = torch.from_numpy(norm.apply(matrix[1:]))
        model = rebuild(checkpoint, text, torch.from_numpy(per_item(items, "bucket"))).eval()
        policy = policy or evaluated_policy(model_path)
        held_out = torch.from_numpy(per_item(items, "held_out", bool))  # protocol.new_items: served as new
        with torch.inference_mode():
            catalog = catalog_with_new_items(model, held_out, policy)
            check_finite(catalog.matrix[1:], "item vectors", str(model_path))
            catalog = catalog.for_serving(spare=spare)
        item_ids = items["item_id"].cast(pl.Utf8).to_list()
        labels = items["title"].cast(pl.Utf8).to_list() if "title" in items.columns else item_ids
        served = cls(model, catalog, norm, policy, checkpoint["max_length"],
                     list(labels), list(item_ids), str(model_path), n_items, set(item_ids))
        directory = catalog_dir(model_path)
        added = read_added(directory)
        if len(added):
            if embeddings is not None:
                check_encoder(directory, encoder_record(Path(embeddings)))
            served.add(added.item_ids, added.labels, added.vectors)
        return served

    def add(self, item_ids: list[str], labels: list[str], vectors: np.ndarray) -> range:
        """Append items from their raw text vectors [M, d_text] (as the dataset's encoder gives them);
        returns their indices. Only their rows are computed; ids already served are refused."""
        if len(item_ids) != len(labels) or len(item_ids) != len(vectors):
            raise ValueError(f"need one label and vector per item; got {len(item_ids)} ids, {len(labels)} labels "
                             f"and {len(vectors)} vectors")
        seen: set[str] = set()
        for item in item_ids:
            if item in self._known or item in seen:
                raise DataError(f"item id {item!r} is already served by {self.source} or given twice")
            seen.add(item)
        with torch.inference_mode():
            text = torch.from_numpy(self.norm.apply(np.asarray(vectors, dtype=np.float32)))
            rows = self.model.new_item_rows(text, self.policy)
            check_finite(rows.matrix, "new items' vectors", self.source)
        first = self.n_items + 1
        self.catalog = self.catalog.extend(rows)
        self.labels += labels
        self.item_ids += item_ids
        self._known.update(item_ids)
        return range(first, first + len(item_ids))

    def top_k(self, history: torch.Tensor, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Each user's top-k item indices and scores; ``history`` [B, L] left-padded item indices."""
        return top_k(self.model, history, self.n_items, k, catalog=self.catalog, source=self.source)

