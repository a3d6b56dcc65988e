"""SASRec backbone: a causal Transformer over a left-padded item-embedding sequence.

Backbones share one interface: ``forward(item_vectors [B, L, d], valid [B, L]) -> [B, L, d]``,
the hidden state at every position; the user vector is the last position (sequences
are left-padded, so the last position is always the most recent item).

Two block designs: ``pre-ln`` (LayerNorm before attention and FFN, GELU, a final LayerNorm:
the modern SASRec) and ``official`` (the official PAD code's ``model/modules.py``:
LayerNorm(item + position) on the input, bias-free attention projections, post-LN residuals,
a ReLU FFN, no final LayerNorm).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from padlib.errors import ConfigError
from padlib.models.dropout import Dropout, dropout

BLOCKS = ("pre-ln", "official")
PACK_BELOW = 0.6  # on CPU, run the per-position layers on the valid positions alone below this fill


@dataclass(frozen=True)
class SASRecConfig:
    dim: int = 128
    blocks: int = 2
    heads: int = 2
    ffn_dim: int = 512
    dropout: float = 0.1
    max_length: int = 20
    block: str = "official"  # or "pre-ln"

    def __post_init__(self) -> None:
        if self.block not in BLOCKS:
            raise ConfigError(f"backbones.sasrec.block: {self.block!r} is not one of {list(BLOCKS)}")


class _Block(nn.Module):
    def __init__(self, cfg: SASRecConfig) -> None:
        super().__init__()
        self.heads = cfg.heads
        self.dropout = cfg.dropout
        self.post_norm = cfg.block == "official"
        eps = 1e-6 if self.post_norm else 1e-8
        self.attn_norm = nn.LayerNorm(cfg.dim, eps=eps)
        self.qkv = nn.Linear(cfg.dim, 3 * cfg.dim, bias=not self.post_norm)
        self.out = nn.Linear(cfg.dim, cfg.dim, bias=not self.post_norm)
        self.ffn_norm = nn.LayerNorm(cfg.dim, eps=eps)
        activation = nn.ReLU() if self.post_norm else nn.GELU()
        inner: list[nn.Module] = [nn.Linear(cfg.dim, cfg.ffn_dim), activation]
        if not self.post_norm:  # the official FFN drops out only after its output layer
            inner.append(Dropout(cfg.dropout))
        self.ffn = nn.Sequential(*inner, nn.Linear(cfg.ffn_dim, cfg.dim), Dropout(cfg.dropout))

    def forward(self, x: torch.Tensor, attn_mask: torch.Tensor, last_only: bool = False) -> torch.Tensor:
        """x [B, L, d] → [B, L, d]; with ``last_only`` just the last position [B, 1, d] (keys and
        values still come from every position), which is all that scoring a user needs."""
        b, length, d = x.shape
        q, k, v = self.qkv(x if self.post_norm else self.attn_norm(x)).view(
            b, length, 3, self.heads, d // self.heads).unbind(2)
        if last_only:
            x, q, attn_mask = x[:, -1:], q[:, -1:], attn_mask[..., -1:, :]
        return self._residual(x, self._attend(q, k, v, attn_mask).reshape(b, x.shape[1], d))

    def forward_tokens(self, x: torch.Tensor, flat: torch.Tensor, valid: torch.Tensor, attn_mask: torch.Tensor,
                       last: torch.Tensor | None = None) -> torch.Tensor:
        """The same block on the valid positions alone: x [T, d] holds the states at ``flat``
        (their indices in the flattened [B, L] window, row-major) → [T, d]. Only attention needs
        the window, so only it sees the padding. With ``last`` (the indices in T of the rows'
        last positions) just those states [R, d]."""
        b, length = valid.shape
        d = x.shape[-1]
        qkv = self.qkv(x if self.post_norm else self.attn_norm(x))
        qkv = qkv.new_zeros(b * length, qkv.shape[-1]).index_copy(0, flat, qkv)
        q, k, v = qkv.view(b, length, 3, self.heads, d // self.heads).unbind(2)
        if last is not None:
            x, q, attn_mask = x[last], q[:, -1:], attn_mask[..., -1:, :]
        attn = self._attend(q, k, v, attn_mask).reshape(-1, d)
        return self._residual(x, attn[flat] if last is None else attn[valid[:, -1]])

    def _attend(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, attn_mask: torch.Tensor) -> torch.Tensor:
        """q [B, Lq, h, d_h], k and v [B, L, h, d_h] → [B, Lq, h, d_h]."""
        return F.scaled_dot_product_attention(
            q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2),
            attn_mask=attn_mask, dropout_p=self.dropout if self.training else 0.0,
        ).transpose(1, 2)

    def _residual(self, x: torch.Tensor, attn: torch.Tensor) -> torch.Tensor:
        """The output projection, both residuals, the norms and the FFN (per position)."""
        attn = dropout(self.out(attn), self.dropout, self.training)
        if self.post_norm:
            x = self.attn_norm(x + attn)
            return self.ffn_norm(x + self.ffn(x))
        x = x + attn
        return x + self.ffn(self.ffn_norm(x))


class SASRec(nn.Module):
    def __init__(self, cfg: SASRecConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.positions = nn.Embedding(cfg.max_length, cfg.dim)
        nn.init.normal_(self.positions.weight, std=cfg.dim ** -0.5)
        self.emb_dropout = Dropout(cfg.dropout)
        self.blocks = nn.ModuleList(_Block(cfg) for _ in range(cfg.blocks))
        official = cfg.block == "official"
        self.input_norm = nn.LayerNorm(cfg.dim, eps=1e-6) if official else nn.Identity()
        self.final_norm = nn.Identity() if official else nn.LayerNorm(cfg.dim, eps=1e-8)

    def forward(self, item_vectors: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        return self._run(item_vectors, valid, last_only=False)

    def last_state(self, item_vectors: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        """[B, d]: the last position's hidden state (the user vector), skipping the last block's
        other positions."""
        return self._run(item_vectors, valid, last_only=True)[:, -1]

    def _run(self, item_vectors: torch.Tensor, valid: torch.Tensor, last_only: bool) -> torch.Tensor:
        b, length, d = item_vectors.shape
        if length > self.cfg.max_length:
            raise ValueError(f"sequence length {length} exceeds SASRec max_length {self.cfg.max_length}")
        x = item_vectors + self.positions.weight[self.cfg.max_length - length:]
        causal = torch.ones(length, length, dtype=torch.bool, device=x.device).tril()
        # A query may attend to earlier valid keys; each position also sees itself so
        # padded rows never attend to nothing (their outputs are zeroed or dropped).
        mask = ((causal & valid[:, None, :]) | torch.eye(length, dtype=torch.bool, device=x.device)).unsqueeze(1)
        if x.device.type == "cpu" and int(valid.sum()) < PACK_BELOW * valid.numel():
            return self._run_tokens(x, valid, mask, last_only)
        x = self.emb_dropout(self.input_norm(x)) * valid.unsqueeze(-1)
        for i, block in enumerate(self.blocks):
            last = last_only and i == len(self.blocks) - 1
            x = block(x, mask, last_only=last) * (valid[:, -1:] if last else valid).unsqueeze(-1)
        return self.final_norm(x)

    def _run_tokens(self, x: torch.Tensor, valid: torch.Tensor, mask: torch.Tensor, last_only: bool) -> torch.Tensor:
        """``_run`` with every per-position layer on the valid positions alone (short histories
        leave most of the window padding): the same outputs as the padded window's."""
        b, length, d = x.shape
        flat = valid.flatten().nonzero().squeeze(1)
        x = self.emb_dropout(self.input_norm(x.reshape(-1, d)[flat]))
        last_rows = valid[:, -1]
        for i, block in enumerate(self.blocks):
            if last_only and i == len(self.blocks) - 1:
                last = (valid.flatten().cumsum(0) - 1).view(b, length)[:, -1][last_rows]
                x = block.forward_tokens(x, flat, valid, mask, last=last)
                out = x.new_zeros(b, d).index_copy(0, last_rows.nonzero().squeeze(1), x)
                return self.final_norm(out.unsqueeze(1))
            x = block.forward_tokens(x, flat, valid, mask)
        return self.final_norm(x.new_zeros(b * length, d).index_copy(0, flat, x).view(b, length, d))
