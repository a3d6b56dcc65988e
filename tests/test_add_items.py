"""``pad add-items`` and serving new items (issue 25, item 3) on a tiny real run: the data stage, the
embed stage with a tiny random Llama, the three PAD phases and the evaluation, each through its
production function into the workflow's ``results/`` layout; then items are added from a CSV with
the same encoder and ranked by ``pad recommend``, and every bad input is refused with one message,
the served catalogue left byte for byte as it was."""

from __future__ import annotations

import csv
import os
import shutil
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import torch
from synthetic import write_synthetic
from test_baselines import PROTOCOL, params
from tiny_models import make_tiny_llama

from padlib.cli import main
from padlib.data.stage import build_dataset, source_inputs
from padlib.errors import DataError
from padlib.evaluation.stage import evaluate_checkpoint
from padlib.models.newitems import NewItemPolicy
from padlib.recommend import recommend
from padlib.serving.add import model_directory
from padlib.serving.served import ServedModel
from padlib.serving.store import encoder_record, read_added
from padlib.text.stage import embed_items, gather_items
from padlib.text.store import load_text
from padlib.text.store import read_embeddings
from padlib.training import phases

TEMPLATE = "{title}. Genre: {genre}"
PARAMS = params(align={"gamma": 0.2, "kernel": "gaussian", "anchoring": "rec"})  # test_baselines' tiny settings


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    """A workflow directory with a trained and evaluated PAD model: ``results/tiny/...``."""
    root = tmp_path_factory.mktemp("serve")
    interactions, items = write_synthetic(root)
    results = root / "results"
    data = results / "tiny/data"
    source = {"kind": "table", "interactions": str(interactions), "items": str(items)}
    build_dataset(source, PROTOCOL, source_inputs(source), {n: str(data / f"{n}.parquet")
                                                            for n in ("items", "sequences", "splits")})
    encoder = {"kind": "llm2vec", "model": {"path": str(make_tiny_llama(root / "tiny-llama"))}, "template": TEMPLATE,
               "max_length": 32, "batch_size": 8, "dtype": "float32", "bidirectional": True, "adapters": []}
    embeddings = results / "tiny/embeddings/tinyllama.parquet"
    parts = [f"results/tiny/embeddings/tinyllama.parts/part{i}-of2.parquet" for i in range(2)]
    cwd = os.getcwd()
    os.chdir(root)  # as under Snakemake: the parts are named from the workflow directory
    try:
        for i, part in enumerate(parts):
            embed_items("results/tiny/data/items.parquet", encoder["model"]["path"], "tinyllama", encoder, "cpu",
                        part, shard=i, n_shards=2, progress=False)
        gather_items(parts, "results/tiny/embeddings/tinyllama.parquet", pl.read_parquet(data / "items.parquet").height)
    finally:
        os.chdir(cwd)
    run_dir = results / "tiny/sasrec/seed0"
    phase1, aligned, pad = (run_dir / "id/model.pt", run_dir / "tinyllama/align/pad/model.pt",
                            run_dir / "tinyllama/pad/model.pt")
    phases.pretrain(str(data), str(phase1), PARAMS, 0, device="cpu")
    phases.align(str(data), str(embeddings), str(phase1), str(aligned), PARAMS, 0, device="cpu")
    phases.finetune(str(data), str(embeddings), str(phase1), str(aligned), str(pad), PARAMS, 0, device="cpu")
    evaluate_checkpoint(str(data), str(pad), str(embeddings), str(pad.parent / "metrics.json"),
                        str(pad.parent / "test_ranks.parquet"), {"protocol": PROTOCOL, "evaluate": {"k": 10,
                                                                                                   "batch_size": 64}},
                        device="cpu")
    return root


def write_items(path: Path, rows: list[dict[str, str]]) -> Path:
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def add(root: Path, items: Path, capsys) -> tuple[int, str, str]:
    code = main(["add-items", "--dataset", "tiny", "--items", str(items), "--results", str(root / "results"),
                 "--device", "cpu"])
    out = capsys.readouterr()
    return code, out.out, out.err


def catalog_files(root: Path) -> dict[str, bytes]:
    folder = root / "results/tiny/sasrec/seed0/tinyllama/pad/catalog"
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())} if folder.is_dir() else {}


NEW = [{"item": "n1", "title": "the comedy film number 301", "genre": "comedy"},
       {"item": "n2", "title": "the drama film number 302", "genre": "drama"},
       {"item": "n3", "title": "the action film number 3", "genre": "action"}]  # the text of item m3


@pytest.fixture(scope="module")
def served(run, tmp_path_factory) -> Path:
    """The run with ``NEW`` added through the CLI (a copy: the bad-input tests need a catalogue)."""
    root = tmp_path_factory.mktemp("served")
    shutil.copytree(run, root, dirs_exist_ok=True)
    items = write_items(root / "new.csv", NEW)
    assert main(["add-items", "--dataset", "tiny", "--items", str(items), "--results", str(root / "results"),
                 "--device", "cpu"]) == 0
    return root


def test_added_items_get_the_next_indices_and_the_datasets_encoder(served, capsys):
    results = served / "results"
    folder = results / "tiny/sasrec/seed0/tinyllama/pad/catalog"
    assert sorted(catalog_files(served)) == ["manifest.json", "part-00001.parquet"]
    added = read_added(folder)
    assert added.item_ids == ["n1", "n2", "n3"] and added.labels == [row["title"] for row in NEW]
    part = pl.read_parquet(folder / "part-00001.parquet")
    assert part["text"].to_list() == [f"{r['title']}. Genre: {r['genre']}" for r in NEW]
    # n3 has m3's text: the encoder and template are the dataset's, so it gets m3's stored vector
    items = pl.read_parquet(results / "tiny/data/items.parquet")
    matrix, _ = read_embeddings(results / "tiny/embeddings/tinyllama.parquet", items.height)
    m3 = items.filter(pl.col("item_id") == "m3")["item_idx"][0]
    np.testing.assert_allclose(added.vectors[2], matrix[m3], rtol=1e-5, atol=1e-5)
    model = ServedModel.load(results / "tiny/sasrec/seed0/tinyllama/pad/model.pt", results / "tiny/data",
                             results / "tiny/embeddings/tinyllama.parquet")
    n = items.height
    assert model.n_trained == n and model.n_items == n + 3 and model.labels[n:] == added.labels
    # its text expert (text alone) sees it as m3: normalised with the training catalogue's statistics
    text_table = model.catalog.tables[list(model.model.experts).index("text")]
    torch.testing.assert_close(text_table[n + 3], text_table[m3], rtol=1e-4, atol=1e-5)
    assert not torch.allclose(text_table[n + 1], text_table[m3], atol=1e-3)


def test_recommend_ranks_the_added_items_with_the_rest(served, run, capsys):
    """Ranked over every item, the user's list holds the three added ones, scored as the model's rows
    for them give; before the add (the same run) they are nowhere."""
    results = served / "results"
    sequences = pl.read_parquet(results / "tiny/data/sequences.parquet")
    user, items = sequences["user_id"][0], sequences["items"][0].to_list()
    n = pl.read_parquet(results / "tiny/data/items.parquet").height
    everything = n + 3 - len(set(items[-PROTOCOL["max_input_length"]:]))
    ranked = recommend(results, "tiny", user, k=everything)
    assert len(ranked.items) == everything and ranked.added == 3 and ranked.policy == NewItemPolicy()
    before = recommend(run / "results", "tiny", user, k=everything - 3)
    assert before.added == 0
    twin = NEW[2]["title"]  # n3 is titled as m3 is
    assert ranked.items.count(twin) == 2 and before.items.count(twin) == 1
    assert {NEW[0]["title"], NEW[1]["title"]} <= set(ranked.items) - set(before.items)
    for title in set(before.items) - {twin}:  # the trained items keep their scores
        assert ranked.scores[ranked.items.index(title)] == pytest.approx(before.scores[before.items.index(title)],
                                                                         rel=1e-5, abs=1e-6)
    assert main(["recommend", "--dataset", "tiny", "--user", user, "-k", str(everything), "--results",
                 str(results)]) == 0
    out = capsys.readouterr().out
    assert "3 added items, ID row zero, gate bucket the coldest" in out and NEW[0]["title"] in out


def test_a_second_add_appends_a_part_and_the_policy_comes_from_the_evaluation(served, tmp_path, capsys):
    """Another add writes only its own part; the served rows follow ``evaluate.new_items`` as the
    evaluation beside the model recorded it."""
    root = tmp_path / "again"
    shutil.copytree(served, root)
    before = catalog_files(root)
    code, out, err = add(root, write_items(tmp_path / "more.csv", [{"item": "n4", "title": "the drama film",
                                                                     "genre": "drama"}]), capsys)
    assert code == 0, err
    n = pl.read_parquet(root / "results/tiny/data/items.parquet").height
    assert f"1 items added to {root / 'results/tiny/sasrec/seed0/tinyllama/pad/catalog'} as items {n + 4}..{n + 4}" in out
    after = catalog_files(root)
    assert after["part-00001.parquet"] == before["part-00001.parquet"] and "part-00002.parquet" in after
    pad = root / "results/tiny/sasrec/seed0/tinyllama/pad/model.pt"
    evaluate_checkpoint(str(root / "results/tiny/data"), str(pad), str(root / "results/tiny/embeddings/tinyllama.parquet"),
                        str(pad.parent / "metrics.json"), str(pad.parent / "test_ranks.parquet"),
                        {"protocol": PROTOCOL, "evaluate": {"k": 10, "batch_size": 64,
                                                             "new_items": {"id_row": "mean", "bucket": 3}}},
                        device="cpu")
    model = ServedModel.load(pad, root / "results/tiny/data", root / "results/tiny/embeddings/tinyllama.parquet")
    assert model.policy == NewItemPolicy("mean", 3) and model.n_items == n + 4
    added = read_added(pad.parent / "catalog")
    with torch.inference_mode():
        rows = model.model.new_item_rows(torch.from_numpy(model.norm.apply(added.vectors)), model.policy)
    torch.testing.assert_close(model.catalog.scores[:, n + 1:].T, rows.matrix)


def test_the_python_api_adds_rows_to_a_running_service(served):
    """A service appends items to its prepared catalogue without rebuilding it: an item whose text
    makes it the user's best comes first from top_k at once, the catalogue grew in place."""
    results = served / "results"
    model = ServedModel.load(results / "tiny/sasrec/seed0/tinyllama/pad/model.pt", results / "tiny/data",
                             results / "tiny/embeddings/tinyllama.parquet", spare=0.5)
    history = torch.as_tensor([pl.read_parquet(results / "tiny/data/sequences.parquet")["items"][0].to_list()[-6:]])
    best_before = model.top_k(history, 1)[1][0, 0]
    n_trained = pl.read_parquet(results / "tiny/data/items.parquet").height   # the catalogue before any add
    raw = load_text(results / "tiny/embeddings/tinyllama.parquet", n_trained, "none").numpy()[1:]
    rng = np.random.default_rng(0)  # raw vectors spread wide around the catalogue's: pick the user's favourite
    candidates = raw.mean(0) + rng.normal(size=(256, raw.shape[1])) * 20 * raw.std(0)
    with torch.inference_mode():
        rows = model.model.new_item_rows(torch.from_numpy(model.norm.apply(candidates)), model.policy)
        user = model.model.users(history, model.catalog)[0]
        scores = rows.matrix @ user
    best = int(scores.argmax())
    assert scores[best] > best_before
    room = model.catalog.room
    indices = model.add(["x-best", "x-other"], ["best new", "other new"], candidates[[best, int(scores.argmin())]])
    assert model.catalog.room is room and list(indices) == [model.n_items - 1, model.n_items]
    items, top = model.top_k(history, 3)
    assert items[0, 0] == indices[0] and model.labels[items[0, 0] - 1] == "best new"
    assert top[0, 0] == pytest.approx(float(scores[best]), rel=1e-5)
    with pytest.raises(DataError, match="item id 'x-best' is already served"):
        model.add(["x-best"], ["again"], candidates[:1])


CATALOG = "results/tiny/sasrec/seed0/tinyllama/pad/catalog"


@pytest.mark.parametrize(("rows", "message"), [
    pytest.param([{"item": "z1", "title": "a film"}],
                 "{file}: missing column(s) ['genre']; expected 'item' and the columns of the dataset's template "
                 "'{{title}}. Genre: {{genre}}' (the file has ['item', 'title'])", id="missing column"),
    pytest.param([{"item": "z1", "title": "a", "genre": "drama"}, {"item": "z2", "title": "b", "genre": "drama"},
                  {"item": "z1", "title": "c", "genre": "comedy"}],
                 "{file}: rows [1, 3] column 'item': item id 'z1' appears 2 times; expected each new item once",
                 id="duplicate ids"),
    pytest.param([{"item": "z1", "title": "a", "genre": "drama"}, {"item": "m7", "title": "b", "genre": "drama"}],
                 "{file}: row 2 column 'item': item id 'm7' already exists (in {results}/tiny/data/items.parquet); "
                 "expected a new item", id="id in the dataset"),
    pytest.param([{"item": "n2", "title": "b", "genre": "drama"}],
                 "{file}: row 1 column 'item': item id 'n2' already exists (in {root}/" + CATALOG + "/part-00001.parquet); "
                 "expected a new item", id="id in the catalogue"),
    pytest.param([{"item": "z1", "title": "a", "genre": "drama"}, {"item": "z2", "title": " ", "genre": ""}],
                 "{file}: row 2 (item 'z2') has no text: the template's column(s) ['title', 'genre'] are empty; "
                 "expected the item's text", id="empty text"),
    pytest.param([{"item": " ", "title": "a", "genre": "drama"}], "{file}: row 1 column 'item': empty item id",
                 id="empty id"),
])
def test_bad_input_stops_with_one_message_and_leaves_the_catalogue_unchanged(served, tmp_path, capsys, rows, message):
    before = catalog_files(served)
    items = write_items(tmp_path / "bad.csv", rows)
    code, out, err = add(served, items, capsys)
    expected = message.format(file=items, results=served / "results", root=served)
    assert (code, out, err) == (2, "", f"pad: error: {expected}\n")
    assert catalog_files(served) == before


def test_the_encoder_comes_from_the_embed_stages_manifests(served):
    """The gathered embeddings' manifest names its parts (from the workflow directory); theirs hold the
    encoder config. A wheel model is where the workflow prepares it, beside results/."""
    results = served / "results"
    record = encoder_record(results / "tiny/embeddings/tinyllama.parquet")
    assert record["name"] == "tinyllama" and record["dim"] == 32 and record["config"]["template"] == TEMPLATE
    assert model_directory(results, {"model": {"wheel": "smollm2"}}) == served / "resources/models/smollm2"
    assert model_directory(results, {"model": {"path": "/models/x"}}) == Path("/models/x")


def test_an_unreadable_file_and_a_missing_model_are_named(served, tmp_path, capsys):
    before = catalog_files(served)
    code, _, err = add(served, tmp_path / "absent.csv", capsys)
    assert code == 2 and err.startswith(f"pad: error: {tmp_path / 'absent.csv'}: file not found")
    code = main(["add-items", "--dataset", "tiny", "--items", str(tmp_path / "x.csv"), "--results",
                 str(served / "results"), "--variant", "morec"])
    assert code == 2 and "no trained PAD model matches" in capsys.readouterr().err
    items = write_items(tmp_path / "ok.csv", [{"item": "z9", "title": "a film", "genre": "drama"}])
    code = main(["add-items", "--dataset", "tiny", "--items", str(items), "--results", str(served / "results"),
                 "--model-dir", str(tmp_path)])
    assert code == 2 and f"pad: error: {tmp_path}: no model there (no config.json)" in capsys.readouterr().err
    assert catalog_files(served) == before


def test_a_tampered_catalogue_is_refused_by_recommend(served, tmp_path):
    root = tmp_path / "tampered"
    shutil.copytree(served, root)
    part = root / CATALOG / "part-00001.parquet"
    part.write_bytes(part.read_bytes()[:-10])
    user = pl.read_parquet(root / "results/tiny/data/sequences.parquet")["user_id"][0]
    with pytest.raises(DataError, match="its sha256 differs from the one .*manifest.json records"):
        recommend(root / "results", "tiny", user)
