"""Table-2 baselines end to end on a small structured dataset with stand-in text vectors."""

import pytest
import torch
from checks import assert_learned, assert_reproduces_validation
from synthetic import write_training_inputs

from padlib.data.dataset import load_data
from padlib.models.build import rebuild
from padlib.models.checkpoint import load_checkpoint
from padlib.text.store import load_text
from padlib.training import baselines, phases

PROTOCOL = {"min_rating": 4, "min_user_interactions": 5, "max_sequence_length": 10, "max_input_length": 6,
            "n_buckets": 10}


def params(**extra):
    base = {
        "protocol": PROTOCOL,
        "model": {"dim": 16, "backbone": {"name": "sasrec", "blocks": 1, "heads": 2, "ffn_dim": 32, "dropout": 0.1},
                  "projection_layers": 1},
        "train": {"batch_size": 16, "lr": 0.005, "weight_decay": 0.1, "max_epochs": 3, "patience": 3,
                  "eval_batch_size": 64, "precision": "fp32"},
        "finetune": {"experts": ["id", "aligned", "text"], "gate": "frequency",
                     "gate_init": {"id": [1.0, 0.0], "aligned": [-4.0, -5.0], "text": [0.0, 1.0]}},
    }
    base.update(extra)
    return base


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("baselines")
    write_training_inputs(root, PROTOCOL, n_users=60)
    phases.pretrain(str(root), str(root / "pretrain.pt"), params(), seed=0, device="cpu")
    return root


def check_rebuilt(path, root):
    """The checkpoint rebuilds into the model whose validation nDCG training recorded."""
    data = load_data(root, PROTOCOL)
    checkpoint = load_checkpoint(path)
    text = load_text(root / "text.parquet", data.n_items, checkpoint["model"]["text_norm"])
    model = rebuild(checkpoint, text, data.item_buckets)
    assert_reproduces_validation(model, data, checkpoint["fit"], batch_size=params()["train"]["eval_batch_size"])


def test_pretrain_learns(files):
    assert_learned(load_checkpoint(files / "pretrain.pt")["fit"], max_epochs=3)
    check_rebuilt(files / "pretrain.pt", files)


@pytest.mark.parametrize("method", ["hybrid", "morec"])
def test_from_scratch_baselines_train_and_rebuild(files, method):
    out = files / f"{method}.pt"
    result = baselines.scratch(str(files), str(files / "text.parquet"), str(out), params(), 0, method, device="cpu")
    checkpoint = load_checkpoint(out)
    assert checkpoint["phase"] == method and checkpoint["fit"]["best_valid_ndcg"] == result.best_valid_ndcg
    assert_learned(checkpoint["fit"], max_epochs=3)
    check_rebuilt(out, files)


def test_the_scratch_rule_refuses_a_method_it_does_not_train(files):
    with pytest.raises(ValueError, match="from-scratch baseline 'make'"):
        baselines.scratch(str(files), str(files / "text.parquet"), str(files / "x.pt"), params(), 0, "make",
                          device="cpu")


def test_ctrl_aligns_items_contrastively_then_trains_the_id_model(files):
    out = files / "ctrl.pt"
    cfg = params(ctrl={"align_epochs": 6, "align_batch_size": 16, "temperature": 0.1})
    baselines.scratch(str(files), str(files / "text.parquet"), str(out), cfg, 0, "ctrl", device="cpu")
    checkpoint = load_checkpoint(out)
    assert checkpoint["phase"] == "ctrl"  # the scratch rule's dispatch reached CTRL
    losses = checkpoint["contrastive_losses"]
    assert len(losses) == 6 and losses[-1] < losses[0]
    assert not any(key.startswith("expert.items.text") for key in checkpoint["state_dict"])  # ID model only
    assert_learned(checkpoint["fit"], max_epochs=3)
    check_rebuilt(out, files)


def test_make_starts_from_the_id_and_morec_experts(files):
    morec = files / "morec-for-make.pt"
    baselines.scratch(str(files), str(files / "text.parquet"), str(morec), params(), 0, "morec", device="cpu")
    out = files / "make.pt"
    frozen_lr = params()
    frozen_lr["train"] = {**frozen_lr["train"], "lr": 1e-12, "max_epochs": 1}
    baselines.make_experts(str(files), str(files / "text.parquet"), str(files / "pretrain.pt"), str(morec), str(out),
                           frozen_lr, 0, device="cpu")
    checkpoint = load_checkpoint(out)
    assert checkpoint["experts"] == ["id", "text"] and checkpoint["gate"] == "shared"
    pre = load_checkpoint(files / "pretrain.pt")["state_dict"]["expert.items.table.weight"]
    assert torch.allclose(checkpoint["state_dict"]["experts.id.items.table.weight"], pre, atol=1e-6)
    # at a learning rate of 1e-12 the text expert is still the MoRec model, every weight of it
    text_expert = expert_state(checkpoint["state_dict"], "experts.text.")
    trained_morec = expert_state(load_checkpoint(morec)["state_dict"], "expert.")
    assert text_expert.keys() == trained_morec.keys()
    for name, value in trained_morec.items():
        assert torch.allclose(text_expert[name], value, atol=1e-6), name
    check_rebuilt(out, files)


def expert_state(state: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    """The entries of ``state`` under ``prefix``, named without it."""
    return {name.removeprefix(prefix): value for name, value in state.items() if name.startswith(prefix)}


def trained_gap(root, align: dict) -> float:
    """The alignment loss's own divergence (MMD² or InfoNCE) between the projected text and the ID
    vectors of every item after two epochs of phase 2's training loop with the ``align`` loss, from the
    same initial weights (no checkpoint selection)."""
    from padlib.losses.infonce import info_nce
    from padlib.losses.mmd import mmd2
    from padlib.models.build import ModelConfig, aligned_expert
    from padlib.models.recommender import SingleExpert
    from padlib.training.loop import TrainConfig, train_epoch

    data = load_data(root, PROTOCOL)
    text = load_text(root / "text.parquet", data.n_items, "standardize")
    torch.manual_seed(0)
    model = SingleExpert(aligned_expert(data.n_items, text, ModelConfig.from_dict(params()["model"]),
                                        data.max_input_length))
    cfg = TrainConfig(**params()["train"])
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    gen = torch.Generator().manual_seed(0)
    for epoch in (1, 2):
        train_epoch(model, data, cfg, optimizer, gen, torch.device("cpu"), phases.alignment_loss(align), epoch=epoch)
    items = torch.arange(1, data.n_items + 1)
    with torch.no_grad():
        model.eval()
        text, ids = model.expert.items.text(items), model.expert.items.ids(items)
        if align["loss"] == "infonce":
            return info_nce(text, ids, align["temperature"]).item()
        return mmd2(text, ids).item()


@pytest.mark.parametrize("loss", ["mmd", "infonce"])
def test_align_phase_pulls_text_towards_ids_and_frozen_anchoring_keeps_them(files, loss):
    align = {"gamma": 0.0, "loss": loss, "kernel": "gaussian", "temperature": 0.1, "anchoring": "rec"}
    assert trained_gap(files, {**align, "gamma": 5.0}) < trained_gap(files, align)
    phases.align(str(files), str(files / "text.parquet"), str(files / "pretrain.pt"), str(files / "af.pt"),
                 params(align={**align, "gamma": 5.0, "anchoring": "frozen"}), 0, device="cpu")
    pre = load_checkpoint(files / "pretrain.pt")["state_dict"]["expert.items.table.weight"]
    frozen = load_checkpoint(files / "af.pt")["state_dict"]["expert.items.ids.table.weight"]
    assert torch.equal(pre, frozen)
