"""The run plan and the artifact path scheme, in plain Python so unit tests reach them.

``Plan.from_config(config)`` answers what a validated config asks the workflow to build: which
variants, alignment runs, phase-1 models, Kendall's τ runs, report rows and figures exist, where each
artifact lives, and the params each training rule receives. ``rules/common.smk`` builds one Plan and
the rules' input and params functions call it, so the Snakefile holds no second copy of this logic.

Paths (the ``{...}`` fields are the rules' wildcards; tests/test_plan.py checks the rules write them):

    results/{dataset}/data/items.parquet                                   data
    results/{dataset}/embeddings/{encoder}.parquet                         embed (gathered)
    results/{dataset}/{backbone}/seed{seed}/{pretrain}/model.pt            pretrain (id, id-loss-softmax, ...)
    results/{dataset}/{backbone}/seed{seed}/{encoder}/align/{alignment}/model.pt   align
    results/{dataset}/{backbone}/seed{seed}/{encoder}/{variant}/model.pt   finetune and the baselines
    .../model.pt → metrics.json, test_ranks.parquet                        evaluate
    results/{dataset}/{backbone}/seed{seed}/{encoder}/kendall.json         kendall
    results/{dataset}/report.md, figures/{name}.png                        report

This module runs when Snakemake builds the DAG: it imports no torch and no Snakemake.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from typing import Any

from padlib.config import phase_train
from padlib.report.spec import FigureSpec, ReportSpec, parse_report
from padlib.variants import (DEFAULT_LABELS, DEFAULT_PRETRAIN, SCRATCH_METHODS, TEXT_METHODS, Experiment, Variant,
                             alignments, experiments, phase1_settings, pretrains, resolve_variants)

DATA = "results/{dataset}/data/items.parquet"
EMBEDDINGS = "results/{dataset}/embeddings/{encoder}.parquet"
EMBEDDING_PART = "results/{dataset}/embeddings/{encoder}.parts/part{shard}-of{n_shards}.parquet"
RUN_DIR = "results/{dataset}/{backbone}/seed{seed}"
PRETRAIN_MODEL = RUN_DIR + "/{pretrain}/model.pt"
ALIGN_MODEL = RUN_DIR + "/{encoder}/align/{alignment}/model.pt"
VARIANT_MODEL = RUN_DIR + "/{encoder}/{variant}/model.pt"
KENDALL = RUN_DIR + "/{encoder}/kendall.json"
REPORT = "results/{dataset}/report.md"
FIGURE = "results/{dataset}/figures/{name}.png"
WHEEL = "resources/wheels/{name}.whl"
MODEL_DIR = "resources/models/{name}"

BACKBONE_LABELS = {"sasrec": "SASRec", "gru4rec": "GRU4Rec", "caser": "Caser"}
# The rule that trains each text method's models: they all write VARIANT_MODEL, told apart by the variant.
TEXT_RULES = {"finetune": ("pad",), "scratch": SCRATCH_METHODS, "make_experts": ("make",)}


def evaluation(model: str) -> dict[str, str]:
    """The files the evaluate rules write beside a model checkpoint."""
    return {"metrics": model.replace("model.pt", "metrics.json"),
            "ranks": model.replace("model.pt", "test_ranks.parquet")}


def pattern(names: list[str] | dict[str, Any]) -> str:
    """A regex matching exactly these names, for a wildcard constraint (one that never matches if none)."""
    return "|".join(map(re.escape, names)) or "(?!)"


@dataclass(frozen=True)
class Plan:
    """What one validated config builds. ``report`` holds only the figures the run has data for."""

    config: dict[str, Any] = field(repr=False)
    variants: dict[str, Variant]
    alignments: dict[str, Variant]
    pretrains: dict[str, dict[str, Any]]
    experiments: list[Experiment]
    report: ReportSpec

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Plan:
        variants = resolve_variants(config)
        runs = experiments(config, variants)
        spec = parse_report(
            config,
            backbones=list(dict.fromkeys(e.backbone for e in runs)),
            encoders=list(dict.fromkeys(e.encoder for e in runs if e.encoder)),
            variants=list(dict.fromkeys(e.variant.name for e in runs)),
            k=config["evaluate"]["k"],
        )
        plan = cls(config, variants, alignments(variants), pretrains(variants), runs, spec)
        figures = [f for f in spec.figures if plan.figure_has_data(f)]
        return dataclasses.replace(plan, report=dataclasses.replace(spec, figures=figures))

    @property
    def datasets(self) -> list[str]:
        return self.config["run"]["datasets"]

    @property
    def seeds(self) -> list[int]:
        return self.config["run"]["seeds"]

    def targets(self) -> list[str]:
        """What ``rule all`` builds: each dataset's report and Kendall's τ runs."""
        return ([REPORT.format(dataset=dataset) for dataset in self.datasets]
                + [path for dataset in self.datasets for path in self.kendall_targets(dataset)])

    def runs_of(self, rule: str) -> list[str]:
        """The runs a rule may build, by the name its output path holds: phase-1 runs (``pretrain``,
        ``evaluate_id``), alignment runs (``align``) or variants (the text rules, ``evaluate_variant``).
        Rules writing the same path pattern get disjoint lists, so no job is ambiguous."""
        if rule in ("pretrain", "evaluate_id"):
            return list(self.pretrains)
        if rule == "align":
            return list(self.alignments)
        methods = TEXT_METHODS if rule == "evaluate_variant" else TEXT_RULES[rule]
        return [name for name, v in self.variants.items() if v.method in methods]

    # -- where artifacts live ------------------------------------------------------------------

    def embedding_parts(self, dataset: str, encoder: str) -> list[str]:
        """The ``embed.shards`` part files one (dataset, encoder) embedding is gathered from."""
        n = self.config["embed"]["shards"]
        return [EMBEDDING_PART.format(dataset=dataset, encoder=encoder, shard=i, n_shards=n) for i in range(n)]

    def encoder_model_dir(self, encoder: str) -> str:
        """The local model directory an encoder reads: a prepared wheel model or the user's path."""
        source = self.config["encoders"][encoder]["model"]
        return MODEL_DIR.format(name=source["wheel"]) if "wheel" in source else source["path"]

    def phase1_model(self, dataset: str, backbone: str, seed: int | str, variant: str) -> str:
        """The phase-1 model a variant (or the alignment run it names) starts from."""
        return PRETRAIN_MODEL.format(dataset=dataset, backbone=backbone, seed=seed,
                                     pretrain=self.variants[variant].pretrain_tag)

    def aligned_model(self, dataset: str, backbone: str, seed: int | str, encoder: str, variant: str) -> str:
        """The alignment run a PAD variant fine-tunes, shared by the variants with the same align config."""
        return ALIGN_MODEL.format(dataset=dataset, backbone=backbone, seed=seed, encoder=encoder,
                                  alignment=self.variants[variant].align_tag)

    def stages(self, dataset: str, backbone: str, seed: int | str, encoder: str | None,
               variant: Variant) -> dict[str, str]:
        """stage → the artifact of every stage a variant's model depends on, ending with its metrics
        (their manifests hold the wall times the report sums)."""
        where = {"dataset": dataset, "backbone": backbone, "seed": seed, "encoder": encoder}
        pretrain = PRETRAIN_MODEL.format(**where, pretrain=variant.pretrain_tag)
        if variant.method == "id":
            model, stages = pretrain, {"pretrain": pretrain}
        else:
            model = VARIANT_MODEL.format(**where, variant=variant.name)
            stages = {"embed": EMBEDDINGS.format(**where)}
            if variant.method in ("pad", "make"):
                stages["pretrain"] = pretrain
            if variant.method == "pad":
                stages["align"] = ALIGN_MODEL.format(**where, alignment=variant.align_tag)
            if variant.method == "make":
                stages["train"] = VARIANT_MODEL.format(**where, variant=variant.text_from)
            stages["finetune" if variant.method in ("pad", "make") else "train"] = model
        return {"data": DATA.format(dataset=dataset), **stages, "evaluate": evaluation(model)["metrics"]}

    def text_model(self, dataset: str, backbone: str, seed: int | str, encoder: str, variant: str) -> str:
        """The MoRec model a MAKE variant takes its text expert from."""
        return VARIANT_MODEL.format(dataset=dataset, backbone=backbone, seed=seed, encoder=encoder,
                                    variant=self.variants[variant].text_from)

    # -- what each training rule reads (its params: editing them reruns it) --------------------

    def stage_params(self, rule: str, backbone: str, name: str) -> dict[str, Any]:
        """The config a training rule reads for one run: the protocol, the model with this backbone's
        options, the phase's ``train`` block under the run's overrides, and the rule's own section.
        ``name`` is the phase-1 run for ``pretrain``, the alignment run for ``align``, else the variant."""
        config = self.config
        if rule == "pretrain":
            overrides = self.pretrains[name]
            params = self._stage("pretrain", backbone, overrides["train"], overrides)
            return {**params, "model": phase1_settings(params["model"])}
        variant = self.variants[name]
        overrides = variant.overrides
        if rule == "align":
            return self._stage("align", backbone, variant.phase_train("align"), overrides, align=variant.align)
        if rule in ("finetune", "make_experts"):
            return self._stage("finetune", backbone, variant.phase_train("finetune"), overrides,
                               finetune=variant.finetune)
        if rule == "scratch" and variant.method in ("ctrl", "disco"):  # their own config sections
            return self._stage(variant.method, backbone, variant.train, overrides,
                               **{variant.method: config[variant.method]})
        if rule == "scratch":
            return self._stage("scratch", backbone, variant.train, overrides)
        raise ValueError(f"no training rule {rule!r}")

    def _stage(self, phase: str, backbone: str, train: dict[str, Any], overrides: dict[str, Any],
               **sections: Any) -> dict[str, Any]:
        """``overrides``: the run's ``PHASE1_OVERRIDES`` (a variant's, or a phase-1 run's); ``train`` is
        the phase's own train override, so only ``model`` and ``backbones`` are read from them."""
        config = self.config
        options = {**config["backbones"][backbone], **overrides["backbones"].get(backbone, {})}
        model = {**config["model"], **overrides["model"], "backbone": {"name": backbone, **options}}
        rate = (sections.get(phase) or {}).get("dropout")
        if rate is not None:  # <phase>.dropout: every dropout of the models this phase trains
            model = {**model, "projection_dropout": rate, "fusion_dropout": rate,
                     "backbone": {**model["backbone"], "dropout": rate}}
        return {"protocol": config["protocol"], "model": model,
                "train": {**phase_train(config, phase), **train}, **sections}

    @property
    def eval_params(self) -> dict[str, Any]:
        return {"protocol": self.config["protocol"], "evaluate": self.config["evaluate"]}

    # -- the report ----------------------------------------------------------------------------

    def label(self, experiment: Experiment) -> str:
        """A report row's name: the backbone's for the plain ID-only model, else the variant's label
        tagged with the encoder and backbone where the run has several of them."""
        variant, backbone = experiment.variant, BACKBONE_LABELS[experiment.backbone]
        if variant.method == "id" and variant.label == DEFAULT_LABELS["id"]:
            return backbone
        encoders = {e.encoder for e in self.experiments if e.encoder}
        backbones = {e.backbone for e in self.experiments}
        tags = ([experiment.encoder] if experiment.encoder and len(encoders) > 1 else []) + (
            [backbone] if len(backbones) > 1 and backbone not in variant.label else [])
        return variant.label + (f" ({', '.join(tags)})" if tags else "")

    def reference_variant(self, variant: Variant) -> str | None:
        """The ID-only variant a variant's relative improvement is measured against: ``report.baseline``
        when it has the same phase-1 overrides, else the first ID-only variant that does and runs."""
        same = [v.name for v in self.variants.values() if v.method == "id" and v.pretrain_tag == variant.pretrain_tag]
        if self.report.baseline in same:
            return self.report.baseline
        ran = {e.variant.name for e in self.experiments}
        return next((name for name in same if name in ran), None)

    def report_runs(self, dataset: str) -> list[dict[str, Any]]:
        """Every trained model of ``dataset``: label, seed, metrics file and stage artifacts."""
        runs = []
        for exp in self.experiments:
            variant = exp.variant
            label = self.label(exp)
            reference = self.reference_variant(variant) if self.report.baseline else None
            for seed in self.seeds:
                stages = self.stages(dataset, exp.backbone, seed, exp.encoder, variant)
                runs.append({"model": label, "seed": seed, "backbone": exp.backbone, "encoder": exp.encoder,
                             "variant": variant.name, "reference": reference, "metrics": stages["evaluate"],
                             "ranks": stages["evaluate"].replace("metrics.json", "test_ranks.parquet"),
                             "stages": stages})
        return runs

    def report_inputs(self, dataset: str) -> list[str]:
        """Every file the report reads: each run's stage artifacts and test ranks, and the Kendall runs."""
        runs = self.report_runs(dataset)
        paths = {path for run in runs for path in [*run["stages"].values(), run["ranks"]]}
        return sorted(paths | set(self.kendall_targets(dataset)))

    def figure(self, dataset: str, name: str) -> str:
        return FIGURE.format(dataset=dataset, name=name)

    def figure_has_data(self, figure: FigureSpec) -> bool:
        """A figure is drawn when the run trains something it shows: a model (groups), two models to
        compare (overall), or a non-anchored alignment (Kendall's τ)."""
        rows = figure.rows
        if figure.kind == "kendall":
            return bool(rows.backbones and rows.encoders and self.kendall_alignments(rows.backbones[0],
                                                                                     rows.encoders[0]))
        return bool(rows.backbones) and len(rows.variants) >= (2 if figure.kind == "overall" else 1)

    # -- Kendall's τ (paper Fig. 6a) -----------------------------------------------------------

    def kendall_alignments(self, backbone: str, encoder: str) -> dict[str, str]:
        """The alignment runs (name → label) of one (backbone, encoder), if any of them is non-anchored:
        the Fig. 6a comparison of how far each alignment moves the ID space. Runs with phase-1
        overrides start from another phase-1 model, so they are left out."""
        used: dict[str, str] = {}
        for exp in self.experiments:
            variant = exp.variant
            if (exp.backbone == backbone and exp.encoder == encoder and variant.align_tag
                    and variant.pretrain_tag == DEFAULT_PRETRAIN):
                used.setdefault(variant.align_tag, self.variants[variant.align_tag].label)
        if not any(self.alignments[name].align["anchoring"] == "none" for name in used):
            return {}
        return used

    def kendall_models(self, dataset: str, backbone: str, seed: int | str, encoder: str) -> list[str]:
        """The aligned models one Kendall run compares with the phase-1 model."""
        return [ALIGN_MODEL.format(dataset=dataset, backbone=backbone, seed=seed, encoder=encoder, alignment=name)
                for name in self.kendall_alignments(backbone, encoder)]

    def kendall_entries(self, dataset: str) -> list[dict[str, Any]]:
        """The kendall.json files of ``dataset`` with their (backbone, encoder, seed) and the report label
        of each alignment run they compare."""
        combos = dict.fromkeys((e.backbone, e.encoder) for e in self.experiments if e.encoder)
        return [{"backbone": backbone, "encoder": encoder, "seed": seed,
                 "path": KENDALL.format(dataset=dataset, backbone=backbone, seed=seed, encoder=encoder),
                 "labels": labels}
                for backbone, encoder in combos if (labels := self.kendall_alignments(backbone, encoder))
                for seed in self.seeds]

    def kendall_targets(self, dataset: str) -> list[str]:
        return [entry["path"] for entry in self.kendall_entries(dataset)]
