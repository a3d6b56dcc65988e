"""PAD's diagnostics: each expert alone, the gate per bucket, and the gate prior alone."""

import numpy as np
import torch

from padlib.evaluation.diagnostics import ScaledCatalog, gate_weights, initial_gate_weights, mixture_diagnostics
from padlib.evaluation.metrics import summarize
from padlib.evaluation.ranking import target_ranks
from padlib.models.build import ModelConfig, id_expert, pad_model
from padlib.models.recommender import SingleExpert
from test_backbones import tiny_data
from test_metrics import FixedScores

CFG = ModelConfig(dim=8, backbone={"name": "sasrec", "blocks": 1, "heads": 2, "ffn_dim": 16}, projection_layers=1)
INIT = {"id": [1.0, 0.0], "aligned": [-4.0, -5.0], "text": [0.0, 1.0]}


def test_the_gate_prior_scales_each_item_by_its_initial_id_weight():
    # item 1 (cold, weight 0.1) outscores item 2 (warm, weight 1.0) by 2 : 1 before the tilt, not after
    model = FixedScores([0.0, 2.0, 1.0])
    history, target = torch.zeros(1, 1, dtype=torch.long), torch.tensor([2])
    assert target_ranks(model, history, target, 2).tolist() == [1]
    assert target_ranks(ScaledCatalog(model, torch.tensor([1.0, 0.1, 1.0])), history, target, 2).tolist() == [0]


def test_diagnostics_of_a_mixture():
    torch.manual_seed(0)
    data = tiny_data()
    text = torch.randn(data.n_items + 1, 12)
    model = pad_model(data.n_items, text, data.item_buckets, data.n_buckets, CFG, data.max_input_length, INIT).eval()
    with torch.no_grad():
        model.gate.alpha.add_(torch.randn_like(model.gate.alpha))   # a "learned" gate
    phase1 = SingleExpert(id_expert(data.n_items, CFG, data.max_input_length)).eval()
    out = mixture_diagnostics(model, INIT, data.test, data.n_items, data.n_buckets, 10, 32, "cpu", "pad.pt", phase1)
    buckets = data.item_buckets[data.test.target].numpy()
    for name, expert in model.experts.items():
        ranks = target_ranks(SingleExpert(expert), data.test.history, data.test.target, data.n_items)
        assert out["experts"][name] == summarize(ranks, buckets, data.n_buckets, 10)
    # the frequency gate: the bucket's weight, the same for every item of the bucket
    with torch.no_grad():
        expected = model.gate(torch.arange(data.n_buckets + 1))
    assert np.allclose(out["gate"]["learned"]["text"], expected[2, 1:].numpy(), atol=1e-6)
    assert np.allclose(sum(np.array(w) for w in out["gate"]["learned"].values()), 1.0)
    initial = initial_gate_weights(["id", "aligned", "text"], INIT, data.n_buckets)
    assert out["gate"]["initial"]["id"] == initial[0, 1:].tolist()
    assert out["gate"]["initial"]["id"][0] > out["gate"]["initial"]["id"][-1]   # ID weighted toward warm items
    weight = initial[0][data.item_buckets]
    prior = target_ranks(ScaledCatalog(phase1, weight), data.test.history, data.test.target, data.n_items)
    assert out["gate_prior"] == summarize(prior, buckets, data.n_buckets, 10)
    assert gate_weights(model).shape == (3, data.n_buckets + 1)


def test_diagnostics_score_held_out_items_as_new_ones_and_report_the_new_group():
    """Each expert alone and the gate prior rank held-out items with their new-item rows, as the
    mixture's evaluation does, not with the random rows training never reached."""
    from padlib.evaluation.new_items import catalog_with_new_items
    from padlib.models.newitems import NewItemPolicy

    torch.manual_seed(1)
    data = tiny_data()
    text = torch.randn(data.n_items + 1, 12)
    model = pad_model(data.n_items, text, data.item_buckets, data.n_buckets, CFG, data.max_input_length, INIT).eval()
    phase1 = SingleExpert(id_expert(data.n_items, CFG, data.max_input_length)).eval()
    held_out = torch.zeros(data.n_items + 1, dtype=torch.bool)
    held_out[data.test.target[:3]] = True          # three test targets: held out, so new
    policy = NewItemPolicy()
    out = mixture_diagnostics(model, INIT, data.test, data.n_items, data.n_buckets, 10, 32, "cpu", "pad.pt", phase1,
                              held_out, policy, held_out)
    buckets = data.item_buckets[data.test.target].numpy()
    new = held_out[data.test.target].numpy()
    for name, expert in model.experts.items():
        scorer = SingleExpert(expert)
        catalog = catalog_with_new_items(scorer, held_out, policy)
        ranks = target_ranks(scorer, data.test.history, data.test.target, data.n_items, catalog=catalog)
        assert out["experts"][name] == summarize(ranks, buckets, data.n_buckets, 10, new)
        plain = target_ranks(scorer, data.test.history, data.test.target, data.n_items)
        if name == "id":  # the zero row moves the held-out targets: the test can tell the catalogues apart
            assert not np.array_equal(ranks[new], plain[new])
    assert out["experts"]["id"]["groups"]["new"]["users"] == int(new.sum())
    scale = ScaledCatalog(phase1, initial_gate_weights(["id", "aligned", "text"], INIT, data.n_buckets)[0][data.item_buckets])
    prior = target_ranks(scale, data.test.history, data.test.target, data.n_items,
                         catalog=scale.scaled(catalog_with_new_items(phase1, held_out, policy)))
    assert out["gate_prior"] == summarize(prior, buckets, data.n_buckets, 10, new)
