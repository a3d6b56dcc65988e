"""The float16 serving screen: its error bound holds against float64 scores on hard catalogues,
and one user's top-k through it is the fp32 top-k, falling back to fp32 when the bound cannot decide."""

import numpy as np
import pytest
import torch

from padlib.evaluation.ranking import _screened_top_k, top_k
from padlib.models.screen import HalfScreen
from padlib.models.build import ModelConfig, pad_model
from padlib.models.recommender import Catalog


def catalogues() -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    gauss = torch.randn(3000, 48, generator=g)
    heavy = torch.randn(3000, 48, generator=g) * torch.rand(3000, 1, generator=g).pow(-2)  # row norms over 10^4x
    mixed = torch.randn(3000, 48, generator=g) * 10.0 ** torch.randint(-8, 3, (3000, 48), generator=g)
    return {"gauss": gauss, "heavy": heavy, "mixed": mixed, "tiny": gauss * 1e-30, "huge": gauss * 1e30,
            "zero rows": torch.cat([gauss[:2000], torch.zeros(1000, 48)])}


@pytest.mark.parametrize("name", list(catalogues()))
def test_the_screen_error_stays_within_its_bound(name):
    matrix = catalogues()[name]
    screen = HalfScreen.build(matrix)
    g = torch.Generator().manual_seed(1)
    typical = matrix.norm(dim=1).median().item() or 1.0
    for scale in (1e-6, 1e-3, 1.0, 1e4, 1e6):  # scores span fp32's range, as the fp32 path's do
        user = torch.randn(48, generator=g) * scale / typical
        screened, bound = screen.scores(user)
        exact = matrix.double() @ user.double()
        error = (screened.double() - exact).abs().max().item()
        reach = user.double().norm().item() * matrix.double().norm(dim=1).max().item()
        assert error <= bound, (name, scale, error, bound)
        assert bound <= 1e-2 * reach  # the bound is tight enough to decide rankings


def pad(n_items: int = 5000):
    torch.manual_seed(0)
    cfg = ModelConfig(dim=16, backbone={"name": "sasrec", "blocks": 1, "heads": 2, "ffn_dim": 32})
    text = torch.randn(n_items + 1, 24)
    buckets = torch.randint(1, 5, (n_items + 1,))
    init = {"id": [1.0, 0.0], "aligned": [-4.0, -5.0], "text": [0.0, 1.0]}
    return pad_model(n_items, text, buckets, 4, cfg, 8, init).eval()


def test_one_user_through_the_screen_gets_the_fp32_top_k():
    model = pad()
    history = torch.randint(0, 5001, (40, 8))
    catalog = model.catalog()
    serving = catalog.for_serving()
    accepted = 0
    with torch.inference_mode():
        for u in range(history.shape[0]):
            user = history[u:u + 1]
            plain = top_k(model, user, 5000, k=10, catalog=catalog)
            screened = top_k(model, user, 5000, k=10, catalog=serving)
            assert (plain[0] == screened[0]).all()
            assert np.allclose(plain[1], screened[1], rtol=1e-5)
            assert not set(plain[0][0]) & set(user[0].tolist())
            accepted += _screened_top_k(serving, model.users(user, serving)[0], user, 5000, 10) is not None
    assert accepted >= 35  # the screen decides almost every user by itself


def test_near_ties_fall_back_to_fp32():
    """Items 0..99 score within the screen's error of each other: the screen cannot order them."""
    torch.manual_seed(0)
    vectors = torch.randn(1, 16).repeat(1001, 1)
    vectors[1:] += 1e-6 * torch.randn(1000, 16)
    catalog = Catalog([vectors], vectors).for_serving()
    user, hist = torch.randn(16), torch.tensor([[0, 5, 9]])
    assert _screened_top_k(catalog, user, hist, 1000, 10) is None

    class Fixed(torch.nn.Module):
        def users(self, history, catalog):
            return user.unsqueeze(0)

    items, scores = top_k(Fixed(), hist, 1000, k=10, catalog=catalog)
    fp32_items, fp32_scores = top_k(Fixed(), hist, 1000, k=10, catalog=Catalog([vectors], vectors).for_serving(screen=False))
    assert (items == fp32_items).all() and (scores == fp32_scores).all()
    assert not {0, 5, 9} & set(items[0].tolist())
