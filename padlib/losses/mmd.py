"""Multi-kernel Maximum Mean Discrepancy between two embedding samples (paper §2.2, §3.2).

MMD²(X, Y) = E k(x,x') + E k(y,y') − 2 E k(x,y), the biased (V-statistic) estimate, so
identical samples give exactly 0. The multi-kernel is an equal-weight sum of ``m``
kernels whose bandwidths are σ²_k = 2^k · (mean pairwise squared distance of the pooled
sample, detached), k ∈ ``scales`` (paper: m = 5, k ∈ {−3,−2,−1,0,1}).

A sample with repeated rows (the official loss compares every row of a batch, and an item can
fill several) is passed as its distinct rows with ``weights`` (each row's count): every sum over
pairs of rows becomes a weighted sum over pairs of distinct rows, the same value and gradient for
the square of the distinct fraction of the pairwise work.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

KERNELS = ("gaussian", "laplacian", "linear", "cosine")
DEFAULT_SCALES = (-3, -2, -1, 0, 1)
MULTI_KERNEL = ("mean", "sum")  # how the m kernels combine: averaged, or summed (the official tllib loss)
# The estimator: the biased V-statistic (every pair, 1/n², bandwidth over the off-diagonal pairs), or
# tllib's MultipleKernelMaximumMeanDiscrepancy, which the official code uses: within-sample pairs i ≠ j
# at 1/(n(n−1)), cross pairs at 1/n², plus the constant 2/(n−1), bandwidth over all (2n)² pairs.
ESTIMATORS = ("vstat", "tllib")


def _squared_distances(z: torch.Tensor) -> torch.Tensor:
    sq = (z * z).sum(-1)
    return (sq[:, None] + sq[None, :] - 2.0 * z @ z.T).clamp_min(0.0)


def kernel_matrix(z: torch.Tensor, kernel: str = "gaussian", scales: Sequence[float] = DEFAULT_SCALES,
                  weights: torch.Tensor | None = None) -> torch.Tensor:
    """Kernel values between all rows of the pooled sample ``z`` [n, d] (``weights``: each row's count,
    for the bandwidth's mean pairwise distance over the repeated rows)."""
    if kernel == "linear":
        return z @ z.T
    if kernel == "cosine":
        unit = F.normalize(z, dim=-1)
        return unit @ unit.T
    if kernel not in KERNELS:
        raise ValueError(f"unknown MMD kernel {kernel!r}; expected one of {KERNELS}")
    d2 = _squared_distances(z)
    if weights is None:
        n, pair_sum = z.shape[0], d2.detach().sum()
    else:  # n stays a tensor on the device: no sync
        n, pair_sum = weights.sum(), weights @ d2.detach() @ weights
    base = (pair_sum / torch.as_tensor(n * n - n).clamp_min(1)).clamp_min(1e-12)
    return _kernel(d2, base, kernel, scales)


def mmd2(x: torch.Tensor, y: torch.Tensor, kernel: str = "gaussian",
         scales: Sequence[float] = DEFAULT_SCALES, weights: torch.Tensor | None = None) -> torch.Tensor:
    """Squared MMD between samples ``x`` [n, d] and ``y`` [m, d] (differentiable in both); 0 for
    empty samples. ``weights`` [n] (x and y paired, n = m): row i stands for ``weights[i]`` equal rows
    of both samples."""
    if x.shape[0] == 0 or y.shape[0] == 0:
        return (x.sum() + y.sum()) * 0.0
    if weights is not None and x.shape[0] != y.shape[0]:
        raise ValueError(f"weighted MMD needs paired samples; got {x.shape[0]} and {y.shape[0]} rows")
    if kernel == "gaussian" and x.shape[0] == y.shape[0] and _consecutive(scales):
        return _GaussianMMD.apply(x, y, float(max(scales)), len(scales), weights, "vstat")
    n = x.shape[0]
    pooled = None if weights is None else torch.cat([weights, weights]).to(x.dtype)
    k = kernel_matrix(torch.cat([x, y], dim=0), kernel, scales, pooled)
    if weights is None:
        return k[:n, :n].mean() + k[n:, n:].mean() - 2.0 * k[:n, n:].mean()
    w = pooled[:n]
    return (w @ k[:n, :n] @ w + w @ k[n:, n:] @ w - 2.0 * (w @ k[:n, n:] @ w)) / w.sum() ** 2


def _consecutive(scales: Sequence[float]) -> bool:
    ordered = sorted(scales, reverse=True)
    return all(float(a) - float(b) == 1.0 for a, b in zip(ordered, ordered[1:]))


class _GaussianMMD(torch.autograd.Function):
    """MK-MMD² of two equal-size samples under the Gaussian multi-kernel, with a hand-written backward:
    the V-statistic (``estimator="vstat"``, kernels averaged) or tllib's (``"tllib"``, kernels summed).

    Autograd would keep every intermediate n²-sized tensor (distances, each kernel, the masks) and
    run two matrix products backwards; here the forward keeps only the kernel's derivative, in place,
    and the backward is one matrix product: ∂/∂z_i Σ_jk G_jk ‖z_j − z_k‖² = 4 (z_i Σ_j G_ij − (G z)_i)
    for the symmetric weight G (a pair of a row with itself adds nothing). The bandwidth's base (mean
    pairwise distance, over the off-diagonal pairs for the V-statistic, over all (2n)² for tllib) is
    treated as a constant, as in ``kernel_matrix``. With row ``weights`` w, every pair (i, j) counts
    w_i·w_j times and n is the number of rows they stand for."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, y: torch.Tensor, widest: float, levels: int,
                weights: torch.Tensor | None = None, estimator: str = "vstat") -> torch.Tensor:
        z = torch.cat([x, y], dim=0)
        sq = (z * z).sum(-1)
        d2 = torch.addmm(sq[:, None] + sq[None, :], z, z.T, alpha=-2.0).clamp_min_(0.0)
        w = None if weights is None else torch.cat([weights, weights]).to(z.dtype)
        n = x.shape[0] if w is None else w.sum() / 2               # a tensor when weighted: no device sync
        tllib = estimator == "tllib"
        pairs = torch.as_tensor(4 * n * n if tllib else 4 * n * n - 2 * n).clamp_min(1)
        pair_sum = d2.sum() if w is None else w @ d2 @ w
        a = 0.5 / (pair_sum / pairs).clamp_min(1e-12) / 2.0 ** widest
        power = d2.mul_(-a).exp_()                 # the widest kernel; d2 is not needed any more
        total = power.clone()
        slope = power.clone() if ctx.needs_input_grad[0] or ctx.needs_input_grad[1] else None
        for level in range(1, levels):
            power.mul_(power)                      # the next narrower kernel: exp(−a·2^level·d²)
            total.add_(power)
            if slope is not None:
                slope.add_(power, alpha=2.0 ** level)
        m = x.shape[0]
        # each row with itself, Σ_i w_i·k_ii: tllib's within-sample sums leave these pairs out
        self_pairs = total.diagonal().sum() if w is None else w @ total.diagonal()
        if w is not None:
            total.mul_(w[:, None]).mul_(w[None, :])
        within, cross = total[:m, :m].sum() + total[m:, m:].sum(), total[:m, m:].sum()
        if tllib:  # within-sample pairs i ≠ j at 1/(n(n−1)), cross pairs at 1/n², + 2/(n−1)
            scale_within, scale_cross = 1.0 / (n * (n - 1)), 1.0 / (n * n)
            value = (within - self_pairs) * scale_within - 2.0 * cross * scale_cross + 2.0 / (n - 1)
        else:
            scale_within = scale_cross = 1.0 / (n * n * levels)
            value = (within - 2.0 * cross) * scale_within
        if slope is not None:
            if w is not None:
                slope.mul_(w[:, None]).mul_(w[None, :])
            ctx.save_for_backward(z, slope, a)
        ctx.m, ctx.scales = m, (scale_within, scale_cross)
        return value

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        z, slope, a = ctx.saved_tensors
        m, (scale_within, scale_cross) = ctx.m, ctx.scales
        weight = slope * (-a * grad)                   # ∂value/∂d²_ij before each block's scale and sign
        weight[:m, :m].mul_(scale_within)
        weight[m:, m:].mul_(scale_within)
        weight[:m, m:].mul_(-scale_cross)
        weight[m:, :m].mul_(-scale_cross)
        grad_z = 4.0 * (z * weight.sum(1, keepdim=True) - weight @ z)
        return grad_z[:m], grad_z[m:], None, None, None, None


def _kernel(d2: torch.Tensor, base: torch.Tensor, kernel: str, scales: Sequence[float]) -> torch.Tensor:
    """Multi-kernel values from squared distances ``d2`` and the detached mean ``base`` (broadcast).

    Gaussian kernels at consecutive integer scales k are powers of the widest one:
    exp(−d²/(2σ²·2^(k−1))) = exp(−d²/(2σ²·2^k))², so one exp and repeated squaring give all of them
    (the MMD's elementwise work over the n² pairs is most of phase 2's cost).
    """
    ordered = sorted(scales, reverse=True)
    if kernel == "gaussian" and _consecutive(scales):
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


def tllib_mmd2(x: torch.Tensor, y: torch.Tensor, scales: Sequence[float] = DEFAULT_SCALES,
               weights: torch.Tensor | None = None) -> torch.Tensor:
    """tllib's Gaussian MK-MMD estimate (``tllib.alignment.dan``), the official code's loss, with the
    m kernels summed: Σ_k exp(−d²/(2·2^k·σ̄²)), σ̄² the mean squared distance over all (2n)² pairs of
    the pooled sample, zero diagonal included (detached); within-sample pairs i ≠ j weigh
    1/(n(n−1)), cross pairs −1/n² (both blocks), and 2/(n−1) is added for the missing diagonal.
    ``weights`` [n] (x and y paired): row i stands for ``weights[i]`` equal rows of both samples,
    and the within-sample sums drop each stood-for row's pair with itself."""
    if x.shape != y.shape:
        raise ValueError(f"the tllib estimator needs paired samples; got {tuple(x.shape)} and {tuple(y.shape)}")
    if _consecutive(scales):
        return _GaussianMMD.apply(x, y, float(max(scales)), len(scales), weights, "tllib")
    w = torch.ones(x.shape[0], dtype=x.dtype, device=x.device) if weights is None else weights.to(x.dtype)
    z = torch.cat([x, y])
    pooled = torch.cat([w, w])
    d2 = _squared_distances(z)
    n = w.sum()
    base = (pooled @ d2.detach() @ pooled) / (2.0 * n) ** 2
    k = sum(torch.exp(-d2 / (2.0 * 2.0 ** s * base)) for s in scales)
    m = x.shape[0]
    diagonal = (w * k.diagonal()[:m]).sum() + (w * k.diagonal()[m:]).sum()  # each row with itself
    within = w @ k[:m, :m] @ w + w @ k[m:, m:] @ w - diagonal
    return within / (n * (n - 1)) - 2.0 * (w @ k[:m, m:] @ w) / n ** 2 + 2.0 / (n - 1)


def grouped_mmd2(x: torch.Tensor, y: torch.Tensor, valid: torch.Tensor, kernel: str = "gaussian",
                 scales: Sequence[float] = DEFAULT_SCALES, multi_kernel: str = "mean",
                 weights: torch.Tensor | None = None, estimator: str = "vstat") -> torch.Tensor:
    """The mean over G paired samples of ``mmd2``: x, y [G, n, d], group g being the rows where
    ``valid`` [G, n] is True (both samples have the same rows), each row standing for ``weights``
    [G, n] rows when given. One group at a time keeps each group's n²-sized work in cache.

    ``multi_kernel: sum`` adds the m Gaussian or Laplacian kernels instead of averaging them, as the
    official code's tllib loss does: the same MMD times m (MMD² is linear in the kernel).
    ``estimator: tllib`` computes each group's value as ``tllib_mmd2`` (Gaussian kernel only; its
    kernels are summed, so ``multi_kernel: mean`` divides it by m)."""
    if multi_kernel not in MULTI_KERNEL:
        raise ValueError(f"unknown multi-kernel combination {multi_kernel!r}; expected one of {MULTI_KERNEL}")
    if kernel not in KERNELS:
        raise ValueError(f"unknown MMD kernel {kernel!r}; expected one of {KERNELS}")
    if estimator not in ESTIMATORS:
        raise ValueError(f"unknown MMD estimator {estimator!r}; expected one of {ESTIMATORS}")
    if estimator == "tllib":
        if kernel != "gaussian":
            raise ValueError(f"the tllib MMD estimator has Gaussian kernels only, not {kernel!r}")
        total = sum(tllib_mmd2(x[g][valid[g]], y[g][valid[g]], scales,
                               None if weights is None else weights[g][valid[g]]) for g in range(x.shape[0]))
        return total / x.shape[0] / (len(scales) if multi_kernel == "mean" else 1)
    total = sum(mmd2(x[g][valid[g]], y[g][valid[g]], kernel, scales, None if weights is None else weights[g][valid[g]])
                for g in range(x.shape[0]))
    summed = multi_kernel == "sum" and kernel in ("gaussian", "laplacian")
    return total / x.shape[0] * (len(scales) if summed else 1)
