"""Device and dtype selection shared by the text encoders and the training code.

Configs say ``device: auto`` / ``dtype: auto`` so the same workflow runs on a laptop
CPU and on a GPU node; these helpers turn those strings into torch objects in one place.
"""

from __future__ import annotations

import torch

_DTYPES: dict[str, torch.dtype] = {
    "float32": torch.float32,
    "bfloat16": torch.bfloat16,
    "float16": torch.float16,
}


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``auto`` picks CUDA when available, else CPU; ``cpu``, ``cuda`` and ``cuda:N`` are taken as given."""
    if isinstance(device, torch.device):
        return device
    name = device.strip().lower()
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cpu" or name == "cuda" or (name.startswith("cuda:") and name[5:].isdigit()):
        resolved = torch.device(name)
    else:
        raise ValueError(f"unknown device {device!r}; use 'auto', 'cpu', 'cuda' or 'cuda:N'")
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"device {device!r} requested but CUDA is not available")
    return resolved


def resolve_dtype(dtype: str | torch.dtype = "auto", device: str | torch.device = "auto") -> torch.dtype:
    """``auto`` is bfloat16 on CUDA (halves memory, Ampere+ runs it natively) and float32 on CPU."""
    if isinstance(dtype, torch.dtype):
        return dtype
    name = dtype.strip().lower()
    if name == "auto":
        return torch.bfloat16 if resolve_device(device).type == "cuda" else torch.float32
    if name not in _DTYPES:
        raise ValueError(f"unknown dtype {dtype!r}; use 'auto' or one of {sorted(_DTYPES)}")
    return _DTYPES[name]


def native_bf16(device: torch.device) -> bool:
    """Whether bf16 matmuls run natively (faster than fp32): CUDA, or a CPU with AVX512-BF16 or AMX.

    Elsewhere bf16 is emulated on the CPU and slower than fp32, so ``precision: auto`` keeps fp32.
    """
    if device.type == "cuda":
        return True
    if device.type != "cpu":
        return False
    probes = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(getattr(torch.cpu, name, lambda: False)() for name in probes)
