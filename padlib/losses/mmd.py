"""Multi-kernel Maximum Mean Discrepancy between two embedding samples (paper §2.2, §3.2).

MMD²(X, Y) = E k(x,x') + E k(y,y') − 2 E k(x,y), the biased (V-statistic) estimate, so
identical samples give exactly 0. The multi-kernel is an equal-weight sum of ``m``
kernels whose bandwidths are σ²_k = 2^k · (mean pairwise squared distance of the pooled
sample, detached), k ∈ ``scales`` (paper: m = 5, k ∈ {−3,−2,−1,0,1}).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

KERNELS = ("gaussian", "laplacian", "linear", "cosine")
DEFAULT_SCALES = (-3, -2, -1, 0, 1)
MULTI_KERNEL = ("mean", "sum")  # how the m kernels combine: averaged, or summed (the official tllib loss)


def _squared_distances(z: torch.Tensor) -> torch.Tensor:
    sq = (z * z).sum(-1)
    return (sq[:, None] + sq[None, :] - 2.0 * z @ z.T).clamp_min(0.0)


def kernel_matrix(z: torch.Tensor, kernel: str = "gaussian", scales: Sequence[float] = DEFAULT_SCALES) -> torch.Tensor:
    """Kernel values between all rows of the pooled sample ``z`` [n, d]."""
    if kernel == "linear":
        return z @ z.T
    if kernel == "cosine":
        unit = F.normalize(z, dim=-1)
        return unit @ unit.T
    if kernel not in KERNELS:
        raise ValueError(f"unknown MMD kernel {kernel!r}; expected one of {KERNELS}")
    d2 = _squared_distances(z)
    n = z.shape[0]
    base = (d2.detach().sum() / max(n * n - n, 1)).clamp_min(1e-12)
    return _kernel(d2, base, kernel, scales)


def mmd2(x: torch.Tensor, y: torch.Tensor, kernel: str = "gaussian",
         scales: Sequence[float] = DEFAULT_SCALES) -> torch.Tensor:
    """Squared MMD between samples ``x`` [n, d] and ``y`` [m, d] (differentiable in both)."""
    n = x.shape[0]
    k = kernel_matrix(torch.cat([x, y], dim=0), kernel, scales)
    return k[:n, :n].mean() + k[n:, n:].mean() - 2.0 * k[:n, n:].mean()


def _kernel(d2: torch.Tensor, base: torch.Tensor, kernel: str, scales: Sequence[float]) -> torch.Tensor:
    """Multi-kernel values from squared distances ``d2`` and the detached mean ``base`` (broadcast).

    Gaussian kernels at consecutive integer scales k are powers of the widest one:
    exp(−d²/(2σ²·2^(k−1))) = exp(−d²/(2σ²·2^k))², so one exp and repeated squaring give all of them
    (the MMD's elementwise work over the n² pairs is most of phase 2's cost).
    """
    ordered = sorted(scales, reverse=True)
    if kernel == "gaussian" and all(float(a) - float(b) == 1.0 for a, b in zip(ordered, ordered[1:])):
        power = torch.exp(d2 * (-0.5 / (base * 2.0 ** ordered[0])))
        total = power
        for _ in ordered[1:]:
            power = power * power
            total = total + power
        return total / len(scales)
    total = torch.zeros_like(d2)
    if kernel == "gaussian":
        for k in scales:
            total = total + torch.exp(-d2 / (2.0 * base * 2.0 ** k))
    else:
        dist = torch.sqrt(d2 + 1e-12)
        for k in scales:
            total = total + torch.exp(-dist / torch.sqrt(base * 2.0 ** k))
    return total / len(scales)


def grouped_mmd2(x: torch.Tensor, y: torch.Tensor, valid: torch.Tensor, kernel: str = "gaussian",
                 scales: Sequence[float] = DEFAULT_SCALES, multi_kernel: str = "mean") -> torch.Tensor:
    """``mmd2`` of G paired samples at once, averaged over the groups: x, y [G, n, d] (rows of group g
    where ``valid`` [G, n] is True; both samples have the same rows). Equals the mean of
    ``mmd2(x[g][valid[g]], y[g][valid[g]])`` over g, as one batched computation rather than G small ones.

    ``multi_kernel: sum`` adds the m Gaussian or Laplacian kernels instead of averaging them, as the
    official code's tllib loss does: the same MMD times m (MMD² is linear in the kernel)."""
    if multi_kernel not in MULTI_KERNEL:
        raise ValueError(f"unknown multi-kernel combination {multi_kernel!r}; expected one of {MULTI_KERNEL}")
    n = x.shape[1]
    z = torch.cat([x, y], dim=1)                                         # [G, 2n, d]
    zvalid = torch.cat([valid, valid], dim=1)
    pair = (zvalid[:, :, None] & zvalid[:, None, :]).to(z.dtype)         # [G, 2n, 2n]
    m = zvalid.sum(1).to(z.dtype)                                        # pooled sample sizes
    if kernel in ("linear", "cosine"):
        unit = F.normalize(z, dim=-1) if kernel == "cosine" else z
        k = unit @ unit.transpose(1, 2)
    elif kernel in KERNELS:
        sq = (z * z).sum(-1)
        d2 = (sq[:, :, None] + sq[:, None, :] - 2.0 * z @ z.transpose(1, 2)).clamp_min(0.0) * pair
        base = (d2.detach().sum((1, 2)) / (m * m - m).clamp_min(1)).clamp_min(1e-12)
        k = _kernel(d2, base[:, None, None], kernel, scales)
    else:
        raise ValueError(f"unknown MMD kernel {kernel!r}; expected one of {KERNELS}")
    k = k * pair
    count = ((m / 2) ** 2).clamp_min(1)                                  # pairs within one sample
    per_group = (k[:, :n, :n].sum((1, 2)) + k[:, n:, n:].sum((1, 2)) - 2.0 * k[:, :n, n:].sum((1, 2))) / count
    summed = multi_kernel == "sum" and kernel in ("gaussian", "laplacian")
    return per_group.mean() * (len(scales) if summed else 1)
