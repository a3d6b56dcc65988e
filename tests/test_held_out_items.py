"""Items held out of training (``protocol.new_items``): the data protocol removes their training
interactions and keeps their targets, training never uses them as negatives, and evaluation reports
every target training never saw as the ``new`` group."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
import torch
import torch.nn.functional as F
from synthetic import write_synthetic

from padlib.data.dataset import load_data
from padlib.data.protocol import NewItems, ProtocolConfig, apply_protocol, held_out_items
from padlib.data.stage import write_dataset
from padlib.data.tables import read_interactions, read_items
from padlib.errors import DataError
from padlib.models.build import ModelConfig, id_expert
from padlib.models.recommender import SingleExpert
from padlib.training.loop import TrainConfig, softmax_loss, train_epoch
from padlib.training.sampling import sample_negatives

PROTOCOL = {"min_rating": 4, "min_user_interactions": 5, "max_sequence_length": 10, "max_input_length": 6,
            "n_buckets": 4}


@pytest.fixture(scope="module")
def raw(tmp_path_factory):
    interactions, items = write_synthetic(tmp_path_factory.mktemp("new-items"), n_users=80)
    return read_interactions(interactions), read_items(items)


def protocol(raw, share: float, seed: int = 0):
    return apply_protocol(*raw, ProtocolConfig(**PROTOCOL, new_items={"share": share, "seed": seed}))


def test_held_out_items_are_a_seeded_share_of_the_catalogue():
    held = held_out_items(30, NewItems(share=0.1, seed=3))
    assert held.shape == (31,) and not held[0] and held.sum() == 3
    assert np.array_equal(held, held_out_items(30, NewItems(share=0.1, seed=3)))
    assert not np.array_equal(held, held_out_items(30, NewItems(share=0.1, seed=4)))
    assert not held_out_items(30, NewItems()).any()
    with pytest.raises(DataError, match="protocol.new_items.share"):
        ProtocolConfig(new_items={"share": 1.0})


def test_held_out_items_leave_training_but_keep_their_targets(raw):
    plain, held = protocol(raw, 0.0), protocol(raw, 0.2)
    assert plain.items["held_out"].sum() == 0
    assert plain.items.drop("held_out").equals(apply_protocol(*raw, ProtocolConfig(**PROTOCOL)).items.drop("held_out"))
    flags = dict(zip(held.items["item_idx"].to_list(), held.items["held_out"].to_list()))
    out = {i for i, f in flags.items() if f}
    assert len(out) == round(0.2 * held.items.height)
    for before, after in zip(plain.sequences["items"].to_list(), held.sequences["items"].to_list()):
        assert after[-2:] == before[-2:]                                  # validation and test targets kept
        assert after[:-2] == [i for i in before[:-2] if i not in out]     # training prefix without them
    splits = held.splits
    assert not set(i for h in splits.filter(pl.col("split") == "valid")["history"].to_list() for i in h) & out
    frozen = held.items.filter(pl.col("held_out"))
    assert frozen["train_freq"].sum() == 0 and set(frozen["bucket"].to_list()) == {PROTOCOL["n_buckets"]}
    targets = set(splits["target"].to_list())
    assert targets & out, "the synthetic case must have held-out targets to measure"
    # a held-out validation target stays in the test history: bought after training, before the test item
    test = splits.filter(pl.col("split") == "test")
    valid = splits.filter(pl.col("split") == "valid")
    kept = [(h, v) for h, v in zip(test["history"].to_list(), valid["target"].to_list()) if v in out]
    assert kept and all(h[-1] == v for h, v in kept)


def test_training_never_touches_a_held_out_item(raw, tmp_path):
    """One epoch with no weight decay leaves every held-out item's ID row exactly as it was, under BCE
    (never a negative, never an input) and under full softmax (left out of the softmax)."""
    result = protocol(raw, 0.2)
    write_dataset(result, {n: str(tmp_path / f"{n}.parquet") for n in ("items", "sequences", "splits")})
    data = load_data(tmp_path, PROTOCOL)
    out = data.held_out.nonzero().flatten()
    assert len(out) and bool(data.unseen[out].all())
    model_cfg = ModelConfig(dim=16, backbone={"name": "sasrec", "blocks": 1, "heads": 2, "ffn_dim": 32},
                            projection_layers=1)
    for loss in ("bce", "softmax"):
        torch.manual_seed(0)
        model = SingleExpert(id_expert(data.n_items, model_cfg, data.max_input_length))
        table = model.expert.items.table.weight
        before = table.detach().clone()
        cfg = TrainConfig(batch_size=16, lr=0.05, weight_decay=0.0, loss=loss, precision="fp32")
        optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=0.0)
        train_epoch(model, data, cfg, optimizer, torch.Generator().manual_seed(0), torch.device("cpu"))
        moved = (table.detach() != before).any(-1)
        assert not moved[out].any(), loss
        assert moved[~data.held_out & ~data.unseen][1:].all(), loss    # the trained items did move


def test_negatives_avoid_excluded_items_and_are_unchanged_without_any():
    seen = torch.tensor([[1, 2, 0], [3, 0, 0]])
    excluded = torch.zeros(21, dtype=torch.bool)
    excluded[[4, 5, 6, 7]] = True
    draws = sample_negatives(seen, (2, 500), 20, torch.Generator().manual_seed(0), excluded=excluded)
    assert not excluded[draws].any() and not (draws[0] <= 2).any() and not (draws[1] == 3).any()
    plain = sample_negatives(seen, (2, 500), 20, torch.Generator().manual_seed(0))
    none = sample_negatives(seen, (2, 500), 20, torch.Generator().manual_seed(0),
                            excluded=torch.zeros(21, dtype=torch.bool))
    assert torch.equal(plain, none)


def test_the_softmax_leaves_excluded_items_out():
    logits, target = torch.randn(3, 6), torch.tensor([1, 3, 6])
    excluded = torch.tensor([False, False, True, False, False, True, False])  # items 2 and 5
    kept = torch.tensor([0, 2, 3, 5])                                          # items 1, 3, 4, 6
    expected = F.cross_entropy(logits[:, kept], torch.tensor([0, 1, 3]))
    assert torch.allclose(softmax_loss(logits, target, excluded), expected)
