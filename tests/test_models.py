import math
from pathlib import Path

import torch
import yaml

from padlib.models.build import ModelConfig, pad_model
from padlib.models.recommender import FrequencyGate, softmax_logits
from padlib.models.sasrec import SASRec, SASRecConfig
from padlib.training.sampling import sample_negatives

CFG = ModelConfig(dim=16, backbone={"name": "sasrec", "blocks": 1, "heads": 2, "ffn_dim": 32, "dropout": 0.0},
                  projection_layers=1, projection_dropout=0.0, fusion_dropout=0.0)
INIT = {"id": [1.0, 0.0], "aligned": [-4.0, -5.0], "text": [0.0, 1.0]}


def tiny_pad(n_items=12, n_buckets=4, experts=("id", "aligned", "text"), gate="frequency"):
    torch.manual_seed(0)
    text = torch.randn(n_items + 1, 24)
    buckets = torch.randint(1, n_buckets + 1, (n_items + 1,))
    buckets[0] = 0
    return pad_model(n_items, text, buckets, n_buckets, CFG, 5, INIT, experts, gate=gate, gate_hidden=8).eval()


def per_expert_logits(model, history, candidates):
    return torch.stack([(e.user_states(history).unsqueeze(2) * e.item_vectors(candidates)).sum(-1)
                        for e in model.experts.values()])


def official_gate_weights(alphas: list[list[float]]) -> torch.Tensor:
    """w_k(b) = σ(α_k[b]) / Σ_j σ(α_j[b]), written out with ``math`` (no padlib, no torch ops)."""
    sig = [[1.0 / (1.0 + math.exp(-a)) for a in row] for row in alphas]
    return torch.tensor([[s[b] / sum(other[b] for other in sig) for b in range(len(s))] for s in sig])


def test_gate_weights_sum_to_one_and_follow_official_init():
    gate = FrequencyGate(10, [tuple(INIT[k]) for k in ("id", "aligned", "text")])
    weights = gate(torch.arange(11))
    assert weights.shape == (3, 11)
    assert torch.allclose(weights.sum(0), torch.ones(11))
    # warm buckets lean on the ID expert, cold buckets on the text expert
    assert weights[0, 1] > weights[2, 1] and weights[2, 10] > weights[0, 10]
    # the official values: α = linspace(1, 0, 11), linspace(-4, -5, 11), linspace(0, 1, 11)
    assert yaml.safe_load((Path(__file__).parents[1] / "config.yaml").read_text())["finetune"]["gate_init"] == INIT
    alphas = [[1 - b / 10 for b in range(11)], [-4 - b / 10 for b in range(11)], [b / 10 for b in range(11)]]
    assert torch.allclose(weights, official_gate_weights(alphas), rtol=0, atol=1e-6)
    assert torch.allclose(weights[:, 0], torch.tensor([0.58529, 0.01440, 0.40031]), rtol=0, atol=1e-5)
    shared = FrequencyGate(10, [tuple(INIT[k]) for k in ("id", "aligned", "text")], shared=True)
    w = shared(torch.arange(11))
    assert torch.allclose(w[:, 0], w[:, 7]) and torch.allclose(w.sum(0), torch.ones(11))
    # one α per expert, the mean of its official vector
    assert torch.allclose(w, official_gate_weights([[0.5] * 11, [-4.5] * 11, [0.5] * 11]), rtol=0, atol=1e-6)


def test_expert_logit_shapes_and_gated_mixture():
    model = tiny_pad()
    history = torch.tensor([[0, 0, 1, 2, 3], [4, 5, 6, 7, 8]])
    candidates = torch.randint(1, 13, (2, 5, 2))
    per_expert = per_expert_logits(model, history, candidates)
    assert per_expert.shape == (3, 2, 5, 2)
    mixed = model.position_logits(history, candidates)
    weights = model.gate(model.item_buckets[candidates])
    assert torch.allclose(mixed, (weights * per_expert).sum(0), atol=1e-6)
    catalog = model.catalog_logits(history, torch.arange(13))
    assert catalog.shape == (2, 13)
    last = model.position_logits(history, candidates[:, -1:, :].expand(-1, 5, -1))[:, -1]
    assert torch.allclose(catalog.gather(1, candidates[:, -1, :]), last, atol=1e-5)


def test_sasrec_is_causal_and_ignores_padding():
    torch.manual_seed(0)
    net = SASRec(SASRecConfig(dim=16, blocks=2, heads=2, ffn_dim=32, dropout=0.0, max_length=4)).eval()
    x = torch.randn(1, 4, 16)
    valid = torch.tensor([[False, True, True, True]])
    out = net(x, valid)
    x2 = x.clone()
    x2[0, 3] += torch.randn(16)       # a later item must not change earlier positions
    x2[0, 0] += 5 * torch.randn(16)   # a padded slot must change nothing
    out2 = net(x2, valid)
    assert torch.allclose(out[0, :3], out2[0, :3], atol=1e-6)
    assert not torch.allclose(out[0, 3], out2[0, 3])


def test_negatives_avoid_the_users_items():
    seen = torch.tensor([[1, 2, 3, 4, 5, 6, 7, 8, 0], [9, 0, 0, 0, 0, 0, 0, 0, 0]])
    negs = sample_negatives(seen, (2, 50), n_items=10, generator=torch.Generator().manual_seed(0))
    assert set(negs[0].tolist()) <= {9, 10}
    assert 9 not in negs[1].tolist() and negs.min() >= 1 and negs.max() <= 10


def test_gate_network_starts_as_the_frequency_gate_then_reads_the_item_vectors():
    history = torch.tensor([[0, 0, 1, 2, 3], [4, 5, 6, 7, 8]])
    candidates = torch.randint(1, 13, (2, 5, 2))
    frequency, network = tiny_pad(), tiny_pad(gate="network")
    assert torch.allclose(frequency.position_logits(history, candidates),
                          network.position_logits(history, candidates), atol=1e-6)
    with torch.no_grad():
        for net in network.gate.nets:
            net[-1].weight.normal_()
    vectors = [e.item_vectors(candidates) for e in network.experts.values()]
    weights = network.gate(network.item_buckets[candidates], vectors)
    assert torch.allclose(weights.sum(0), torch.ones_like(weights[0]))
    assert not torch.allclose(weights, frequency.gate(frequency.item_buckets[candidates]), atol=1e-3)
    mixed = network.position_logits(history, candidates)
    assert torch.allclose(mixed, (weights * per_expert_logits(network, history, candidates)).sum(0), atol=1e-5)
    # full-catalogue scoring gates each item the same way as a sampled candidate
    catalog = network.catalog_logits(history, torch.arange(13))
    last = network.position_logits(history, candidates[:, -1:, :].expand(-1, 5, -1))[:, -1]
    assert torch.allclose(catalog.gather(1, candidates[:, -1, :]), last, atol=1e-5)
    last_position = torch.zeros_like(history, dtype=torch.bool)
    last_position[:, -1] = True
    every = softmax_logits(network, history, last_position)
    assert torch.allclose(every, catalog[:, 1:], atol=1e-5)
    mixed.sum().backward()
    assert all(net[0].weight.grad is not None and net[0].weight.grad.abs().sum() > 0 for net in network.gate.nets)
