"""Weight initialisation schemes for experts (``model.init``).

``torch``: PyTorch's defaults for Linear layers and N(0, 1/d) item and position tables.
``xavier``: the official PAD code's ``_init_weights`` (``model/encoders.py``): xavier_normal_
for every Linear and Embedding weight and zero Linear biases; LayerNorms keep ones and zeros.
Under PyTorch's defaults, five stacked projection layers map every item's text to nearly the
same vector; under xavier the item-to-item spread stays comparable to the shared component.
``xavier-linear``: xavier for the Linear layers only; the item and position tables keep N(0, 1/d).
SASRec's fused [3d, d] Q/K/V matrix gets xavier as the official three [d, d] matrices do
(std sqrt(2 / 2d), not the fused matrix's sqrt(2 / 4d)).
xavier_normal_ on an [N + 1, d] item table gives std sqrt(2 / (N + 1 + d)), 0.015 for Prime
Pantry's 8,347 items, a sixth of the 20-row position table's: behind the official block's
LayerNorm(item + position) the items start nearly invisible.
"""

from __future__ import annotations

import torch
from torch import nn

from padlib.errors import ConfigError

INITS = ("torch", "xavier", "xavier-linear")


@torch.no_grad()
def initialise(module: nn.Module, scheme: str) -> nn.Module:
    """Re-initialise ``module``'s Linear and Embedding weights by ``scheme``; padding rows stay zero."""
    if scheme not in INITS:
        raise ConfigError(f"model.init: {scheme!r} is not one of {list(INITS)}")
    if scheme != "torch":
        kinds = (nn.Linear, nn.Embedding) if scheme == "xavier" else (nn.Linear,)
        for m in module.modules():
            if isinstance(m, kinds):
                nn.init.xavier_normal_(m.weight)
            if isinstance(m, nn.Linear) and m.bias is not None:
                nn.init.zeros_(m.bias)
            if isinstance(m, nn.Embedding) and m.padding_idx is not None:
                m.weight[m.padding_idx].zero_()
        for m in module.modules():  # after the Linears themselves: a SASRec block's fused Q, K, V
            if isinstance(getattr(m, "qkv", None), nn.Linear):
                for part in m.qkv.weight.chunk(3):
                    nn.init.xavier_normal_(part)
    return module
