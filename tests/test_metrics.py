import math

import numpy as np
import pytest
import torch
from torch import nn

from padlib.evaluation.metrics import hit_rate, ndcg, summarize
from padlib.evaluation.ranking import target_ranks, top_k
from padlib.models.recommender import Catalog


class FixedScores(nn.Module):
    """Every user gets the same catalogue scores: score(item) = scores[item]."""

    def __init__(self, scores: list[float]) -> None:
        super().__init__()
        self.scores = torch.tensor(scores)

    def catalog(self) -> Catalog:
        return Catalog([], self.scores.unsqueeze(-1))

    def users(self, history: torch.Tensor, catalog: Catalog) -> torch.Tensor:
        return torch.ones(history.shape[0], 1)


def test_hr_and_ndcg_hand_computed():
    ranks = np.array([0, 1, 9, 10, 50])
    assert hit_rate(ranks, 10).tolist() == [1, 1, 1, 0, 0]
    assert ndcg(ranks, 10).tolist() == pytest.approx([1.0, 1 / math.log2(3), 1 / math.log2(11), 0.0, 0.0])


def test_ranks_mask_history_and_a_repeat_target_is_a_miss_unless_ranked():
    # items 1..5 scored 5 > 4 > 3 > 2 > 1; index 0 is padding and must never count
    model = FixedScores([100.0, 5.0, 4.0, 3.0, 2.0, 1.0])
    history = torch.tensor([[0, 0], [1, 2], [0, 4]])
    target = torch.tensor([3, 3, 4])
    ranks = target_ranks(model, history, target, n_items=5, batch_size=2, chunk_size=2)
    # user 0: items 1, 2 beat item 3 -> rank 2; user 1: 1 and 2 masked -> rank 0;
    # user 2: target 4 is in the history, left out like every known item -> a miss (rank 5)
    assert ranks.tolist() == [2, 0, 5]
    # ranked: the repeat competes with the items not left out: 1, 2, 3 beat it -> rank 3
    ranks = target_ranks(model, history, target, n_items=5, batch_size=2, chunk_size=2, repeat_target="ranked")
    assert ranks.tolist() == [2, 0, 3]


def test_top_k_excludes_history_and_padding_across_chunks():
    model = FixedScores([100.0, 5.0, 4.0, 3.0, 2.0, 1.0])
    items, scores = top_k(model, torch.tensor([[0, 1], [3, 2]]), n_items=5, k=3, chunk_size=2)
    assert items.tolist() == [[2, 3, 4], [1, 4, 5]]
    assert scores[0].tolist() == [4.0, 3.0, 2.0]


def test_ranks_equal_a_brute_force_count_across_chunks_with_repeated_known_items():
    from padlib.models.build import ModelConfig, id_expert
    from padlib.models.recommender import SingleExpert

    torch.manual_seed(1)
    n_items, users = 50, 64
    model = SingleExpert(id_expert(n_items, ModelConfig(dim=8, backbone={"name": "sasrec", "blocks": 1, "heads": 1}), 6))
    history = torch.randint(1, 8, (users, 6))           # small ids: duplicates and repeat targets
    history[: users // 2, :2] = 0                        # left padding
    known = torch.cat([torch.randint(0, n_items + 1, (users, 3)), history], 1)
    target = torch.randint(1, 10, (users,))
    model.eval()
    with torch.no_grad():
        catalog = model.catalog()
        scores = model.users(history, catalog) @ catalog.matrix.T   # [U, N + 1], no ties (continuous)
    for seen, arg in ((history, None), (known, known)):
        for rule in ("ranked", "miss"):
            ranks = target_ranks(model, history, target, n_items, batch_size=16, chunk_size=7, known=arg,
                                 repeat_target=rule)
            for u in range(users):
                skip = set(seen[u].tolist()) | {0, int(target[u])}
                expected = sum(1 for j in range(n_items + 1) if j not in skip and scores[u, j] > scores[u, target[u]])
                if rule == "miss" and int(target[u]) in set(seen[u].tolist()):
                    expected = n_items
                assert ranks[u] == expected, (u, rule)


def test_the_serving_layout_ranks_as_the_training_layout():
    from padlib.models.build import ModelConfig, id_expert
    from padlib.models.recommender import SingleExpert

    torch.manual_seed(0)
    model = SingleExpert(id_expert(300, ModelConfig(dim=8, backbone={"name": "sasrec", "blocks": 1, "heads": 1}), 5))
    history = torch.randint(0, 301, (7, 5))
    catalog = model.catalog()
    for users, chunk in ((slice(0, 1), None), (slice(0, 7), 64)):
        rows = top_k(model, history[users], 300, k=10, chunk_size=chunk, catalog=catalog)
        columns = top_k(model, history[users], 300, k=10, chunk_size=chunk, catalog=catalog.for_serving())
        assert (rows[0] == columns[0]).all()
        assert np.allclose(rows[1], columns[1], rtol=1e-5)


def test_summarize_groups_and_buckets():
    ranks = np.array([0, 20, 3, 0])
    buckets = np.array([1, 2, 9, 10])
    out = summarize(ranks, buckets, n_buckets=10, k=10)
    assert out["overall"]["hr@10"] == pytest.approx(0.75)
    assert out["groups"]["warm"] == {"users": 2, "hr@10": 0.5, "ndcg@10": 0.5}
    assert out["groups"]["median"]["users"] == 0 and out["groups"]["median"]["hr@10"] is None
    assert out["groups"]["cold"]["ndcg@10"] == pytest.approx((1 / math.log2(5) + 1.0) / 2)
    assert out["buckets"]["9"]["users"] == 1
    assert "new" not in out["groups"]
    new = summarize(ranks, buckets, n_buckets=10, k=10, target_new=np.array([False, False, True, False]))
    assert new["groups"]["new"] == {"users": 1, "hr@10": 1.0, "ndcg@10": pytest.approx(1 / math.log2(5))}
    assert new["groups"]["cold"] == out["groups"]["cold"]  # new targets stay in their bucket's group too


def test_ties_count_against_the_target():
    # every item scores the same: the target's rank is uniform over the eligible items, so
    # HR@10 is chance level (10 / N), never the 1.0 that counting only strictly-higher items gives
    n_items, users = 200, 4000
    model = FixedScores([0.0] * (n_items + 1))
    history = torch.zeros(users, 3, dtype=torch.long)
    target = torch.randint(1, n_items + 1, (users,), generator=torch.Generator().manual_seed(0))
    ranks = target_ranks(model, history, target, n_items, batch_size=512, chunk_size=64)
    assert ranks.min() >= 0 and ranks.max() <= n_items - 1
    assert hit_rate(ranks, 10).mean() == pytest.approx(10 / n_items, abs=0.01)
    assert ranks.mean() == pytest.approx((n_items - 1) / 2, rel=0.05)
    # deterministic, and the same whatever the batch and chunk sizes
    again = target_ranks(model, history, target, n_items, batch_size=97, chunk_size=200)
    assert np.array_equal(ranks, again)


def test_a_tie_with_one_item_is_a_coin_flip():
    # items 1 and 2 tie at the top: the target (item 1) is ranked 0 or 1, each about half the time
    model = FixedScores([0.0, 5.0, 5.0, 1.0])
    users = 2000
    ranks = target_ranks(model, torch.zeros(users, 1, dtype=torch.long), torch.ones(users, dtype=torch.long), 3)
    assert set(ranks.tolist()) == {0, 1}
    assert ranks.mean() == pytest.approx(0.5, abs=0.05)


@pytest.mark.parametrize("bad", [math.nan, math.inf])
def test_non_finite_scores_raise_naming_the_model(bad):
    from padlib.errors import NumericalError

    model = FixedScores([0.0, 1.0, bad, 3.0])
    with pytest.raises(NumericalError, match="ckpt/model.pt: item vectors are not finite"):
        target_ranks(model, torch.zeros(2, 1, dtype=torch.long), torch.tensor([1, 3]), 3, source="ckpt/model.pt")
    with pytest.raises(NumericalError, match="ckpt/model.pt"):
        top_k(model, torch.zeros(2, 1, dtype=torch.long), 3, k=2, source="ckpt/model.pt")


def test_a_model_with_nan_weights_raises_instead_of_scoring_perfectly():
    from padlib.errors import NumericalError
    from padlib.models.build import ModelConfig, id_expert
    from padlib.models.recommender import SingleExpert

    model = SingleExpert(id_expert(20, ModelConfig(dim=8, backbone={"name": "sasrec", "blocks": 1, "heads": 1}), 5))
    with torch.no_grad():
        for p in model.parameters():
            p.fill_(math.nan)
    history, target = torch.randint(0, 21, (6, 5)), torch.randint(1, 21, (6,))
    with pytest.raises(NumericalError, match="run/model.pt"):
        target_ranks(model, history, target, 20, source="run/model.pt")
