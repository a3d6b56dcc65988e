"""Options that reproduce the official PAD code (github Applied-Machine-Learning-Lab/PAD)."""

import math

import polars as pl
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from padlib.errors import ConfigError
from padlib.models.build import ModelConfig, id_expert, text_expert
from padlib.models.sasrec import SASRec, SASRecConfig


class OfficialEncoder(nn.Module):
    """The official ``TransformerEncoder`` (model/modules.py), transcribed for eval-mode comparison."""

    def __init__(self, d: int, heads: int, blocks: int, length: int) -> None:
        super().__init__()
        self.heads = heads
        self.position = nn.Embedding(length, d)
        self.norm = nn.LayerNorm(d, eps=1e-6)
        self.layers = nn.ModuleList(nn.ModuleDict({
            "w_Q": nn.Linear(d, d, bias=False), "w_K": nn.Linear(d, d, bias=False),
            "w_V": nn.Linear(d, d, bias=False), "fc": nn.Linear(d, d, bias=False),
            "attn_norm": nn.LayerNorm(d, eps=1e-6), "w_1": nn.Linear(d, 4 * d), "w_2": nn.Linear(4 * d, d),
            "ffn_norm": nn.LayerNorm(d, eps=1e-6)}) for _ in range(blocks))

    def forward(self, x: torch.Tensor, log_mask: torch.Tensor) -> torch.Tensor:
        b, length, d = x.shape
        mask = (log_mask != 0).unsqueeze(1).unsqueeze(2)
        mask = torch.where(torch.tril(mask.expand(-1, -1, length, -1)), 0.0, -1e9)
        x = self.norm(x + self.position(torch.arange(length)))
        dk = d // self.heads
        for layer in self.layers:
            q, k, v = (layer[n](x).view(b, length, self.heads, dk).transpose(1, 2) for n in ("w_Q", "w_K", "w_V"))
            attn = torch.softmax(q @ k.transpose(-2, -1) / dk ** 0.5 + mask, -1) @ v
            x = layer["attn_norm"](x + layer["fc"](attn.transpose(1, 2).reshape(b, length, d)))
            x = layer["ffn_norm"](x + layer["w_2"](F.relu(layer["w_1"](x))))
        return x


def copy_official_into(ours: SASRec, official: OfficialEncoder) -> None:
    with torch.no_grad():
        ours.positions.weight.copy_(official.position.weight)
        ours.input_norm.load_state_dict(official.norm.state_dict())
        for block, layer in zip(ours.blocks, official.layers):
            block.qkv.weight.copy_(torch.cat([layer["w_Q"].weight, layer["w_K"].weight, layer["w_V"].weight]))
            block.out.weight.copy_(layer["fc"].weight)
            block.attn_norm.load_state_dict(layer["attn_norm"].state_dict())
            block.ffn[0].load_state_dict(layer["w_1"].state_dict())
            block.ffn[2].load_state_dict(layer["w_2"].state_dict())
            block.ffn_norm.load_state_dict(layer["ffn_norm"].state_dict())


def test_the_official_block_computes_what_the_official_encoder_computes():
    torch.manual_seed(0)
    d, length = 16, 7
    official = OfficialEncoder(d, heads=2, blocks=3, length=length).eval()
    ours = SASRec(SASRecConfig(dim=d, blocks=3, heads=2, ffn_dim=4 * d, max_length=length, block="official")).eval()
    assert sum(p.numel() for p in ours.parameters()) == sum(p.numel() for p in official.parameters())
    copy_official_into(ours, official)
    x = torch.randn(4, length, d)
    valid = torch.ones(4, length, dtype=torch.bool)
    valid[1, :3] = valid[2, :6] = False  # left padding
    with torch.no_grad():
        expected = official(x, valid.long())
        got = ours(x * valid.unsqueeze(-1), valid)
        assert torch.allclose(got[valid], expected[valid], atol=1e-5)
        assert torch.allclose(ours.last_state(x * valid.unsqueeze(-1), valid), expected[:, -1], atol=1e-5)


def test_the_official_block_is_the_default_pre_ln_stays_an_option_and_unknown_blocks_fail():
    assert SASRecConfig().block == "official"
    pre = SASRec(SASRecConfig(dim=8, heads=2, ffn_dim=16, blocks=1, block="pre-ln")).eval()
    assert isinstance(pre.final_norm, nn.LayerNorm) and pre.blocks[0].qkv.bias is not None
    x, valid = torch.randn(2, 20, 8), torch.ones(2, 20, dtype=torch.bool)
    assert torch.allclose(pre.last_state(x, valid), pre(x, valid)[:, -1], atol=1e-6)
    with pytest.raises(ConfigError, match="backbones.sasrec.block: 'post'"):
        SASRecConfig(block="post")


def spread(expert) -> tuple[float, float]:
    """(norm of the mean projected item, rms distance of an item from that mean), eval mode."""
    with torch.no_grad():
        vectors = expert.eval().item_table()[1:]
    mean = vectors.mean(0)
    return float(mean.norm()), float((vectors - mean).norm(dim=1).pow(2).mean().sqrt())


def test_xavier_init_keeps_projected_items_apart():
    torch.manual_seed(0)
    text = torch.cat([torch.zeros(1, 64), torch.randn(500, 64)])
    shared, apart = {}, {}
    for init in ("torch", "xavier"):
        torch.manual_seed(1)
        cfg = ModelConfig(dim=128, projection_layers=4, init=init)
        shared[init], apart[init] = spread(text_expert(text, cfg, 20))
    # five default-initialised layers collapse every item onto one vector (the 0.026 vs 0.3)
    assert apart["torch"] < 0.2 * shared["torch"]
    assert apart["xavier"] > 0.5 * shared["xavier"]


def test_xavier_init_matches_the_official_scheme():
    torch.manual_seed(0)
    expert = id_expert(1000, ModelConfig(dim=64, init="xavier"), 20)
    table = expert.items.table.weight
    assert torch.count_nonzero(table[0]) == 0
    assert table[1:].std().item() == pytest.approx(math.sqrt(2 / (1001 + 64)), rel=0.05)
    linears = [m for m in expert.modules() if isinstance(m, nn.Linear)]
    assert linears and all(m.bias is None or torch.count_nonzero(m.bias) == 0 for m in linears)
    with pytest.raises(ConfigError, match="model.init"):
        id_expert(10, ModelConfig(dim=8, init="kaiming"), 20)


def test_xavier_linear_init_keeps_the_tables_at_one_over_d():
    torch.manual_seed(0)
    expert = id_expert(1000, ModelConfig(dim=64, init="xavier-linear"), 20)
    assert expert.items.table.weight[1:].std().item() == pytest.approx(1 / 8, rel=0.05)
    linears = [m for m in expert.modules() if isinstance(m, nn.Linear) and m.weight.shape[0] != 3 * 64]
    assert all(m.weight.std().item() == pytest.approx(math.sqrt(2 / sum(m.weight.shape)), rel=0.1) for m in linears)


@pytest.mark.parametrize("init", ["xavier", "xavier-linear"])
def test_xavier_treats_the_fused_qkv_as_the_official_three_matrices(init):
    """The official w_Q, w_K, w_V are three [d, d] Linears: xavier std sqrt(2 / 2d) each, not the
    fused [3d, d] matrix's sqrt(2 / 4d)."""
    torch.manual_seed(0)
    expert = id_expert(100, ModelConfig(dim=64, init=init, backbone={"name": "sasrec", "blocks": 2}), 20)
    for block in expert.backbone.blocks:
        for part in block.qkv.weight.chunk(3):
            assert part.std().item() == pytest.approx(math.sqrt(2 / 128), rel=0.05)


def test_phase_3_trains_new_parameters_at_their_own_learning_rate(tmp_path):
    from synthetic import write_training_inputs

    from padlib.models.checkpoint import load_checkpoint
    from padlib.training import phases
    from padlib.training.loop import param_groups

    protocol = {"min_rating": 4, "min_user_interactions": 5, "max_sequence_length": 10, "max_input_length": 6,
                "n_buckets": 10}
    write_training_inputs(tmp_path, protocol, n_users=40)
    params = {"device": "cpu", "protocol": protocol,
              "model": {"dim": 16, "backbone": {"name": "sasrec", "blocks": 1, "heads": 2, "ffn_dim": 32},
                        "projection_layers": 1},
              "train": {"batch_size": 16, "lr": 0.005, "weight_decay": 0.0, "max_epochs": 1, "patience": 1,
                        "eval_batch_size": 64, "valid_every": 1},
              "finetune": {"experts": ["id", "text"], "gate": "frequency", "new_lr": 0.01,
                           "gate_init": {"id": [1.0, 0.0], "aligned": [-4.0, -5.0], "text": [0.0, 1.0]}}}
    phases.pretrain(str(tmp_path), str(tmp_path / "id.pt"), params, seed=0)
    tuned = {**params, "train": {**params["train"], "lr": 1e-30}}
    phases.train_mixture(str(tmp_path), str(tmp_path / "text.parquet"), {"id": str(tmp_path / "id.pt")},
                         str(tmp_path / "mix.pt"), tuned, seed=0, phase="finetune")
    before, after = load_checkpoint(tmp_path / "id.pt")["state_dict"], load_checkpoint(tmp_path / "mix.pt")
    assert after["fit"]["best_epoch"] == 1, "the new parameters did not improve validation"
    state = after["state_dict"]
    # the pretrained ID expert stayed put at lr 1e-30; the new text expert and the gate moved at new_lr
    assert all(torch.allclose(state[f"experts.id.{k.removeprefix('expert.')}"], v, rtol=0, atol=1e-20)
               for k, v in before.items())
    assert not torch.equal(state["gate.alpha"][1], torch.linspace(0.0, 1.0, 11))
    groups = param_groups(nn.Sequential(nn.Linear(2, 2), nn.Linear(2, 2)), 0.1, {"1.": 0.5})
    assert [(g["lr"], len(g["params"])) for g in groups] == [(0.1, 2), (0.5, 2)]


def test_the_prefix_mask_leaves_every_known_item_out_of_the_ranking(tmp_path):
    from synthetic import write_training_inputs

    from padlib.data.dataset import SequenceData
    from padlib.evaluation.ranking import target_ranks
    from test_metrics import FixedScores

    protocol = {"min_rating": 4, "min_user_interactions": 5, "max_sequence_length": 10, "max_input_length": 2,
                "n_buckets": 10}
    n_items = write_training_inputs(tmp_path, protocol, n_users=30)
    window = SequenceData.load(tmp_path, 10, 2)
    prefix = SequenceData.load(tmp_path, 10, 2, eval_mask="prefix")
    sequences = pl.read_parquet(tmp_path / "sequences.parquet")
    user = 0
    seq = sequences.filter(pl.col("user_idx") == int(prefix.test.user_idx[user]))["items"][0].to_list()
    assert sorted(set(prefix.test.known[user].tolist()) - {0}) == sorted(set(seq[:-1]))
    assert sorted(set(prefix.valid.known[user].tolist()) - {0}) == sorted(set(seq[:-2]))
    # the user's first item (outside the 2-item window) scores highest of all
    first, target = seq[0], seq[-1]
    assert first not in seq[-3:] and first != target
    scores = [0.0] * (n_items + 1)
    scores[first], scores[target] = 10.0, 5.0
    model = FixedScores(scores)
    history, target_t = window.test.history[user:user + 1], window.test.target[user:user + 1]
    assert torch.equal(history, prefix.test.history[user:user + 1])
    assert target_ranks(model, history, target_t, n_items).tolist() == [1]   # the old item outranks the target
    known = prefix.test.known[user:user + 1]
    assert target_ranks(model, history, target_t, n_items, known=known, repeat_target="ranked").tolist() == [0]
    # this user bought the target before, outside the window: under the prefix mask it is a miss by default
    assert target in seq[:-3]
    assert target_ranks(model, history, target_t, n_items, known=known).tolist() == [n_items]
    with pytest.raises(ConfigError, match="protocol.eval_mask"):
        SequenceData.load(tmp_path, 10, 2, eval_mask="all")


def test_a_repeat_target_is_a_miss_as_in_the_official_code_unless_ranked():
    from padlib.evaluation.metrics import ndcg
    from padlib.evaluation.ranking import target_ranks
    from test_metrics import FixedScores

    n_items = 6
    scores = [0.0, 1.0, 9.0, 3.0, 2.0, 5.0, 4.0]
    model = FixedScores(scores)
    history = torch.tensor([[0, 1, 2], [0, 3, 4]])
    target = torch.tensor([2, 6])              # user 0 buys item 2 again; user 1's target is new
    # the official code sets the known items' scores to -inf: the repeat falls below every item
    assert target_ranks(model, history, target, n_items).tolist() == [n_items, 2]
    assert target_ranks(model, history, target, n_items, repeat_target="ranked").tolist() == [0, 2]
    known = torch.tensor([[5, 1, 2], [0, 0, 3]])   # a prefix mask: item 5 left out for user 0, item 4 back in for 1
    assert target_ranks(model, history, target, n_items, known=known).tolist() == [n_items, 2]
    assert ndcg(target_ranks(model, history, target, n_items), 3).tolist() == [0.0, 0.5]
    with pytest.raises(ConfigError, match="protocol.repeat_target"):
        target_ranks(model, history, target, n_items, repeat_target="skip")
