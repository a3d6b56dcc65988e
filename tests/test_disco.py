"""DisCo-style baseline: the item split, its losses, and a tiny end-to-end run on synthetic data."""

import json

import pytest
import torch
from checks import assert_learned, assert_reproduces_validation
from synthetic import write_training_inputs

from padlib.data.dataset import load_data
from padlib.errors import ConfigError
from padlib.io import manifest_path
from padlib.losses.disco import decorrelation
from padlib.models.build import ModelConfig, disco_expert
from padlib.models.checkpoint import load_checkpoint
from padlib.models.disco import PART_NAMES, DisCoItems, part_slices
from padlib.models.recommender import SingleExpert
from padlib.text.store import load_text
from padlib.training.disco import disco, disco_loss
from padlib.training.loop import Batch, recommendation_loss

PROTOCOL = {"min_rating": 4, "min_user_interactions": 5, "max_sequence_length": 10, "max_input_length": 6,
            "n_buckets": 10}
MODEL = {"dim": 16, "backbone": {"name": "sasrec", "blocks": 1, "heads": 2, "ffn_dim": 32, "dropout": 0.1},
         "projection_layers": 1}
LOSS = {"sufficiency_weight": 1.0, "alignment_weight": 0.1, "decorrelation_weight": 0.1, "temperature": 0.1}
N_ITEMS, TEXT_DIM, LENGTH = 12, 6, 5


def tiny_model(dim: int = 16) -> SingleExpert:
    torch.manual_seed(0)
    text = torch.cat([torch.zeros(1, TEXT_DIM), torch.randn(N_ITEMS, TEXT_DIM)])
    return SingleExpert(disco_expert(N_ITEMS, text, ModelConfig.from_dict({**MODEL, "dim": dim}), LENGTH))


def tiny_batch(negatives: bool = True) -> Batch:
    gen = torch.Generator().manual_seed(1)
    history = torch.randint(1, N_ITEMS + 1, (4, LENGTH), generator=gen)
    history[0, :2] = 0
    target = torch.randint(1, N_ITEMS + 1, (4, LENGTH), generator=gen)
    target[0, :2] = 0
    neg = torch.randint(1, N_ITEMS + 1, (4, LENGTH), generator=gen) if negatives else None
    seen = torch.unique(torch.cat([history.flatten(), target.flatten()] + ([neg.flatten()] if negatives else [])))
    return Batch(history, target, neg, seen[seen != 0])


def test_parts_and_item_vectors_have_the_documented_sizes_and_zero_padding():
    items: DisCoItems = tiny_model().expert.items
    assert items.n_items == N_ITEMS
    assert items.ids.table.embedding_dim == 12  # d_s + d_p
    idx = torch.tensor([[0, 3, 7], [1, 0, 12]])
    parts = items.parts(idx)
    assert set(parts) == set(PART_NAMES)
    for name, size in {"shared_id": 8, "shared_text": 8, "specific_id": 4, "specific_text": 4}.items():
        assert parts[name].shape == (2, 3, size)
        assert torch.all(parts[name][idx == 0] == 0)
    vectors = items(idx)
    assert vectors.shape == (2, 3, 16)
    assert torch.all(vectors[idx == 0] == 0) and torch.all(vectors[idx != 0].abs().sum(-1) > 0)


def test_item_vector_is_the_averaged_shared_part_then_both_specific_parts():
    items = tiny_model().expert.items.eval()
    idx = torch.arange(N_ITEMS + 1)
    ids, text = items.ids(idx), items.text(idx)
    expected = torch.cat([(ids[:, :8] + text[:, :8]) / 2, ids[:, 8:], text[:, 8:]], dim=-1)
    assert torch.allclose(items(idx), expected)


def test_part_logits_add_up_to_the_full_logit():
    items = tiny_model().expert.items.eval()
    slices = part_slices(16)
    assert slices == items.part_slices
    assert sorted((s.start, s.stop) for n, s in slices.items() if n != "shared_text") == [(0, 8), (8, 12), (12, 16)]
    idx = torch.arange(1, N_ITEMS + 1)
    users = torch.randn(N_ITEMS, 16)
    parts = items.parts(idx)
    logit = {name: (users[:, slices[name]] * parts[name]).sum(-1) for name in PART_NAMES}
    recombined = 0.5 * (logit["shared_id"] + logit["shared_text"]) + logit["specific_id"] + logit["specific_text"]
    assert torch.allclose(recombined, (users * items(idx)).sum(-1), atol=1e-5)


def test_decorrelation_separates_independent_from_identical_columns_and_ignores_scale():
    gen = torch.Generator().manual_seed(0)
    a, b = torch.randn(4000, 6, generator=gen), torch.randn(4000, 5, generator=gen)
    assert decorrelation(a, b) < 5e-3  # E[C²] ≈ 1/n for independent columns
    assert decorrelation(a, a) > 0.9 / 6  # the diagonal alone gives p·1 / p² = 1/p
    mixed = a[:, :5] + 0.5 * b
    assert decorrelation(a, mixed) > 0.05
    scaled = decorrelation(3.0 * a + 1.0, -0.25 * mixed + 2.0)
    assert torch.allclose(scaled, decorrelation(a, mixed), atol=1e-5)


def test_decorrelation_degenerate_inputs_give_finite_values():
    assert decorrelation(torch.randn(1, 3), torch.randn(1, 2)) == 0
    constant = torch.cat([torch.ones(10, 1), torch.randn(10, 2)], dim=1)
    assert torch.isfinite(decorrelation(constant, torch.randn(10, 2)))


def test_disco_loss_trains_id_table_text_projection_and_backbone():
    model = tiny_model().train()
    loss = disco_loss(LOSS)(model, tiny_batch())
    loss.backward()
    items, backbone = model.expert.items, model.expert.backbone
    assert items.ids.table.weight.grad.abs().sum() > 0
    assert items.text.proj[0].weight.grad.abs().sum() > 0
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in backbone.blocks[0].qkv.parameters())


def test_disco_loss_without_extra_terms_is_the_loops_bce():
    model = tiny_model().eval()
    batch = tiny_batch()
    zero = {**LOSS, "sufficiency_weight": 0.0, "alignment_weight": 0.0, "decorrelation_weight": 0.0}
    with torch.no_grad():
        bce = recommendation_loss(model, batch.history, batch.target, batch.negatives)
        assert torch.allclose(disco_loss(zero)(model, batch), bce)
        assert disco_loss(LOSS)(model, batch) > bce


def test_dim_not_divisible_by_four_is_a_config_error():
    with pytest.raises(ConfigError, match="model.dim"):
        tiny_model(dim=18)


def test_softmax_training_and_incomplete_config_are_config_errors(tmp_path):
    model = tiny_model()
    with pytest.raises(ConfigError, match="train.loss: bce"):
        disco_loss(LOSS)(model, tiny_batch(negatives=False))
    softmax = params()
    softmax["train"] = {**softmax["train"], "loss": "softmax"}
    with pytest.raises(ConfigError, match="train.loss"):
        disco(str(tmp_path), str(tmp_path / "text.parquet"), str(tmp_path / "x.pt"), softmax, 0, device="cpu")
    with pytest.raises(ConfigError, match="disco.temperature"):
        disco_loss({k: v for k, v in LOSS.items() if k != "temperature"})


def params(**extra):
    base = {"protocol": PROTOCOL, "model": MODEL, "disco": LOSS,
            "train": {"batch_size": 16, "lr": 0.005, "weight_decay": 0.1, "max_epochs": 4, "patience": 4,
                      "eval_batch_size": 64, "precision": "fp32"}}
    base.update(extra)
    return base


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("disco")
    write_training_inputs(root, PROTOCOL, n_users=40)
    return root


def test_disco_end_to_end_writes_a_checkpoint_that_scores_like_any_single_expert(files):
    out = files / "disco.pt"
    result = disco(str(files), str(files / "text.parquet"), str(out), params(), 0, device="cpu")
    checkpoint = load_checkpoint(out)
    assert checkpoint["phase"] == "disco" and checkpoint["fit"]["best_valid_ndcg"] == result.best_valid_ndcg
    assert_learned(checkpoint["fit"], max_epochs=4)
    assert {"expert.items.ids.table.weight", "expert.items.text.proj.0.weight"} <= set(checkpoint["state_dict"])
    assert json.loads(manifest_path(out).read_text())["config"]["disco"] == LOSS
    data = load_data(files, PROTOCOL)
    text = load_text(files / "text.parquet", data.n_items, checkpoint["model"]["text_norm"])
    model = SingleExpert(disco_expert(checkpoint["n_items"], text, ModelConfig.from_dict(checkpoint["model"]),
                                      checkpoint["max_length"]))
    model.load_state_dict(checkpoint["state_dict"])
    assert_reproduces_validation(model, data, checkpoint["fit"], batch_size=params()["train"]["eval_batch_size"])


def test_disco_rejects_a_bad_dim_before_reading_data(tmp_path):
    with pytest.raises(ConfigError, match="model.dim"):
        disco(str(tmp_path), str(tmp_path / "text.parquet"), str(tmp_path / "x.pt"),
              params(model={**MODEL, "dim": 18}), 0, device="cpu")
