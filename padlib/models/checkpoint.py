"""Checkpoint files: what a training stage saves and every reader loads.

Only tensors and plain containers go in, so a checkpoint is read back with ``weights_only=True``:
a crafted file cannot run code when a stage, ``pad recommend`` or a user loads it. Rebuilding the
model a checkpoint holds is :func:`padlib.models.build.rebuild`.
"""

from __future__ import annotations

import os
import pickle
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from padlib.errors import DataError
from padlib.io import rerun_hint, save_torch, verify_artifact

if TYPE_CHECKING:
    from padlib.models.build import ModelConfig

PLAIN_SCALARS = (str, int, float, bool, type(None))


def check_plain(value: Any, where: str = "checkpoint") -> None:
    """A TypeError naming the key for anything but tensors and plain containers, before it is saved:
    ``torch.load(weights_only=True)`` could not read it back."""
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, (str, int)):
                raise TypeError(f"{where}: key {key!r} is a {type(key).__name__}; checkpoints hold str/int keys only")
            check_plain(item, f"{where}[{key!r}]")
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            check_plain(item, f"{where}[{i}]")
    elif type(value) not in PLAIN_SCALARS and not isinstance(value, torch.Tensor):
        raise TypeError(f"{where} is a {type(value).__module__}.{type(value).__name__}; checkpoints hold only "
                        "tensors, dicts, lists, str, int, float, bool and None (convert it first)")


def save_checkpoint(path: str | os.PathLike[str], model: nn.Module, *, phase: str, n_items: int,
                    max_length: int, model_cfg: ModelConfig, extra: dict[str, Any]) -> None:
    """Tensors plus plain metadata only, so that :func:`load_checkpoint` can read it with ``weights_only``."""
    payload = {"phase": phase, "n_items": n_items, "max_length": max_length, "model": asdict(model_cfg),
               "state_dict": model.state_dict(), **extra}
    check_plain(payload)
    save_torch(payload, path)


def unpickling_detail(exc: Exception) -> str:
    """The line of torch's weights-only refusal that names the offending object, without its advice to
    retry with ``weights_only=False`` (the very thing that would run the file's code)."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    named = [line for line in lines if "weights_only" not in line and "documentation" not in line]
    return (named or lines or [type(exc).__name__])[0]


def load_checkpoint(path: str | os.PathLike[str]) -> dict[str, Any]:
    """A checkpoint's contents, checked against its manifest and unpickled with ``weights_only=True``.

    weights_only lets unpickling build only tensors and plain containers, so a crafted file
    cannot run code when a stage, ``pad recommend`` or a user loads it; such a file, or a
    corrupt or truncated one, is a DataError naming it.
    """
    verify_artifact(path)
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError as exc:
        raise DataError(f"{path}: no such checkpoint; {rerun_hint(path)}") from exc
    except pickle.UnpicklingError as exc:
        raise DataError(f"{path}: not a safe checkpoint, refused: it holds objects other than tensors and plain "
                        f"containers, which could run code when loaded ({unpickling_detail(exc)}); "
                        f"{rerun_hint(path)}") from exc
    except (RuntimeError, EOFError, OSError, ValueError) as exc:
        raise DataError(f"{path}: not a readable checkpoint, it is corrupt or truncated ({exc}); "
                        f"{rerun_hint(path)}") from exc
    if not isinstance(checkpoint, dict) or "state_dict" not in checkpoint:
        raise DataError(f"{path}: not a padlib checkpoint (expected a dict with a 'state_dict'; "
                        f"got {type(checkpoint).__name__}); {rerun_hint(path)}")
    return checkpoint
