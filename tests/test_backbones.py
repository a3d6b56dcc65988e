"""Backbones (SASRec, GRU4Rec, Caser) share one contract — causal, left-padding invariant,
trainable — and the full-softmax loss agrees with the sampled-candidate logits."""

import copy
import random
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
import yaml

from padlib.config import validate_config
from padlib.data.dataset import EvalSplit, SequenceData, left_pad
from padlib.errors import ConfigError
from padlib.models.build import ModelConfig, build_backbone, id_expert, pad_model
from padlib.models.caser import Caser, CaserConfig
from padlib.models.recommender import SingleExpert, softmax_logits
from padlib.training import loop
from padlib.training.loop import TrainConfig, fit, softmax_loss
from padlib.seed import set_seed

REPO = Path(__file__).resolve().parents[1]
DIM = 16
BACKBONES = {
    "sasrec": {"name": "sasrec", "blocks": 1, "heads": 2, "ffn_dim": 32, "dropout": 0.0},
    "gru4rec": {"name": "gru4rec", "hidden": 24, "layers": 2, "dropout": 0.0},
    "caser": {"name": "caser", "window": 3, "n_h": 4, "n_v": 2, "dropout": 0.0},
}
INIT = {"id": [1.0, 0.0], "aligned": [-4.0, -5.0], "text": [0.0, 1.0]}


def model_cfg(name: str) -> ModelConfig:
    return ModelConfig(dim=DIM, backbone=BACKBONES[name], projection_layers=1, projection_dropout=0.0,
                       fusion_dropout=0.0)


def backbone(name: str, max_length: int = 12) -> torch.nn.Module:
    torch.manual_seed(0)
    return build_backbone(model_cfg(name), max_length).eval()


def tiny_data(n_users: int = 96, n_items: int = 20, length: int = 8, n_buckets: int = 4, seed: int = 0) -> SequenceData:
    """Mostly "next item = current + 1" sequences of varied length: learnable in a few epochs."""
    rng = random.Random(seed)
    seqs = []
    for _ in range(n_users):
        seq = [rng.randint(1, n_items)]
        for _ in range(rng.randint(4, length + 3)):
            seq.append(seq[-1] % n_items + 1 if rng.random() < 0.9 else rng.randint(1, n_items))
        seqs.append(seq)
    prefixes = [s[:-2] for s in seqs]

    def split(cut: int) -> EvalSplit:
        return EvalSplit(user_idx=torch.arange(n_users),
                         history=torch.as_tensor(left_pad([s[:len(s) - cut] for s in seqs], length)),
                         target=torch.tensor([s[len(s) - cut] for s in seqs]))

    buckets = torch.randint(1, n_buckets + 1, (n_items + 1,), generator=torch.Generator().manual_seed(seed))
    buckets[0] = 0
    return SequenceData(
        n_items=n_items, n_buckets=n_buckets, max_input_length=length, item_buckets=buckets,
        unseen=torch.zeros(n_items + 1, dtype=torch.bool), held_out=torch.zeros(n_items + 1, dtype=torch.bool),
        train_input=torch.as_tensor(left_pad([p[:-1] for p in prefixes], length)),
        train_target=torch.as_tensor(left_pad([p[1:] for p in prefixes], length)),
        train_items=torch.as_tensor(left_pad(prefixes, max(map(len, prefixes)))),
        valid=split(2), test=split(1),
    )


@pytest.fixture(scope="module")
def data() -> SequenceData:
    return tiny_data()


def losses_of(model: torch.nn.Module, data: SequenceData, loss: str = "bce", epochs: int = 6) -> list[float]:
    cfg = TrainConfig(batch_size=16, lr=0.01, max_epochs=epochs, patience=epochs, eval_batch_size=64, loss=loss)
    result = fit(model, data, cfg, seed=0, device=torch.device("cpu"), desc="test")
    return [h["loss"] for h in result.history[1:]]


def tiny_pad(data: SequenceData, name: str = "sasrec"):
    set_seed(0)
    text = torch.randn(data.n_items + 1, 24)
    return pad_model(data.n_items, text, data.item_buckets, data.n_buckets, model_cfg(name),
                     data.max_input_length, INIT)


@pytest.mark.parametrize("name", BACKBONES)
def test_output_shape_and_causality(name):
    net = backbone(name)
    torch.manual_seed(1)
    x = torch.randn(2, 10, DIM)
    valid = torch.ones(2, 10, dtype=torch.bool)
    valid[0, :3] = False
    out = net(x, valid)
    assert out.shape == (2, 10, DIM)
    changed = x.clone()
    changed[:, 6] += torch.randn(2, DIM)        # a later item must not reach earlier positions
    changed[0, :3] = 5 * torch.randn(3, DIM)    # padded slots must not reach anything
    out2 = net(changed, valid)
    assert torch.allclose(out[:, :6][valid[:, :6]], out2[:, :6][valid[:, :6]], atol=1e-6)
    assert not torch.allclose(out[:, 6], out2[:, 6])


@pytest.mark.parametrize("name", BACKBONES)
def test_more_left_padding_changes_nothing(name):
    net = backbone(name)
    torch.manual_seed(2)
    items = torch.randn(2, 5, DIM)
    outs = []
    for length in (5, 7, 12):
        x = torch.cat([torch.randn(2, length - 5, DIM), items], dim=1)
        valid = torch.arange(length).expand(2, -1) >= length - 5
        outs.append(net(x, valid)[:, -5:])
    assert torch.allclose(outs[0], outs[1], atol=1e-5) and torch.allclose(outs[0], outs[2], atol=1e-5)


@pytest.mark.parametrize("name", ["gru4rec", "caser"])
def test_padded_positions_and_empty_rows_are_zero(name):
    net = backbone(name)
    valid = torch.tensor([[False, False, True, True], [False, False, False, False]])
    out = net(torch.randn(2, 4, DIM), valid)
    assert torch.count_nonzero(out[~valid]) == 0 and torch.isfinite(out).all()


@pytest.mark.parametrize("name", BACKBONES)
def test_a_few_epochs_reduce_the_loss(name, data):
    set_seed(0)
    model = SingleExpert(id_expert(data.n_items, model_cfg(name), data.max_input_length))
    losses = losses_of(model, data)
    assert losses[-1] < 0.8 * losses[0], losses


def test_caser_matches_the_per_window_official_computation():
    """The shared-convolution implementation equals Caser computed window by window."""
    torch.manual_seed(3)
    cfg = CaserConfig(dim=8, window=4, n_h=3, n_v=2, dropout=0.0)
    net = Caser(cfg).eval()
    x = torch.randn(2, 6, 8)
    valid = torch.tensor([[False, True, True, True, True, True], [True] * 6])
    padded = F.pad(x * valid.unsqueeze(-1), (0, 0, cfg.window - 1, 0))
    expected = []
    for t in range(6):
        window = padded[:, t:t + cfg.window]                                        # [B, w, d]
        vertical = (torch.einsum("bwd,vw->bdv", window, net.vertical.weight) + net.vertical.bias).flatten(1)
        horizontal = [F.relu(conv(window.transpose(1, 2))).amax(-1) for conv in net.horizontal]
        expected.append(F.relu(net.fc(torch.cat([vertical, *horizontal], dim=-1))))
    expected = torch.stack(expected, 1) * valid.unsqueeze(-1)
    assert torch.allclose(net(x, valid), expected, atol=1e-5)


def test_softmax_logits_equal_position_logits_over_the_catalogue_at_the_marked_positions(data):
    history = data.train_input[:5]
    where = data.train_target[:5] != 0
    assert 0 < where.sum() < where.numel()
    everything = torch.arange(data.n_items + 1).expand(5, data.max_input_length, -1)
    set_seed(0)
    single = SingleExpert(id_expert(data.n_items, model_cfg("gru4rec"), data.max_input_length)).eval()
    for model in (single, tiny_pad(data).eval()):
        full = softmax_logits(model, history, where)
        assert full.shape == (int(where.sum()), data.n_items)
        assert torch.allclose(full, model.position_logits(history, everything)[where][:, 1:], atol=1e-5)


def test_softmax_loss_is_the_mean_cross_entropy_over_scored_positions():
    logits = torch.randn(3, 6)
    target = torch.tensor([2, 6, 1])
    assert torch.allclose(softmax_loss(logits, target), F.cross_entropy(logits, target - 1))
    assert softmax_loss(logits[:0], target[:0]) == 0


@pytest.mark.parametrize("which", ["single", "pad"])
def test_softmax_training_learns_without_sampling_negatives(which, data, monkeypatch):
    def no_sampling(*args, **kwargs):
        raise AssertionError("negatives sampled under loss=softmax")

    monkeypatch.setattr(loop, "sample_negatives", no_sampling)
    set_seed(0)
    model = (SingleExpert(id_expert(data.n_items, model_cfg("caser"), data.max_input_length))
             if which == "single" else tiny_pad(data))
    losses = losses_of(model, data, loss="softmax")
    assert losses[-1] < 0.8 * losses[0], losses


def test_unknown_backbone_option_or_loss_is_a_config_error():
    with pytest.raises(ConfigError, match=r"'blocks'.*'gru4rec'"):
        build_backbone(ModelConfig(dim=DIM, backbone={"name": "gru4rec", "blocks": 2}), 8)
    with pytest.raises(ConfigError, match="bert4rec"):
        build_backbone(ModelConfig(dim=DIM, backbone={"name": "bert4rec"}), 8)
    with pytest.raises(ConfigError, match="train.loss"):
        TrainConfig(loss="ce")


def test_schema_checks_options_per_backbone_and_the_loss():
    base = yaml.safe_load((REPO / "config.yaml").read_text())
    schema = REPO / "schemas" / "config.schema.yaml"

    def validate(backbones=None, **train):
        config = copy.deepcopy(base)
        config["run"]["backbones"] = ["sasrec", "gru4rec", "caser"]
        config["backbones"].update(backbones or {})
        config["finetune"]["train"].update(train)
        return validate_config(config, schema)

    validate({name: {k: v for k, v in BACKBONES[name].items() if k != "name"} for name in BACKBONES}, loss="softmax")
    with pytest.raises(ConfigError, match="backbones.caser.*'heads' was unexpected"):
        validate({"caser": {"heads": 2}})
    with pytest.raises(ConfigError, match="backbones.sasrec.*'window' was unexpected"):
        validate({"sasrec": {"window": 5}})
    with pytest.raises(ConfigError, match="backbones.*'bert4rec' was unexpected"):
        validate({"bert4rec": {}})
    with pytest.raises(ConfigError, match="finetune.train.loss"):
        validate(loss="ce")
