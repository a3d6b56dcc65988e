"""Items added after training (issue 25, items 2 and 3, model side): a model's rows for a new item
are the rows it would compute had the item been in its catalogue with the policy's ID row; the
serving catalogue appends them in place, its float16 screen stays exact, and text normalisation
keeps the training catalogue's statistics."""

from __future__ import annotations

from dataclasses import asdict

import numpy as np
import pytest
import torch

from padlib.errors import ConfigError
from padlib.evaluation.ranking import top_k
from padlib.models.build import (ModelConfig, aligned_expert, disco_expert, id_expert, pad_model, rebuild,
                                 text_expert)
from padlib.models.catalog import Catalog, CatalogRows
from padlib.models.newitems import NewItemPolicy
from padlib.models.recommender import SingleExpert
from padlib.models.screen import HalfScreen
from padlib.text.normalize import TextNorm, normalize_text

N, M, TEXT_DIM, LENGTH, BUCKETS = 40, 5, 12, 6, 4
CFG = ModelConfig(dim=16, backbone={"name": "sasrec", "blocks": 1, "heads": 2, "ffn_dim": 32}, projection_layers=1)
GATE_INIT = {"id": [1.0, 0.0], "aligned": [-4.0, -5.0], "text": [0.0, 1.0]}
ARCHITECTURES = {  # checkpoint phase → how a model of it is built over n items
    "pretrain": lambda n, text: SingleExpert(id_expert(n, CFG, LENGTH)),
    "align": lambda n, text: SingleExpert(aligned_expert(n, text, CFG, LENGTH)),
    "morec": lambda n, text: SingleExpert(text_expert(text, CFG, LENGTH)),
    "disco": lambda n, text: SingleExpert(disco_expert(n, text, CFG, LENGTH)),
}
GATES = ("frequency", "network", "shared")


def small_model(phase: str, gate: str = "frequency"):
    """A randomly initialised model of ``phase`` over N items, its text [N + 1, d] and item buckets;
    the gate's α drawn at random so that every bucket weighs the experts differently."""
    torch.manual_seed(0)
    text = torch.randn(N + 1, TEXT_DIM)
    text[0] = 0
    buckets = torch.randint(1, BUCKETS + 1, (N + 1,))
    buckets[0] = 0
    if phase == "finetune":
        model = pad_model(N, text, buckets, BUCKETS, CFG, LENGTH, GATE_INIT, gate=gate, gate_hidden=8)
        with torch.no_grad():
            model.gate.alpha.copy_(torch.randn_like(model.gate.alpha))
            for net in getattr(model.gate, "nets", []):
                net[-1].weight.normal_()
    else:
        model = ARCHITECTURES[phase](N, text)
    return model.eval(), text, buckets


def bigger_model(model, phase: str, text: torch.Tensor, buckets: torch.Tensor, new_text: torch.Tensor,
                 policy: NewItemPolicy, gate: str = "frequency"):
    """The same weights rebuilt (``build.rebuild``, as a checkpoint is) over N + M items: the new items'
    text appended, each ID table given M rows of the policy's row, and the new items in its bucket."""
    state = {}
    for key, value in model.state_dict().items():
        if key.endswith("table.weight"):
            row = value[1:].mean(0) if policy.id_row == "mean" else torch.zeros(value.shape[1])
            value = torch.cat([value, row.expand(M, -1)])
        state[key] = value
    checkpoint = {"model": asdict(CFG), "n_items": N + M, "max_length": LENGTH, "phase": phase, "state_dict": state,
                  "n_buckets": BUCKETS, "gate_init": GATE_INIT, "experts": ["id", "aligned", "text"], "gate": gate,
                  "gate_hidden": 8}
    new_buckets = torch.full((M,), policy.bucket_of_new(BUCKETS), dtype=torch.long)
    return rebuild(checkpoint, torch.cat([text, new_text]), torch.cat([buckets, new_buckets])).eval()


CASES = [*[(phase, "frequency") for phase in ARCHITECTURES], *[("finetune", gate) for gate in GATES]]
POLICIES = [NewItemPolicy("zero"), NewItemPolicy("mean"), NewItemPolicy("mean", bucket=2)]


@pytest.mark.parametrize("policy", POLICIES, ids=["zero", "mean", "mean-bucket2"])
@pytest.mark.parametrize(("phase", "gate"), CASES, ids=[f"{p}-{g}" for p, g in CASES])
def test_a_new_items_rows_are_those_of_the_model_rebuilt_with_it(phase, gate, policy):
    model, text, buckets = small_model(phase, gate)
    new_text = torch.randn(M, TEXT_DIM, generator=torch.Generator().manual_seed(1))
    with torch.inference_mode():
        rows = model.new_item_rows(new_text, policy)
        extended = model.catalog().extend(rows)
        expected = bigger_model(model, phase, text, buckets, new_text, policy, gate).catalog()
    assert len(rows) == M and len(rows.tables) == len(expected.tables)
    torch.testing.assert_close(extended.matrix, expected.matrix, rtol=1e-5, atol=1e-6)
    for ours, theirs in zip(extended.tables, expected.tables):
        torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-6)
    # a user whose history holds new items is scored the same way too: the tables serve the lookup
    history = torch.tensor([[0, 3, N + 2, 7, N + 5, 1]])
    bigger = bigger_model(model, phase, text, buckets, new_text, policy, gate)
    with torch.inference_mode():
        ours = top_k(model, history, N + M, 8, catalog=extended.for_serving())
        theirs = top_k(bigger, history, N + M, 8)
    assert (ours[0] == theirs[0]).all()
    np.testing.assert_allclose(ours[1], theirs[1], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("id_row", ["zero", "mean"])
def test_an_id_only_model_ranks_new_items_by_the_policy_row(id_row):
    """SASRec has nothing but the ID row for a new item: every new item scores user · row, the same
    for all of them whatever their text (zero: 0 for every user)."""
    model, _, _ = small_model("pretrain")
    policy = NewItemPolicy(id_row)
    with torch.inference_mode():
        rows = model.new_item_rows(torch.randn(M, TEXT_DIM), policy)
        catalog = model.catalog()
        user = model.users(torch.tensor([[0, 0, 4, 9, 2, 5]]), catalog)[0]
        scores = user @ catalog.extend(rows).matrix[N + 1:].T
    row = catalog.matrix[1:].mean(0) if id_row == "mean" else torch.zeros(CFG.dim)
    torch.testing.assert_close(rows.matrix, row.expand(M, -1))
    torch.testing.assert_close(scores, (user @ row).expand(M), rtol=1e-5, atol=1e-6)


def test_the_bucket_of_new_items_is_checked_against_the_models_buckets():
    model, _, _ = small_model("finetune")
    assert NewItemPolicy().bucket_of_new(BUCKETS) == BUCKETS
    with pytest.raises(ConfigError, match=r"new_items.bucket: 5 is outside the model's buckets 1..4"):
        model.new_item_rows(torch.randn(M, TEXT_DIM), NewItemPolicy(bucket=5))
    with pytest.raises(ConfigError, match=r"new_items.id_row: 'learned' is not one of \['zero', 'mean'\]"):
        NewItemPolicy.from_dict({"id_row": "learned"})


def serving_pair(spare: float = 0.5):
    model, _, _ = small_model("finetune")
    with torch.inference_mode():
        catalog = model.catalog()
        rows = [model.new_item_rows(torch.randn(M, TEXT_DIM, generator=torch.Generator().manual_seed(s)),
                                    NewItemPolicy()) for s in range(3)]
    return model, catalog, catalog.for_serving(spare=spare), rows


def screened_equals_fp32(model, serving, users: int = 12) -> None:
    """One user at a time through the screen gives the fp32 top-k of the same rows."""
    n = serving.n_items
    plain = Catalog([t.clone() for t in serving.tables], serving.scores.T.contiguous())
    histories = torch.randint(0, n + 1, (users, LENGTH), generator=torch.Generator().manual_seed(2))
    with torch.inference_mode():
        for u in range(users):
            screened = top_k(model, histories[u:u + 1], n, 10, catalog=serving)
            exact = top_k(model, histories[u:u + 1], n, 10, catalog=plain)
            assert (screened[0] == exact[0]).all()
            np.testing.assert_allclose(screened[1], exact[1], rtol=1e-5, atol=1e-6)


def test_serving_appends_in_place_and_older_catalogues_stay_as_they_were():
    model, catalog, serving, rows = serving_pair()
    first = serving.extend(rows[0])
    second = first.extend(rows[1])
    assert first.room is serving.room is second.room  # the spare room took both: nothing was copied
    assert second.scores.data_ptr() == serving.scores.data_ptr() and second.n_items == N + 2 * M
    assert serving.n_items == N and first.n_items == N + M
    expected = catalog.extend(rows[0]).extend(rows[1])
    torch.testing.assert_close(second.scores.T, expected.matrix)
    for ours, theirs in zip(second.tables, expected.tables):
        torch.testing.assert_close(ours, theirs)
    screened_equals_fp32(model, second)
    # extending an older catalogue must not overwrite the newer one's rows: it copies instead
    branch = first.extend(rows[2])
    assert branch.room is not first.room
    torch.testing.assert_close(second.scores.T, expected.matrix)
    torch.testing.assert_close(branch.scores.T, catalog.extend(rows[0]).extend(rows[2]).matrix)
    screened_equals_fp32(model, branch)
    screened_equals_fp32(model, first)


def test_without_spare_room_the_first_append_copies_and_grows():
    model, catalog, serving, rows = serving_pair(spare=0.0)
    assert serving.room is None
    grown = serving.extend(rows[0])
    assert grown.room is not None and grown.room.capacity > N + 1 + M
    again = grown.extend(rows[1])
    assert again.room is grown.room
    torch.testing.assert_close(again.scores.T, catalog.extend(rows[0]).extend(rows[1]).matrix)
    screened_equals_fp32(model, again)


def test_rows_beyond_the_screens_scale_rebuild_it_and_the_older_screen_stays_exact():
    model, catalog, serving, rows = serving_pair()
    huge = CatalogRows(rows[0].tables, rows[0].matrix * 1e4)  # scaled past float16 at the current shift
    grown = serving.extend(huge)
    assert grown.screen.shift < serving.screen.shift and grown.room is serving.room
    assert grown.screen.rows.data_ptr() != serving.screen.rows.data_ptr()
    screened_equals_fp32(model, grown)
    screened_equals_fp32(model, serving)
    small = serving.screen.extend(rows[1].matrix, torch.empty(N + 1 + M, serving.scores.shape[0], dtype=torch.float16))
    assert small is None or small.shift == serving.screen.shift


def test_appended_screen_rows_take_the_screens_scale_and_raise_its_norm_maxima():
    """Rows appended at the current scale are what a build at that scale writes, the maxima cover
    them (the error bound is computed from those), and the bound holds for every item."""
    matrix = torch.randn(100, 8, generator=torch.Generator().manual_seed(0))
    new = matrix[:30].flip(1) * 1.9  # larger norms, still within 2^15 at this scale
    storage = torch.empty(130, 8, dtype=torch.float16)
    screen = HalfScreen.build(matrix, storage)
    grown = screen.extend(new, storage)
    full = torch.cat([matrix, new])
    scaled = full * 2.0 ** screen.shift
    assert grown.shift == screen.shift and grown.rows.data_ptr() == storage.data_ptr()
    assert torch.equal(grown.rows, scaled.half())
    assert grown.l2_max == pytest.approx(float(scaled.norm(dim=1).max()))
    assert grown.l1_max == pytest.approx(float(scaled.abs().sum(1).max()))
    assert grown.l2_max > screen.l2_max
    for seed in range(5):
        user = torch.randn(8, generator=torch.Generator().manual_seed(seed))
        screened, bound = grown.scores(user)
        assert ((screened.double() - full.double() @ user.double()).abs() <= bound).all()


def test_text_normalisation_keeps_the_training_statistics():
    """The stored statistics reproduce normalize_text bit for bit (the trained models saw those
    values), and a new item is normalised with them: the copy of an existing item's vector gets that
    item's row, which statistics recomputed with the new items in would not give."""
    rng = np.random.default_rng(0)
    matrix = rng.normal(3.0, 2.0, size=(30, 8)).astype(np.float32)
    matrix[0] = 0.0
    new = np.concatenate([matrix[4:7], rng.normal(9.0, 1.0, size=(2, 8)).astype(np.float32)])
    for norm in ("none", "center", "standardize", "l2"):
        out = matrix.copy()  # the in-place formula normalize_text always used
        items = out[1:]
        if norm in {"center", "standardize"}:
            items -= items.mean(0, keepdims=True)
        if norm == "standardize":
            items /= items.std(0, keepdims=True) + 1e-6
        if norm == "l2":
            items /= np.linalg.norm(items, axis=1, keepdims=True) + 1e-12
        np.testing.assert_array_equal(normalize_text(matrix, norm), out)
        stats = TextNorm.fit(matrix, norm)
        np.testing.assert_array_equal(stats.apply(new[:3]), out[4:7])
        refit = normalize_text(np.concatenate([matrix, new]), norm)[4:7]
        assert norm in {"none", "l2"} or not np.allclose(refit, out[4:7])
