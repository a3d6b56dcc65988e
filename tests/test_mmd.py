import itertools
import math
from collections.abc import Callable

import pytest
import torch

from padlib.losses.mmd import DEFAULT_SCALES, KERNELS, kernel_matrix, mmd2


def reference_kernel(kernel: str, z: torch.Tensor) -> Callable[[torch.Tensor, torch.Tensor], float]:
    """Each kernel written out on one pair of rows, with σ²_k = 2^k · the mean squared distance over the
    pairs of distinct rows of the pooled sample ``z``: Gaussian mean_k exp(−d²/2σ²_k), Laplacian
    mean_k exp(−d/σ_k), linear ⟨a, b⟩, cosine ⟨a, b⟩ / (|a| |b|)."""
    n = len(z)
    pairs = [(i, j) for i, j in itertools.product(range(n), repeat=2) if i != j]
    base = sum(float(((z[i] - z[j]) ** 2).sum()) for i, j in pairs) / len(pairs)

    def k(a: torch.Tensor, b: torch.Tensor) -> float:
        dot = float((a * b).sum())
        if kernel == "linear":
            return dot
        if kernel == "cosine":
            return dot / math.sqrt(float((a * a).sum()) * float((b * b).sum()))
        d2 = float(((a - b) ** 2).sum())
        if kernel == "gaussian":
            return sum(math.exp(-d2 / (2 * base * 2.0 ** s)) for s in DEFAULT_SCALES) / len(DEFAULT_SCALES)
        return sum(math.exp(-math.sqrt(d2 / (base * 2.0 ** s))) for s in DEFAULT_SCALES) / len(DEFAULT_SCALES)

    return k


def direct_mmd2(x: torch.Tensor, y: torch.Tensor, kernel: str = "gaussian") -> float:
    """Textbook double loop: E k(x,x') + E k(y,y') − 2 E k(x,y) over every pair, ``reference_kernel``'s k."""
    z = torch.cat([x, y]).double()
    k = reference_kernel(kernel, z)
    nx, ny = len(x), len(y)
    xx = sum(k(z[i], z[j]) for i in range(nx) for j in range(nx)) / nx ** 2
    yy = sum(k(z[nx + i], z[nx + j]) for i in range(ny) for j in range(ny)) / ny ** 2
    xy = sum(k(z[i], z[nx + j]) for i in range(nx) for j in range(ny)) / (nx * ny)
    return xx + yy - 2 * xy


def test_identical_samples_give_zero():
    x = torch.randn(32, 8, generator=torch.Generator().manual_seed(0))
    assert abs(mmd2(x, x.clone()).item()) < 1e-6


def test_grows_with_mean_shift():
    g = torch.Generator().manual_seed(1)
    x, y = torch.randn(64, 4, generator=g), torch.randn(64, 4, generator=g)
    values = [mmd2(x, y + shift).item() for shift in (0.0, 0.5, 1.0, 2.0)]
    assert values == sorted(values)
    assert values[-1] > 10 * values[0]


@pytest.mark.parametrize("kernel", KERNELS)
def test_matches_double_loop(kernel):
    g = torch.Generator().manual_seed(2)
    x, y = torch.randn(5, 3, generator=g), torch.randn(7, 3, generator=g) + 0.3
    assert mmd2(x, y, kernel=kernel).item() == pytest.approx(direct_mmd2(x, y, kernel), rel=1e-4, abs=1e-6)


@pytest.mark.parametrize("kernel", KERNELS)
def test_kernel_values_match_their_formula(kernel):
    z = torch.randn(6, 3, generator=torch.Generator().manual_seed(6), dtype=torch.float64) + 0.5
    k = reference_kernel(kernel, z)
    expected = torch.tensor([[k(a, b) for b in z] for a in z], dtype=torch.float64)
    assert torch.allclose(kernel_matrix(z, kernel), expected, rtol=1e-6, atol=1e-5)


def test_linear_kernel_mmd_is_the_squared_distance_of_the_means():
    g = torch.Generator().manual_seed(7)
    x, y = torch.randn(8, 4, generator=g, dtype=torch.float64), torch.randn(8, 4, generator=g, dtype=torch.float64)
    assert mmd2(x, y, kernel="linear").item() == pytest.approx(float(((x.mean(0) - y.mean(0)) ** 2).sum()), rel=1e-9)


@pytest.mark.parametrize("kernel", ["gaussian", "laplacian", "linear", "cosine"])
def test_gradients_reach_both_inputs(kernel):
    g = torch.Generator().manual_seed(3)
    x = torch.randn(16, 4, generator=g, requires_grad=True)
    y = (torch.randn(16, 4, generator=g) + 1.0).requires_grad_()
    mmd2(x, y, kernel=kernel).backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    assert y.grad is not None and y.grad.abs().sum() > 0


def test_unknown_kernel_is_rejected():
    with pytest.raises(ValueError, match="unknown MMD kernel"):
        mmd2(torch.zeros(2, 2), torch.ones(2, 2), kernel="rbf")


def test_info_nce_prefers_matched_pairs_and_has_gradients():
    from padlib.losses.infonce import info_nce

    g = torch.Generator().manual_seed(5)
    x = torch.randn(32, 8, generator=g, requires_grad=True)
    matched = info_nce(x, x.detach() + 0.01 * torch.randn(32, 8, generator=g))
    shuffled = info_nce(x, x.detach()[torch.randperm(32, generator=g)])
    assert matched.item() < 0.1 < shuffled.item()
    matched.backward()
    assert x.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="paired samples"):
        info_nce(torch.zeros(3, 2), torch.zeros(4, 2))


@pytest.mark.parametrize("kernel", ["gaussian", "laplacian", "linear", "cosine"])
def test_grouped_mmd_is_the_mean_of_each_groups_mmd(kernel):
    from padlib.losses.mmd import grouped_mmd2
    torch.manual_seed(0)
    sizes = [5, 9, 1, 7]
    x, y = torch.randn(4, 9, 6, requires_grad=True), torch.randn(4, 9, 6)
    valid = torch.zeros(4, 9, dtype=torch.bool)
    for g, size in enumerate(sizes):
        valid[g, :size] = True
    expected = sum(mmd2(x[g, :size], y[g, :size], kernel=kernel) for g, size in enumerate(sizes)) / 4
    got = grouped_mmd2(x, y, valid, kernel=kernel)
    assert torch.allclose(got, expected, atol=1e-5)
    got.backward()
    assert torch.isfinite(x.grad).all() and (x.grad[~valid] == 0).all()


def test_gaussian_kernels_by_repeated_squaring_equal_the_direct_sum():
    torch.manual_seed(3)
    z = torch.randn(40, 8)
    d2 = torch.cdist(z, z) ** 2
    base = d2.sum() / (40 * 40 - 40)
    direct = sum(torch.exp(-d2 / (2.0 * base * 2.0 ** k)) for k in DEFAULT_SCALES) / len(DEFAULT_SCALES)
    assert torch.allclose(kernel_matrix(z, "gaussian"), direct, atol=1e-5)
    odd = (-2, 0.5, 3)  # not consecutive: the direct sum is used
    direct_odd = sum(torch.exp(-d2 / (2.0 * base * 2.0 ** k)) for k in odd) / 3
    assert torch.allclose(kernel_matrix(z, "gaussian", odd), direct_odd, atol=1e-5)


def reference_mmd2(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The Gaussian MK-MMD² through autograd (kernel_matrix), the fused path's reference."""
    n = x.shape[0]
    k = kernel_matrix(torch.cat([x, y]), "gaussian")
    return k[:n, :n].mean() + k[n:, n:].mean() - 2.0 * k[:n, n:].mean()


@pytest.mark.parametrize("duplicates", [False, True])
def test_fused_gaussian_mmd_matches_autograd_in_value_and_gradient(duplicates):
    torch.manual_seed(4)
    x = torch.randn(30, 6, dtype=torch.float64)
    y = torch.randn(30, 6, dtype=torch.float64) * 1.5 + 0.3
    if duplicates:  # the official "rows" sample repeats items: zero distances inside each sample
        x[10:20], y[10:20] = x[:10], y[:10]
    grads = []
    for f in (mmd2, reference_mmd2):
        xs, ys = x.clone().requires_grad_(), y.clone().requires_grad_()
        value = f(xs, ys)
        (3.0 * value).backward()
        grads.append((value.detach(), xs.grad, ys.grad))
    for fused, reference in zip(*grads):
        assert torch.allclose(fused, reference, rtol=1e-9, atol=1e-12)


def test_empty_group_contributes_zero():
    from padlib.losses.mmd import grouped_mmd2
    x = torch.randn(2, 4, 3, requires_grad=True)
    valid = torch.tensor([[True, True, True, False], [False] * 4])
    got = grouped_mmd2(x, x.detach() + 1.0, valid)
    assert torch.isfinite(got) and got.item() == pytest.approx(mmd2(x[0, :3], x[0, :3].detach() + 1.0).item() / 2)
    got.backward()
    assert (x.grad[1] == 0).all()


@pytest.mark.parametrize("kernel", ["gaussian", "laplacian", "linear", "cosine"])
def test_weighted_distinct_rows_equal_the_repeated_rows_in_value_and_gradient(kernel):
    g = torch.Generator().manual_seed(11)
    x = torch.randn(7, 5, generator=g, dtype=torch.float64, requires_grad=True)
    y = torch.randn(7, 5, generator=g, dtype=torch.float64, requires_grad=True)
    counts = torch.tensor([1, 3, 1, 2, 1, 4, 1])
    repeated = torch.repeat_interleave(torch.arange(7), counts)
    full = mmd2(x[repeated], y[repeated], kernel=kernel)
    grad_full = torch.autograd.grad(full, (x, y))
    weighted = mmd2(x, y, kernel=kernel, weights=counts)
    grad_weighted = torch.autograd.grad(weighted, (x, y))
    assert weighted.item() == pytest.approx(full.item(), rel=1e-12, abs=1e-14)
    for a, b in zip(grad_weighted, grad_full):   # gradients ~1e-2; the Laplacian's sqrt(d² + 1e-12) amplifies
        assert torch.allclose(a, b, rtol=1e-8, atol=1e-9)   # the rounding of d² between copies of a row
    with pytest.raises(ValueError, match="paired"):
        mmd2(x, y[:3], kernel=kernel, weights=counts)


def test_tllib_estimator_matches_tllib_on_repeated_rows():
    """padlib's tllib estimator over distinct rows with counts equals tllib's loss over the repeated
    rows (transcribed in tests/official_reference.py), value and gradient, in float64."""
    from padlib.losses.mmd import grouped_mmd2
    from tests.official_reference import tllib_mkmmd

    g = torch.Generator().manual_seed(4)
    x = torch.randn(6, 5, generator=g, dtype=torch.float64, requires_grad=True)
    y = (torch.randn(6, 5, generator=g, dtype=torch.float64) + 0.4).requires_grad_()
    counts = torch.tensor([3, 1, 2, 1, 4, 1])
    rows = torch.repeat_interleave(torch.arange(6), counts)
    expected = tllib_mkmmd(x[rows], y[rows])
    ex_grad = torch.autograd.grad(expected, (x, y))
    valid = torch.ones(1, 6, dtype=torch.bool)
    got = grouped_mmd2(x[None], y[None], valid, multi_kernel="sum", weights=counts[None].double(), estimator="tllib")
    got_grad = torch.autograd.grad(got, (x, y))
    assert float(got.detach()) == pytest.approx(float(expected.detach()), abs=1e-12)
    for a, b in zip(got_grad, ex_grad):
        assert torch.allclose(a, b, atol=1e-12, rtol=0)
    vstat = grouped_mmd2(x[None], y[None], valid, multi_kernel="sum", weights=counts[None].double())
    assert abs(float(vstat.detach()) - float(expected.detach())) > 1e-3  # the two estimators differ: the test can tell them apart


def test_tllib_estimator_matches_tllib_without_weights():
    """The unweighted sample (``align.sample: rows`` keeps no counts when a group has no repeats) goes
    through the same fused estimator: tllib's value and gradient in float64."""
    from padlib.losses.mmd import grouped_mmd2
    from tests.official_reference import tllib_mkmmd

    g = torch.Generator().manual_seed(5)
    x = torch.randn(7, 4, generator=g, dtype=torch.float64, requires_grad=True)
    y = (torch.randn(7, 4, generator=g, dtype=torch.float64) * 1.5).requires_grad_()
    expected = tllib_mkmmd(x, y)
    ex_grad = torch.autograd.grad(expected, (x, y))
    got = grouped_mmd2(x[None], y[None], torch.ones(1, 7, dtype=torch.bool), multi_kernel="sum", estimator="tllib")
    got_grad = torch.autograd.grad(got, (x, y))
    assert float(got.detach()) == pytest.approx(float(expected.detach()), abs=1e-12)
    for a, b in zip(got_grad, ex_grad):
        assert torch.allclose(a, b, atol=1e-12, rtol=0)
