"""padlib.analysis.eval_mask: the users the two masks tell apart, the repeat targets, and one
checkpoint scored every way (the ways really differ: a repeat target the prefix mask counts as a
miss is ranked under ``ranked``)."""

from __future__ import annotations

import torch

from padlib.analysis.eval_mask import WAYS, differing_users, load_ways, repeat_targets, score_checkpoint
from padlib.data.dataset import EvalSplit
from padlib.models.build import ModelConfig, id_expert
from padlib.models.checkpoint import save_checkpoint
from padlib.models.recommender import SingleExpert
from synthetic import write_training_inputs

PROTOCOL = {"n_buckets": 10, "max_input_length": 3}  # a short window: most users' prefixes hold more


def test_differing_users_and_repeat_targets():
    split = EvalSplit(user_idx=torch.tensor([0, 1, 2]),
                      history=torch.tensor([[0, 1, 2], [0, 3, 4], [0, 5, 6]]),
                      target=torch.tensor([7, 3, 9]),
                      known=torch.tensor([[0, 1, 2], [9, 3, 4], [8, 5, 6]]))
    assert differing_users(split) == 2  # users 1 and 2 know an item outside their window
    assert repeat_targets(split) == 1   # user 1's target 3 is in their prefix


def test_one_checkpoint_scored_every_way(tmp_path):
    n_items = write_training_inputs(tmp_path, PROTOCOL, n_users=40)
    cfg = ModelConfig(dim=16, backbone={"name": "sasrec", "blocks": 1, "heads": 1, "ffn_dim": 16})
    torch.manual_seed(0)
    path = tmp_path / "model.pt"
    save_checkpoint(path, SingleExpert(id_expert(n_items, cfg, 3)), phase="pretrain", n_items=n_items, max_length=3,
                    model_cfg=cfg, extra={})
    data = load_ways(str(tmp_path), PROTOCOL)
    assert [(d.valid.repeat_target, d.valid.known is not None) for d in data.values()] == [
        ("miss", True), ("ranked", True), ("miss", False), ("ranked", False)]
    assert differing_users(data[WAYS[0]].valid) > 0 and repeat_targets(data[WAYS[0]].valid) > 0
    scores = score_checkpoint(str(path), data, None, k=10, batch=64)
    assert set(scores) == {"valid", "test"}
    for split in scores.values():
        by_way = dict(zip(WAYS, split))
        assert all(0 <= s <= 1 for s in split)
        assert by_way[("prefix", "miss")] < by_way[("prefix", "ranked")]
        assert by_way[("window", "miss")] <= by_way[("window", "ranked")]
