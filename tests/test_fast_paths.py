"""The speed paths compute the same model: prepared catalogue scoring, last-position SASRec,
per-distinct-item text encoding, the cheaper dropout mask, bf16 autocast and sparse validation."""

import pytest
import torch

from padlib.errors import ConfigError
from padlib.evaluation.ranking import target_ranks
from padlib.models.build import ModelConfig, aligned_expert, id_expert, pad_model, text_expert
from padlib.models.dropout import Dropout, dropout, keep_mask
from padlib.models.recommender import SingleExpert
from padlib.models.sasrec import SASRec, SASRecConfig
from padlib.training import loop
from padlib.training.loop import TrainConfig, fit
from padlib.seed import set_seed
from test_backbones import tiny_data

CFG = ModelConfig(dim=16, backbone={"name": "sasrec", "blocks": 2, "heads": 2, "ffn_dim": 32, "dropout": 0.1},
                  projection_layers=2, projection_dropout=0.1, fusion_dropout=0.1)
INIT = {"id": [1.0, 0.0], "aligned": [-4.0, -5.0], "text": [0.0, 1.0]}
N_ITEMS = 40


def models():
    torch.manual_seed(0)
    text = torch.randn(N_ITEMS + 1, 24)
    buckets = torch.randint(1, 5, (N_ITEMS + 1,))
    return {
        "sasrec": SingleExpert(id_expert(N_ITEMS, CFG, 6)),
        "morec": SingleExpert(text_expert(text, CFG, 6)),
        "aligned": SingleExpert(aligned_expert(N_ITEMS, text, CFG, 6)),
        "pad": pad_model(N_ITEMS, text, buckets, 4, CFG, 6, INIT),
        "pad-gate-network": pad_model(N_ITEMS, text, buckets, 4, CFG, 6, INIT, gate="network", gate_hidden=8),
    }


HISTORY = torch.tensor([[0, 0, 0, 3, 7, 9], [1, 2, 3, 4, 5, 6], [0, 0, 0, 0, 0, 40], [8, 8, 8, 1, 2, 8]])


@pytest.mark.parametrize("name", list(models()))
def test_prepared_catalogue_scores_equal_the_direct_scores(name):
    model = models()[name].eval()
    with torch.no_grad():
        if name == "pad-gate-network":
            for net in model.gate.nets:
                net[-1].weight.normal_()  # make the gate depend on the item vectors
        catalog = model.catalog()
        prepared = model.users(HISTORY, catalog) @ catalog.matrix.T
        direct = model.catalog_logits(HISTORY, torch.arange(N_ITEMS + 1))
    assert prepared.shape == (4, N_ITEMS + 1)
    assert torch.allclose(prepared, direct, atol=1e-5)


def test_sasrec_last_state_is_the_last_position_of_the_full_pass():
    torch.manual_seed(0)
    net = SASRec(SASRecConfig(dim=16, blocks=3, heads=2, ffn_dim=32, dropout=0.0, max_length=6)).eval()
    x = torch.randn(4, 6, 16)
    valid = HISTORY != 0
    assert torch.allclose(net.last_state(x, valid), net(x, valid)[:, -1], atol=1e-6)


@pytest.mark.parametrize("block", ["official", "pre-ln"])
def test_sasrec_on_the_valid_positions_alone_equals_the_padded_window(block, monkeypatch):
    """Short histories (a quarter of the window) run every per-position layer on their items alone:
    the same states, last states and input gradients as the padded window, an empty row included."""
    import padlib.models.sasrec as sasrec

    torch.manual_seed(0)
    net = SASRec(SASRecConfig(dim=16, blocks=2, heads=2, ffn_dim=32, dropout=0.0, max_length=12, block=block))
    lengths = torch.tensor([0, 1, 2, 3, 12, 2, 1, 3])
    valid = torch.arange(12) >= (12 - lengths).unsqueeze(1)
    vectors = torch.randn(8, 12, 16) * valid.unsqueeze(-1)
    results = {}
    for pack_below in (0.0, 0.6):  # 0.0: always the padded window
        monkeypatch.setattr(sasrec, "PACK_BELOW", pack_below)
        for training in (False, True):
            net.train(training)
            inputs = vectors.clone().requires_grad_()
            states, last = net(inputs, valid), net.last_state(inputs, valid)
            (states.square().sum() + last.sum()).backward()
            results[pack_below, training] = (states.detach(), last.detach(), inputs.grad)
    for training in (False, True):
        for window, tokens in zip(results[0.0, training], results[0.6, training]):
            assert torch.allclose(window, tokens, atol=1e-6)
    assert results[0.6, False][1][0].abs().sum() == 0  # the empty history's user vector
    if block == "official":  # no final LayerNorm: padded positions stay zero
        assert results[0.6, False][0][~valid].abs().sum() == 0


@pytest.mark.parametrize("name", ["morec", "aligned", "sasrec"])
def test_shared_item_vectors_match_per_occurrence_vectors_in_eval_mode(name):
    expert = models()[name].eval().expert
    candidates = torch.randint(0, N_ITEMS + 1, (4, 6, 2))
    inputs, targets = expert.shared_item_vectors(HISTORY, candidates)
    assert torch.allclose(inputs, expert.items(HISTORY), atol=1e-6)
    assert torch.allclose(targets, expert.items(candidates), atol=1e-6)


def test_shared_item_vectors_reuse_one_dropout_mask_per_distinct_item():
    expert = models()["morec"].train().expert
    idx = torch.tensor([[5, 5, 6, 5]])
    (vectors,) = expert.shared_item_vectors(idx)
    assert torch.equal(vectors[0, 0], vectors[0, 1]) and torch.equal(vectors[0, 0], vectors[0, 3])
    assert not torch.equal(vectors[0, 0], vectors[0, 2])


def test_dropout_mask_rate_and_inverted_scaling():
    torch.manual_seed(0)
    for p in (0.1, 0.5):
        mask = keep_mask((1000, 1000), p)
        assert mask.float().mean().item() == pytest.approx(1 - p, abs=2e-3)
    x = torch.ones(500, 400)
    out = dropout(x, 0.1, training=True)
    values = out.unique().tolist()
    assert len(values) == 2 and values[0] == 0.0 and values[1] == pytest.approx(1 / 0.9)
    assert out.mean().item() == pytest.approx(1.0, abs=0.01)
    assert dropout(x, 0.1, training=False) is x
    layer = Dropout(0.3).eval()
    assert layer(x) is x
    with pytest.raises(ValueError, match="dropout probability"):
        Dropout(1.5)


def test_dropout_gradient_flows_through_kept_elements_only():
    torch.manual_seed(1)
    x = torch.randn(64, 32, requires_grad=True)
    out = dropout(x, 0.25, training=True)
    out.sum().backward()
    kept = out != 0
    assert torch.allclose(x.grad[kept], torch.full_like(x.grad[kept], 1 / 0.75))
    assert (x.grad[~kept] == 0).all()


def test_dropout_is_reproducible_under_the_global_seed():
    x = torch.randn(100, 100)
    set_seed(7)
    first = dropout(x, 0.1, True)
    set_seed(7)
    assert torch.equal(first, dropout(x, 0.1, True))


def test_ranks_from_the_prepared_catalogue_match_scoring_every_item_directly():
    model = models()["pad"].eval()
    target = torch.tensor([10, 4, 40, 2])
    ranks = target_ranks(model, HISTORY, target, N_ITEMS, batch_size=3, chunk_size=7, repeat_target="ranked")
    repeat = [u for u in range(4) if int(target[u]) in HISTORY[u].tolist()]
    assert repeat and (target_ranks(model, HISTORY, target, N_ITEMS, batch_size=3, chunk_size=7)[repeat] == N_ITEMS).all()
    with torch.no_grad():
        scores = model.catalog_logits(HISTORY, torch.arange(N_ITEMS + 1))
    for u in range(4):
        excluded = {0, *HISTORY[u].tolist()} - {int(target[u])}
        better = [i for i in range(N_ITEMS + 1) if i not in excluded and i != int(target[u])
                  and scores[u, i] > scores[u, target[u]] + 1e-5]
        assert abs(int(ranks[u]) - len(better)) <= 1  # ±1 for a near-tie decided by rounding


def scripted_validation(monkeypatch: pytest.MonkeyPatch, scores: list[float]) -> None:
    """Validation computes its metrics as usual but reports ``scores`` as nDCG, one per call in order:
    real training rarely plateaus on cue, and the stopping rule is what is under test."""
    real = loop.validation_metrics
    calls = iter(scores)

    def validate(*args, **kwargs) -> dict[str, float]:
        return {**real(*args, **kwargs), "ndcg": next(calls)}

    monkeypatch.setattr(loop, "validation_metrics", validate)


def test_bf16_precision_trains_and_validation_every_k_epochs_counts_patience_in_epochs(monkeypatch):
    data = tiny_data(n_items=N_ITEMS, length=6)
    set_seed(0)
    model = SingleExpert(id_expert(data.n_items, CFG, data.max_input_length))
    cfg = TrainConfig(batch_size=16, lr=0.01, max_epochs=11, patience=4, eval_batch_size=64, precision="bf16",
                      valid_every=2)
    scripted_validation(monkeypatch, [0.1, 0.5, 0.4, 0.45, 0.3, 0.2])  # epochs 0, 2, 4, 6, 8, 10
    result = fit(model, data, cfg, 0, torch.device("cpu"), desc="test")
    validated = [h["epoch"] for h in result.history if h["valid_ndcg"] is not None]
    assert validated[:4] == [0, 2, 4, 6] and result.best_epoch in validated
    # best at epoch 2; epoch 6 is 4 epochs (2 validations) later: patience counted in epochs stops there
    assert (result.best_epoch, result.history[-1]["epoch"], result.epochs_run) == (2, 6, 6)
    assert all(torch.isfinite(torch.tensor(h["loss"])) for h in result.history[1:])
    assert all(h["train_s"] > 0 for h in result.history[1:])
    assert result.best_valid_ndcg == max(h["valid_ndcg"] for h in result.history if h["valid_ndcg"] is not None)


def test_length_batches_are_longest_first_within_the_token_budget():
    from padlib.text.encoder import length_batches
    lengths = [3, 10, 4, 4, 9, 1, 2, 2]
    batches = length_batches(lengths, batch_size=8, max_tokens=20)
    assert [i for b in batches for i in b] == sorted(range(8), key=lambda i: -lengths[i])
    assert all(len(b) * max(lengths[i] for i in b) <= 20 for b in batches)
    assert [len(b) for b in batches] == [2, 5, 1]   # 10,9 | 4,4,3,2,2 | 1
    assert length_batches(lengths, batch_size=3) == [[1, 4, 2], [3, 0, 6], [7, 5]]
    assert length_batches([50], batch_size=4, max_tokens=8) == [[0]]  # one over-long text still gets a batch


def test_alignment_samples_are_per_user_group_and_the_loss_averages_them():
    from padlib.training.loop import Batch
    from padlib.training.phases import alignment_loss, sample_groups
    history = torch.tensor([[0, 1, 2], [3, 3, 4], [0, 0, 5], [6, 7, 1]])
    target = torch.tensor([[1, 2, 9], [3, 4, 8], [0, 5, 7], [7, 1, 2]])
    negatives = torch.tensor([[10, 11, 12], [13, 14, 15], [16, 17, 18], [19, 20, 21]])
    seen = torch.unique(torch.cat([history.flatten(), target.flatten(), negatives.flatten()]))
    batch = Batch(history, target, negatives, seen[seen != 0])
    groups = sample_groups(batch, 2)
    assert [g.tolist() for g in groups] == [[1, 2, 3, 4, 8, 9, 10, 11, 12, 13, 14, 15],
                                            [1, 2, 5, 6, 7, 16, 17, 18, 19, 20, 21]]
    assert [g.tolist() for g in sample_groups(batch, None)] == [batch.items.tolist()]
    assert [g.tolist() for g in sample_groups(batch, 4)] == [batch.items.tolist()]
    model = models()["aligned"].eval()
    cfg = {"gamma": 0.5, "kernel": "gaussian", "anchoring": "rec", "sample": "distinct", "multi_kernel": "mean",
           "estimator": "vstat"}
    from padlib.losses.mmd import mmd2
    fused = model.expert.items
    with torch.no_grad():
        expected = 0.5 * sum(mmd2(fused.text(g), fused.ids(g)) for g in groups) / 2
        whole = 0.5 * mmd2(fused.text(batch.items), fused.ids(batch.items))
        assert torch.allclose(alignment_loss({**cfg, "sample_users": 2})(model, batch), expected, atol=1e-6)
        assert torch.allclose(alignment_loss(cfg)(model, batch), whole, atol=1e-6)



def two_user_batch():
    """User 0: sequence 1 2 9 (inputs 0 1 2, targets 1 2 9); user 1: 3 3 4 8 (a repeat); a negative
    (10) drawn twice."""
    from padlib.training.loop import Batch
    history = torch.tensor([[0, 1, 2], [3, 3, 4]])
    target = torch.tensor([[1, 2, 9], [3, 4, 8]])
    negatives = torch.tensor([[10, 11, 10], [13, 14, 15]])
    seen = torch.unique(torch.cat([history.flatten(), target.flatten(), negatives.flatten()]))
    return Batch(history, target, negatives, seen[seen != 0])

def test_official_alignment_sample_keeps_every_row_and_sums_the_kernels():
    from padlib.losses.mmd import mmd2
    from padlib.training.phases import alignment_loss, sample_groups
    batch = two_user_batch()
    rows = sample_groups(batch, 1, "rows")
    assert [sorted(g.tolist()) for g in rows] == [[1, 2, 9, 10, 10, 11], [3, 3, 4, 8, 13, 14, 15]]
    model = models()["aligned"].eval()
    fused = model.expert.items
    cfg = {"gamma": 0.5, "kernel": "gaussian", "anchoring": "rec", "sample_users": 1, "sample": "rows",
           "multi_kernel": "mean", "estimator": "vstat"}
    with torch.no_grad():
        expected = 0.5 * sum(mmd2(fused.text(g), fused.ids(g)) for g in rows) / 2
        assert torch.allclose(alignment_loss(cfg)(model, batch), expected, atol=1e-6)
        summed = alignment_loss({**cfg, "multi_kernel": "sum"})(model, batch)
        assert torch.allclose(summed, 5 * expected, atol=1e-5)   # the official sum of 5 kernels
    with pytest.raises(ConfigError, match="align.sample"):
        alignment_loss({**cfg, "sample": "all"})


def test_the_alignment_loss_can_compare_the_forward_own_text_vectors():
    """``align.text_vectors: forward`` (official): the MMD sees the projected text of the training
    forward, its dropout draw included, and trains with BCE and with full softmax."""
    from padlib.training.loop import train_epoch
    from padlib.training.phases import alignment_loss

    model = models()["aligned"].train()
    fused = model.expert.items
    fused.keep_text = True
    history = torch.tensor([[0, 1, 2], [3, 3, 4]])
    candidates = torch.tensor([[[1, 10], [2, 11], [9, 12]], [[3, 13], [4, 14], [8, 15]]])
    torch.manual_seed(3)
    model.expert.shared_item_vectors(history, candidates)
    items = torch.tensor([1, 2, 3, 9, 12, 15])
    kept = fused.kept_text(items)
    torch.manual_seed(3)  # the forward projects the text before any other draw: the same draw again
    distinct = torch.unique(torch.cat([history.flatten(), candidates.flatten()]))
    again = fused.text(distinct)[torch.searchsorted(distinct, items)]
    assert torch.equal(kept, again)
    assert fused._kept == []
    with pytest.raises(RuntimeError, match="did not project"):
        model.expert.shared_item_vectors(history, candidates)
        fused.kept_text(torch.tensor([40]))

    fused._kept.clear()
    data = tiny_data(n_items=N_ITEMS, length=6)
    cfg = {"gamma": 0.5, "kernel": "gaussian", "anchoring": "rec", "sample_users": 2, "text_vectors": "forward"}
    for loss in ("bce", "softmax"):
        seen = {}

        def spy(m, batch, inner=alignment_loss(cfg)):
            seen["kept"] = len(m.expert.items._kept)
            return inner(m, batch)

        optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
        value = train_epoch(model, data, TrainConfig(batch_size=4, lr=1e-3, loss=loss), optimizer,
                            torch.Generator().manual_seed(0), torch.device("cpu"), spy)
        assert seen["kept"] > 0 and fused._kept == [] and value == value
    with pytest.raises(ConfigError, match="align.text_vectors"):
        alignment_loss({**cfg, "text_vectors": "both"})


def test_the_default_tllib_estimator_leaves_other_kernels_on_the_v_statistic():
    """tllib's estimator (the default, the official loss) is the Gaussian MK-MMD's: a Laplacian or
    linear kernel keeps the V-statistic instead of failing, and the Gaussian one does change."""
    from padlib.training.phases import alignment_loss
    batch = two_user_batch()
    model = models()["aligned"].eval()
    cfg = {"gamma": 0.5, "anchoring": "rec", "sample_users": 1}
    with torch.no_grad():
        for kernel in ("laplacian", "linear"):
            default = alignment_loss({**cfg, "kernel": kernel})(model, batch)
            assert torch.equal(default, alignment_loss({**cfg, "kernel": kernel, "estimator": "vstat"})(model, batch))
        gaussian = alignment_loss({**cfg, "kernel": "gaussian"})(model, batch)
        assert not torch.allclose(gaussian, alignment_loss({**cfg, "kernel": "gaussian", "estimator": "vstat"})(model, batch))
