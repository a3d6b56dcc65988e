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
from padlib.evaluation.new_items import catalog_with_new_items
from padlib.evaluation.ranking import target_ranks
from padlib.evaluation.stage import evaluate_checkpoint
from padlib.models.build import ModelConfig, id_expert, rebuild
from padlib.models.checkpoint import load_checkpoint
from padlib.models.newitems import NewItemPolicy
from padlib.serving.served import ServedModel
from padlib.models.recommender import SingleExpert
from padlib.training import phases
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


def test_evaluation_scores_held_out_items_as_new_ones(raw, tmp_path):
    """A model trained with held-out items: evaluation replaces their (never trained) rows by the
    new-item rows, the mean row over the trained items only, and reports the new group."""
    result = protocol(raw, 0.2)
    write_dataset(result, {n: str(tmp_path / f"{n}.parquet") for n in ("items", "sequences", "splits")})
    params = {"protocol": {**PROTOCOL, "eval_mask": "prefix", "repeat_target": "miss"},
              "model": {"dim": 16, "backbone": {"name": "sasrec", "blocks": 1, "heads": 2, "ffn_dim": 32},
                        "projection_layers": 1},
              "train": {"batch_size": 16, "lr": 0.01, "max_epochs": 2, "patience": 2, "eval_batch_size": 64,
                        "precision": "fp32"}}
    phases.pretrain(str(tmp_path), str(tmp_path / "model.pt"), params, seed=0, device="cpu")
    data = load_data(tmp_path, params["protocol"])
    model = rebuild(load_checkpoint(tmp_path / "model.pt"))
    model.eval()
    out = data.held_out.nonzero().flatten()
    table = model.expert.items.table.weight.detach()
    for id_row, row in (("zero", torch.zeros(16)), ("mean", table[1:][~data.held_out[1:]].mean(0))):
        catalog = catalog_with_new_items(model, data.held_out, NewItemPolicy(id_row=id_row))
        assert torch.allclose(catalog.matrix[out], row.expand(len(out), -1), atol=1e-6), id_row
        kept = ~data.held_out
        assert torch.equal(catalog.matrix[kept], model.catalog().matrix[kept])
    assert torch.equal(catalog_with_new_items(model, torch.zeros_like(data.held_out), NewItemPolicy()).matrix,
                       model.catalog().matrix)
    evaluate = {"k": 10, "batch_size": 64, "new_items": {"id_row": "mean"}}
    metrics = evaluate_checkpoint(str(tmp_path), str(tmp_path / "model.pt"), None, str(tmp_path / "metrics.json"),
                                  str(tmp_path / "ranks.parquet"), {"protocol": params["protocol"],
                                                                    "evaluate": evaluate}, device="cpu")
    ranks = pl.read_parquet(tmp_path / "ranks.parquet")
    flags = data.unseen.numpy()[ranks["target"].to_numpy()]
    assert ranks["new"].to_list() == flags.tolist() and flags.any()
    assert metrics["test"]["groups"]["new"]["users"] == int(flags.sum())
    test = data.test
    scored = {name: target_ranks(model, test.history, test.target, data.n_items, 64, known=test.known, catalog=c)
              for name, c in (("new", catalog), ("raw", None))}
    assert np.array_equal(ranks["rank"].to_numpy(), scored["new"])       # the stage ranked with the new rows
    held = data.held_out.numpy()[test.target.numpy()]
    assert not np.array_equal(scored["new"][held], scored["raw"][held])  # which the untrained rows are not
    served = ServedModel.load(tmp_path / "model.pt", tmp_path, None)      # serves what was evaluated (mean)
    assert served.policy.id_row == "mean"
    assert torch.allclose(served.catalog.scores.T[:data.n_items + 1], catalog.matrix)
