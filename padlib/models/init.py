"""Weight initialisation schemes for experts (``model.init``).

``torch``: PyTorch's defaults for Linear layers and N(0, 1/d) item and position tables.
``xavier``: the official PAD code's ``_init_weights`` (``model/encoders.py``): xavier_normal_
for every Linear and Embedding weight and zero Linear biases; LayerNorms keep ones and zeros.
Under PyTorch's defaults, five stacked projection layers map every item's text to nearly the
same vector; under xavier the item-to-item spread stays comparable to the shared component.
"""

from __future__ import annotations

import torch
from torch import nn

from padlib.errors import ConfigError

INITS = ("torch", "xavier")


@torch.no_grad()
def initialise(module: nn.Module, scheme: str) -> nn.Module:
    """Re-initialise ``module``'s Linear and Embedding weights by ``scheme``; padding rows stay zero."""
    if scheme not in INITS:
        raise ConfigError(f"model.init: {scheme!r} is not one of {list(INITS)}")
    if scheme == "xavier":
        for m in module.modules():
            if isinstance(m, (nn.Linear, nn.Embedding)):
                nn.init.xavier_normal_(m.weight)
            if isinstance(m, nn.Linear) and m.bias is not None:
                nn.init.zeros_(m.bias)
            if isinstance(m, nn.Embedding) and m.padding_idx is not None:
                m.weight[m.padding_idx].zero_()
    return module
