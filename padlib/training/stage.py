"""What every training stage (the three phases, the baselines, DisCo) does around its model:
read the data and the text, seed the random generators, train with a resume file, and write
the checkpoint and its manifest."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from padlib.data.dataset import SequenceData, load_data
from padlib.device import resolve_device
from padlib.io import manifest_path, write_manifest
from padlib.models.build import ModelConfig
from padlib.models.checkpoint import save_checkpoint
from padlib.plan import evaluation
from padlib.seed import set_seed
from padlib.text.store import load_text
from padlib.training.loop import FitResult, TrainConfig, fit
from padlib.training.resume import Resume, resume_path


@dataclass
class TrainingStage:
    """One training job's inputs, read; ``text`` is None for ID-only stages."""

    data_dir: str
    out: str
    params: dict[str, Any]
    seed: int
    device: torch.device
    data: SequenceData
    model_cfg: ModelConfig
    text: torch.Tensor | None
    inputs: list[str]  # the embeddings and checkpoints it reads (the data files aside)

    @classmethod
    def open(cls, data_dir: str, out: str, params: dict[str, Any], seed: int, device: str = "auto",
             embeddings: str | None = None, checkpoints: tuple[str, ...] = ()) -> "TrainingStage":
        """Read the data (and the normalised text), then seed: the model built next starts the same
        for the same seed. The evaluation beside ``out`` described the model being replaced: it goes
        now, so a failed or diverged run leaves no metrics of a model that is gone."""
        for stale in evaluation(out).values():
            Path(stale).unlink(missing_ok=True)
            manifest_path(stale).unlink(missing_ok=True)
        data = load_data(data_dir, params["protocol"])
        model_cfg = ModelConfig.from_dict(params["model"])
        text = None if embeddings is None else load_text(embeddings, data.n_items, model_cfg.text_norm)
        set_seed(seed)
        inputs = [p for p in (embeddings, *checkpoints) if p is not None]
        return cls(data_dir, out, params, seed, resolve_device(device), data, model_cfg, text, inputs)

    def fit(self, model: nn.Module, train: TrainConfig, desc: str, **options: Any) -> FitResult:
        """``training.loop.fit`` with this job's resume file (fingerprinted by params, seed and inputs)."""
        files = [*sorted(Path(self.data_dir).glob("*.parquet")), *self.inputs]
        resume = Resume.for_run(self.out, self.params, self.seed, files)
        return fit(model, self.data, train, self.seed, self.device, desc=desc, resume=resume, **options)

    def save(self, model: nn.Module, phase: str, result: FitResult, *, config: dict[str, Any] | None = None,
             **extra: Any) -> None:
        """``config``: what the manifest records, when the stage filled defaults into its params. Under
        the workflow the params already carry the schema's defaults (``padlib.config.fill_defaults``);
        this covers direct calls with partial params, whose manifests would otherwise omit them."""
        manifest_config = self.params if config is None else config
        save_run(self.out, model, phase, self.data, self.model_cfg, result, manifest_config, self.inputs, self.seed,
                 self.device, **extra)


def save_run(out: str, model: nn.Module, phase: str, data: SequenceData, model_cfg: ModelConfig,
             result: FitResult, params: dict[str, Any], inputs: list[str], seed: int, device: torch.device,
             **extra: Any) -> None:
    """The checkpoint, then its manifest; the resume file goes once both are written."""
    save_checkpoint(out, model, phase=phase, n_items=data.n_items, max_length=data.max_input_length,
                    model_cfg=model_cfg, extra={"fit": asdict(result), "seed": seed, **extra})
    write_manifest(out, config=params, inputs=inputs, seed=seed, wall_time_s=result.wall_time_s,
                   device=str(device), extra={"best_epoch": result.best_epoch,
                                              "best_valid_ndcg": result.best_valid_ndcg,
                                              "epochs_run": result.epochs_run})
    resume_path(out).unlink(missing_ok=True)
