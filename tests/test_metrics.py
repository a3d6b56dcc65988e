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


def test_ranks_mask_history_but_not_the_target():
    # items 1..5 scored 5 > 4 > 3 > 2 > 1; index 0 is padding and must never count
    model = FixedScores([100.0, 5.0, 4.0, 3.0, 2.0, 1.0])
    history = torch.tensor([[0, 0], [1, 2], [0, 4]])
    target = torch.tensor([3, 3, 4])
    ranks = target_ranks(model, history, target, n_items=5, batch_size=2, chunk_size=2)
    # user 0: items 1, 2 beat item 3 -> rank 2; user 1: 1 and 2 masked -> rank 0;
    # user 2: target 4 is in the history but is the target: 1, 2, 3 beat it -> rank 3
    assert ranks.tolist() == [2, 0, 3]


def test_top_k_excludes_history_and_padding_across_chunks():
    model = FixedScores([100.0, 5.0, 4.0, 3.0, 2.0, 1.0])
    items, scores = top_k(model, torch.tensor([[0, 1], [3, 2]]), n_items=5, k=3, chunk_size=2)
    assert items.tolist() == [[2, 3, 4], [1, 4, 5]]
    assert scores[0].tolist() == [4.0, 3.0, 2.0]


def test_summarize_groups_and_buckets():
    ranks = np.array([0, 20, 3, 0])
    buckets = np.array([1, 2, 9, 10])
    out = summarize(ranks, buckets, n_buckets=10, k=10)
    assert out["overall"]["hr@10"] == pytest.approx(0.75)
    assert out["groups"]["warm"] == {"users": 2, "hr@10": 0.5, "ndcg@10": 0.5}
    assert out["groups"]["median"]["users"] == 0 and out["groups"]["median"]["hr@10"] is None
    assert out["groups"]["cold"]["ndcg@10"] == pytest.approx((1 / math.log2(5) + 1.0) / 2)
    assert out["buckets"]["9"]["users"] == 1
