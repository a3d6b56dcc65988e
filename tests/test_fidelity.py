"""Options that reproduce the official PAD code (github Applied-Machine-Learning-Lab/PAD)."""

import math

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


def test_the_pre_ln_block_stays_the_default_and_unknown_blocks_fail():
    assert SASRecConfig().block == "pre-ln"
    pre = SASRec(SASRecConfig(dim=8, heads=2, ffn_dim=16, blocks=1)).eval()
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
