"""Phase-by-phase parity with the official PAD code: padlib's models, loaded with random weights,
and a transcription of the official forwards (tests/official_reference.py) that reads the very same
tensors under the official names, fed the same batch, give the same loss and the same gradient for
every parameter, to 1e-9 in float64 with dropout off, under the official options. Phase 2 needs the
official alignment sample (``align.sample: official``) and tllib's estimator (``align.estimator:
tllib``); switching either back, or a wiring mutation (Q and K swapped, two experts swapped), makes
the comparison fail, which the last tests check.
"""

from __future__ import annotations

import random

import pytest
import torch

from padlib.models.build import ModelConfig, aligned_expert, id_expert, pad_model
from padlib.models.recommender import PADModel, SingleExpert
from padlib.training.loop import Batch, recommendation_loss
from padlib.training.phases import ALIGN_DEFAULTS, alignment_loss
from tests import official_reference as official

N_ITEMS, TEXT_DIM, DIM, HEADS, LAYERS, L = 23, 12, 8, 2, 4, 6
OFFICIAL_ALIGN = {**ALIGN_DEFAULTS, "gamma": 0.2, "kernel": "gaussian", "anchoring": "rec", "sample": "official",
                  "estimator": "tllib", "multi_kernel": "sum", "text_vectors": "forward", "sample_users": None}


def model_config(blocks: int, item_passes: str = "distinct", dropout: float = 0.0) -> ModelConfig:
    backbone = {"name": "sasrec", "blocks": blocks, "heads": HEADS, "ffn_dim": 4 * DIM, "dropout": dropout,
                "block": "official"}
    return ModelConfig(dim=DIM, backbone=backbone, projection_layers=LAYERS, projection_dropout=dropout,
                       fusion_dropout=dropout, text_norm="none", init="xavier", item_passes=item_passes)


def dropout_off(model: torch.nn.Module, dropout: float) -> torch.nn.Module:
    """Dropout 0 in train mode, or dropout > 0 in eval mode: either way no unit is dropped."""
    return model.train(dropout == 0.0)


def randomise(model: torch.nn.Module, seed: int) -> torch.nn.Module:
    """Every parameter (LayerNorms, padding rows and the gate included) drawn at random, so that no
    zero or one can hide a wrong wiring; float64 throughout."""
    g = torch.Generator().manual_seed(seed)
    model.double()
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=g, dtype=torch.float64) * 0.5)
    return model


def batch(dense: bool, seed: int = 0) -> dict:
    """Users with sequences of L + 1 items or fewer (``dense``: mostly full windows, else mostly
    short, so padlib runs its padded and its packed SASRec paths), their official rows and padlib's
    left-padded history / target / negatives (the negatives at padded positions are arbitrary
    items: nothing may depend on them)."""
    rng = random.Random(seed)
    lengths = [L + 1, L + 1, L, L + 1] if dense else [2, 3, L + 1, 2]
    sequences = [rng.sample(range(1, N_ITEMS + 1), n) for n in lengths]
    negatives = [[rng.choice([i for i in range(1, N_ITEMS + 1) if i not in seq]) for _ in seq[:-1]]
                 for seq in sequences]
    ids, log_mask = official.official_rows(sequences, negatives, L)
    history = ids[:, :-1, 0]
    target = torch.where(history != 0, ids[:, 1:, 0], 0)  # padlib's data: no target where the input is padding
    padded_negatives = torch.where(target != 0, ids[:, :-1, 1], torch.randint(1, N_ITEMS + 1, target.shape))
    return {"ids": ids, "log_mask": log_mask, "history": history, "target": target, "negatives": padded_negatives}


def text_table(seed: int = 1) -> torch.Tensor:
    """The frozen text vectors, row 0 all zeros (the padding row, as both codes store it)."""
    text = torch.randn(N_ITEMS + 1, TEXT_DIM, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    text[0] = 0.0
    return text


def buckets(seed: int = 2) -> torch.Tensor:
    """A bucket per item, 1..10 (0 = padding), as the official ``bins`` array."""
    b = torch.randint(1, 11, (N_ITEMS + 1,), generator=torch.Generator().manual_seed(seed))
    b[0] = 0
    return b


# -- padlib's tensors under the official names ---------------------------------------------------

def sasrec_weights(backbone: torch.nn.Module, name: str) -> official.Weights:
    enc, d = f"{name}.transformer_encoder", backbone.cfg.dim
    w = {f"{enc}.position_embedding.weight": backbone.positions.weight,
         f"{enc}.layer_norm.weight": backbone.input_norm.weight, f"{enc}.layer_norm.bias": backbone.input_norm.bias}
    for i, block in enumerate(backbone.blocks):
        mha, ffn = f"{enc}.transformer_blocks.{i}.multi_head_attention", f"{enc}.transformer_blocks.{i}.feed_forward"
        qkv = block.qkv.weight
        w.update({f"{mha}.w_Q.weight": qkv[:d], f"{mha}.w_K.weight": qkv[d:2 * d], f"{mha}.w_V.weight": qkv[2 * d:],
                  f"{mha}.fc.weight": block.out.weight,
                  f"{mha}.layer_norm.weight": block.attn_norm.weight, f"{mha}.layer_norm.bias": block.attn_norm.bias,
                  f"{ffn}.w_1.weight": block.ffn[0].weight, f"{ffn}.w_1.bias": block.ffn[0].bias,
                  f"{ffn}.w_2.weight": block.ffn[2].weight, f"{ffn}.w_2.bias": block.ffn[2].bias,
                  f"{ffn}.layer_norm.weight": block.ffn_norm.weight, f"{ffn}.layer_norm.bias": block.ffn_norm.bias})
    return w


def projection_weights(proj: torch.nn.Sequential, name: str) -> official.Weights:
    """padlib's projection [Linear, GELU, (Dropout, Linear, GELU) × layers] as FC_Layers ``name``."""
    linears = [m for m in proj if isinstance(m, torch.nn.Linear)]
    w = {f"{name}.fc.weight": linears[0].weight, f"{name}.fc.bias": linears[0].bias}
    for i, lin in enumerate(linears[1:]):
        w.update({f"{name}.mlp_layers.mlp_layers.{3 * i + 1}.weight": lin.weight,
                  f"{name}.mlp_layers.mlp_layers.{3 * i + 1}.bias": lin.bias})
    return w


def aligned_weights(expert: torch.nn.Module, encoder: str) -> official.Weights:
    fused = expert.items
    return {"other_embedding.weight": fused.ids.table.weight, **projection_weights(fused.text.proj, "turn_dim1"),
            "fc.mlp_layers.1.weight": fused.fuse[1].weight, "fc.mlp_layers.1.bias": fused.fuse[1].bias,
            **sasrec_weights(expert.backbone, encoder)}


def pad_weights(model: PADModel, gate_rows: tuple[int, int, int] = (0, 1, 2)) -> official.Weights:
    """Model_new3_3's names; ``gate_rows`` says which rows of padlib's gate serve the official ID,
    aligned and text experts (the identity for the real mapping)."""
    experts = model.experts
    alpha = {name: model.gate.alpha[row] for name, row in zip(("alpha", "alpha2", "alpha3"), gate_rows)}
    return {"id_embedding.weight": experts["id"].items.table.weight,
            **sasrec_weights(experts["id"].backbone, "user_encoder"), **aligned_weights(experts["aligned"], "user_enc_2"),
            **projection_weights(experts["text"].items.proj, "turn_dim3"),
            **sasrec_weights(experts["text"].backbone, "user_enc_3"), **alpha}


# -- the comparison -----------------------------------------------------------------------------

def gradients(model: torch.nn.Module, loss: torch.Tensor) -> dict[str, torch.Tensor | None]:
    model.zero_grad(set_to_none=True)
    loss.backward()
    return {name: None if p.grad is None else p.grad.clone() for name, p in model.named_parameters()}


def max_difference(model: torch.nn.Module, ours: torch.Tensor, theirs: torch.Tensor) -> float:
    """The largest absolute difference between the two losses and between any parameter's gradients
    (a gradient one side has and the other lacks counts as its largest entry)."""
    a, b = gradients(model, ours), gradients(model, theirs)
    worst = abs(float(ours.detach()) - float(theirs.detach()))
    for name in a:
        ga, gb = a[name], b[name]
        if ga is None and gb is None:
            continue
        if ga is None or gb is None:
            worst = max(worst, float((ga if gb is None else gb).abs().max()))
            continue
        worst = max(worst, float((ga - gb).abs().max()))
    return worst


def phase1(blocks: int, dense: bool, dropout: float = 0.0) -> tuple[torch.nn.Module, torch.Tensor, torch.Tensor]:
    model = randomise(SingleExpert(id_expert(N_ITEMS, model_config(blocks, dropout=dropout), L)), seed=blocks)
    dropout_off(model, dropout)
    b = batch(dense)
    ours = recommendation_loss(model, b["history"], b["target"], b["negatives"])
    weights = {"id_embedding.weight": model.expert.items.table.weight,
               **sasrec_weights(model.expert.backbone, "user_encoder")}
    theirs = official.model2_id_loss(weights, b["ids"], b["log_mask"], blocks, HEADS)
    return model, ours, theirs


def phase2(blocks: int, dense: bool, align: dict, item_passes: str = "distinct", dropout: float = 0.0
           ) -> tuple[torch.nn.Module, torch.Tensor, torch.Tensor]:
    text = text_table()
    expert = aligned_expert(N_ITEMS, text, model_config(blocks, item_passes, dropout), L)
    model = dropout_off(randomise(SingleExpert(expert), seed=10 + blocks), dropout)
    expert.items.text.text = text
    expert.items.keep_text = align["text_vectors"] == "forward"
    b = batch(dense)
    seen = torch.unique(torch.cat([b["history"].flatten(), b["target"].flatten(), b["negatives"].flatten()]))
    ours = (recommendation_loss(model, b["history"], b["target"], b["negatives"])
            + alignment_loss(align)(model, Batch(b["history"], b["target"], b["negatives"], seen[seen != 0])))
    theirs = official.model2_transfer_loss(aligned_weights(expert, "user_enc_2"), b["ids"], text, b["log_mask"],
                                           blocks, HEADS, LAYERS)
    return model, ours, theirs


def phase3(blocks: int, dense: bool, gate_rows: tuple[int, int, int] = (0, 1, 2), item_passes: str = "distinct",
           dropout: float = 0.0) -> tuple[torch.nn.Module, torch.Tensor, torch.Tensor]:
    text, bins = text_table(), buckets()
    gate_init = {"id": [1.0, 0.0], "aligned": [-4.0, -5.0], "text": [0.0, 1.0]}
    model = randomise(pad_model(N_ITEMS, text, bins, 10, model_config(blocks, item_passes, dropout), L, gate_init),
                      seed=20 + blocks)
    dropout_off(model, dropout)
    for expert in model.experts.values():
        if hasattr(expert.items, "text"):
            (expert.items.text if hasattr(expert.items, "fuse") else expert.items).text = text
    b = batch(dense)
    ours = recommendation_loss(model, b["history"], b["target"], b["negatives"])
    ids = b["ids"]
    theirs = official.model_new3_3_loss(pad_weights(model, gate_rows), ids, text, b["log_mask"], bins[ids[:, 1:, 0]],
                                        bins[ids[:, :-1, 1]], blocks, HEADS, LAYERS)
    return model, ours, theirs


# (blocks, dense batch, dropout): dropout 0 in train mode, or 0.1 in eval mode
CASES = [(2, True, 0.0), (2, False, 0.0), (5, False, 0.0), (2, False, 0.1)]


@pytest.mark.parametrize("blocks,dense,dropout", CASES)
def test_phase1_matches_the_official_model2_id(blocks, dense, dropout):
    assert max_difference(*phase1(blocks, dense, dropout)) < 1e-9


@pytest.mark.parametrize("blocks,dense,dropout", CASES)
def test_phase2_matches_the_official_model2_transfer(blocks, dense, dropout):
    assert max_difference(*phase2(blocks, dense, OFFICIAL_ALIGN, dropout=dropout)) < 1e-9


@pytest.mark.parametrize("blocks,dense,dropout", CASES)
def test_phase3_matches_the_official_model_new3_3(blocks, dense, dropout):
    assert max_difference(*phase3(blocks, dense, dropout=dropout)) < 1e-9


@pytest.mark.parametrize("dense", [True, False])
def test_official_row_passes_match_too(dense):
    """``model.item_passes: rows`` (the projection and fusion on every official row) computes the
    same losses and gradients as the official forwards."""
    assert max_difference(*phase2(2, dense, OFFICIAL_ALIGN, item_passes="rows")) < 1e-9
    assert max_difference(*phase3(2, dense, item_passes="rows")) < 1e-9


def test_row_passes_draw_dropout_per_occurrence():
    """With dropout on, ``rows`` gives each occurrence of an item its own draw, ``distinct`` one draw
    per item; under both, one sequence row serves as the input at j + 1 and the target at j."""
    sequences = [[1, 2, 3, 4, 5, 6, 7], [1, 8, 9, 10, 11, 12, 13]]           # item 1 opens both
    ids, _ = official.official_rows(sequences, [[14] * 6, [15] * 6], L)
    history, target = ids[:, :-1, 0], ids[:, 1:, 0]
    candidates = torch.stack([target, ids[:, :-1, 1]], -1)
    for passes, apart in (("rows", True), ("distinct", False)):
        cfg = ModelConfig(dim=DIM, backbone={"name": "sasrec", "blocks": 1, "heads": HEADS, "block": "official"},
                          projection_layers=LAYERS, projection_dropout=0.5, text_norm="none", item_passes=passes)
        expert = aligned_expert(N_ITEMS, text_table(), cfg, L).double().train()
        torch.manual_seed(0)
        inputs, vectors = expert.training_item_vectors(history, candidates)
        assert torch.equal(inputs[:, 1:], vectors[:, :-1, 0])
        assert (not torch.equal(inputs[0, 0], inputs[1, 0])) == apart, passes


@pytest.mark.parametrize("option", [{"sample": "rows"}, {"sample": "distinct"}, {"estimator": "vstat"},
                                    {"multi_kernel": "mean"}, {"text_vectors": "separate"}])
def test_phase2_parity_fails_when_an_official_option_is_switched_back(option):
    """Each official alignment option matters: padlib's other side gives another loss or gradient.
    (``text_vectors: separate`` differs from ``forward`` only through dropout, so with dropout off it
    must agree: it is the one option this comparison cannot see.)"""
    difference = max_difference(*phase2(2, False, {**OFFICIAL_ALIGN, **option}))
    if option == {"text_vectors": "separate"}:
        assert difference < 1e-9
    else:
        assert difference > 1e-6


def test_a_wiring_mutation_breaks_parity():
    """Q and K swapped in the transcription's view of padlib's weights, or the ID and text experts'
    gate rows swapped in the mixture: the comparison notices both."""
    model, ours, _ = phase1(2, False)
    weights = {"id_embedding.weight": model.expert.items.table.weight,
               **sasrec_weights(model.expert.backbone, "user_encoder")}
    for i in range(2):
        mha = f"user_encoder.transformer_encoder.transformer_blocks.{i}.multi_head_attention"
        weights[f"{mha}.w_Q.weight"], weights[f"{mha}.w_K.weight"] = weights[f"{mha}.w_K.weight"], weights[f"{mha}.w_Q.weight"]
    b = batch(False)
    swapped = official.model2_id_loss(weights, b["ids"], b["log_mask"], 2, HEADS)
    assert max_difference(model, ours, swapped) > 1e-6
    assert max_difference(*phase3(2, False, gate_rows=(2, 1, 0))) > 1e-6
