import pytest
import torch
from checks import random_ranking_ndcg
from synthetic import write_synthetic

from padlib.data.dataset import SequenceData
from padlib.data.protocol import ProtocolConfig, apply_protocol
from padlib.data.stage import write_dataset
from padlib.data.tables import read_interactions, read_items
from padlib.models.build import ModelConfig, id_expert
from padlib.models.recommender import SingleExpert
from padlib.seed import set_seed
from padlib.training.loop import TrainConfig, fit, validation_ndcg

MODEL = ModelConfig(dim=16, backbone={"name": "sasrec", "blocks": 1, "heads": 2, "ffn_dim": 32, "dropout": 0.1})


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("train")
    interactions, items = write_synthetic(root, n_users=80)
    result = apply_protocol(read_interactions(interactions), read_items(items),
                            ProtocolConfig(max_sequence_length=10, max_input_length=6))
    write_dataset(result, {n: str(root / f"{n}.parquet") for n in ("items", "sequences", "splits")})
    return SequenceData.load(root, n_buckets=10, max_input_length=6)


def train(data, seed, epochs=6):
    set_seed(seed)
    model = SingleExpert(id_expert(data.n_items, MODEL, data.max_input_length))
    cfg = TrainConfig(batch_size=16, lr=0.01, max_epochs=epochs, patience=epochs, eval_batch_size=64)
    return model, fit(model, data, cfg, seed, torch.device("cpu"), desc="test")


def test_same_seed_same_result_and_other_seed_differs(data):
    _, first = train(data, seed=3)
    _, again = train(data, seed=3)
    _, other = train(data, seed=4)
    assert [h["loss"] for h in first.history] == [h["loss"] for h in again.history]
    assert [h["valid_ndcg"] for h in first.history] == [h["valid_ndcg"] for h in again.history]
    assert [h["loss"] for h in first.history] != [h["loss"] for h in other.history]


def test_training_learns_and_keeps_the_best_validation_weights(data):
    model, result = train(data, seed=0, epochs=16)
    losses = [h["loss"] for h in result.history[1:]]
    assert losses[-1] < losses[0]
    best = max(result.history, key=lambda h: h["valid_ndcg"])
    assert result.best_epoch == best["epoch"] and result.best_valid_ndcg == best["valid_ndcg"]
    # the model returned holds the best epoch's weights: re-validating gives the best score
    score = validation_ndcg(model, data.valid, data, TrainConfig(eval_batch_size=64), torch.device("cpu"))
    assert score == pytest.approx(result.best_valid_ndcg)
    # the structured data is learnable: clearly better than a uniformly random ranking of each user's
    # candidates (the items not left out); a repeat target is a miss either way
    assert result.best_valid_ndcg > 1.5 * random_ranking_ndcg(data.valid, data.n_items)


@pytest.mark.parametrize("validate_untrained", [True, False])
def test_the_untrained_start_is_a_candidate_only_when_asked(data, validate_untrained):
    """With a learning rate too small to change any ranking, every epoch ties the untrained start:
    padlib's default keeps epoch 0 (it is validated first), the official selection (from epoch 1,
    ``max_eval_value = 0``) keeps epoch 1 and never validates the start."""
    set_seed(0)
    model = SingleExpert(id_expert(data.n_items, MODEL, data.max_input_length))
    cfg = TrainConfig(batch_size=16, lr=1e-12, max_epochs=3, patience=2, eval_batch_size=64,
                      validate_untrained=validate_untrained)
    result = fit(model, data, cfg, 0, torch.device("cpu"), desc="test")
    scores = [h["valid_ndcg"] for h in result.history]
    assert len(set(scores[1:])) == 1
    if validate_untrained:
        assert scores[0] == scores[1] and result.best_epoch == 0 and result.epochs_run == 2
    else:
        assert scores[0] is None and result.best_epoch == 1 and result.epochs_run == 3


def test_hr_selection_picks_the_best_hr_epoch_and_reports_its_ndcg(data):
    """``select_metric: hr`` (the official code's early stop on HR@10): the kept epoch is the first
    best validation HR@10, and the fit reports that epoch's nDCG@10."""
    set_seed(0)
    model = SingleExpert(id_expert(data.n_items, MODEL, data.max_input_length))
    cfg = TrainConfig(batch_size=16, lr=0.01, max_epochs=8, patience=8, eval_batch_size=64, select_metric="hr")
    result = fit(model, data, cfg, 0, torch.device("cpu"), desc="test")
    hrs = [h["valid_hr"] for h in result.history]
    assert result.best_epoch == hrs.index(max(hrs))
    assert result.best_valid_ndcg == result.history[result.best_epoch]["valid_ndcg"]
    assert all(0 <= h["valid_ndcg"] <= h["valid_hr"] <= 1 for h in result.history)  # nDCG@k ≤ HR@k per epoch
