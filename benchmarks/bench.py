"""Throughput benchmark: training, validation, embedding and serving, with ratios against a
reference commit measured in the same run on the same machine.

    python benchmarks/bench.py                         # current tree vs b12c064, ML-1M + Prime Pantry
    python benchmarks/bench.py --device cuda --reference none
    python benchmarks/bench.py --full                  # also time-to-best runs (minutes to hours)

The parent process extracts the reference commit's ``padlib`` and ``config.yaml`` with ``git
archive`` and runs the same worker (this file, ``--worker``) once per code tree, one after the
other, so the two never share the cores. Each worker times, per dataset:

- per-epoch time of each phase (pretrain, align, finetune) and of MoRec: training steps over a
  fixed subset of users (``--train-users``), scaled to all users, plus one validation pass;
  each tree trains with its own ``config.yaml`` (batch size, precision);
- one validation pass (full ranking of every validation user).

The current tree alone adds the fp32 (and bf16) matmul peak, text-embedding throughput (SmolLM2
when ``resources/models/smollm2`` exists, else the same architecture with random weights: the
speed does not depend on the weights), top-10 serving latency over a synthetic 10^6-item PAD
catalogue, and with ``--full`` the wall time to the best validation epoch of every phase.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import subprocess
import sys
import tarfile
import tempfile
import time
from io import BytesIO
from pathlib import Path

from seed_noise import stage_params  # noqa: E402  (beside this file)

ROOT = Path(__file__).resolve().parents[1]
PHASES = ("pretrain", "align", "finetune", "morec")


# ---------------------------------------------------------------------------------------------
# worker: runs inside one code tree (PYTHONPATH) and prints one JSON object
# ---------------------------------------------------------------------------------------------

def _sync(device) -> None:
    import torch
    if device.type == "cuda":
        torch.cuda.synchronize()


def matmul_peak(device, dtype_name: str, n: int = 2048, repeats: int = 10) -> float:
    """GFLOP/s of an n×n×n matrix product (the best of ``repeats``)."""
    import torch
    dtype = getattr(torch, dtype_name)
    if device.type == "cuda":
        n = 8192
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    a @ b
    _sync(device)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        a @ b
        _sync(device)
        best = min(best, time.perf_counter() - start)
    return 2 * n ** 3 / best / 1e9


def _params(config: dict, phase: str, **kwargs) -> dict:
    """The workflow's params for ``phase`` (MoRec trains with phase 1's train block)."""
    return stage_params(config, {"morec": "pretrain"}.get(phase, phase), **kwargs)


def _train_config(config: dict, phase: str):
    """The phase's TrainConfig, keeping only the keys the tree's TrainConfig knows (older trees lack some)."""
    from padlib.training.loop import TrainConfig
    known = {f.name for f in dataclasses.fields(TrainConfig)}
    return TrainConfig(**{k: v for k, v in _params(config, phase, overrides={})["train"].items() if k in known})


def _model(phase: str, data, text, config: dict):
    from padlib.models.build import ModelConfig, aligned_expert, id_expert, pad_model, text_expert
    from padlib.models.recommender import SingleExpert
    from padlib.training.phases import alignment_loss
    params = _params(config, phase, overrides={})
    mc = ModelConfig.from_dict(params["model"])
    length = data.max_input_length
    if phase == "pretrain":
        return SingleExpert(id_expert(data.n_items, mc, length)), None
    if phase == "align":
        return SingleExpert(aligned_expert(data.n_items, text, mc, length)), alignment_loss(params["align"])
    if phase == "morec":
        return SingleExpert(text_expert(text, mc, length)), None
    ft = config["finetune"]
    return pad_model(data.n_items, text, data.item_buckets, data.n_buckets, mc, length, ft["gate_init"],
                     tuple(ft["experts"]), gate=ft["gate"]), None


def _reference_epoch(model, data, cfg, optimizer, gen, device, extra_loss) -> None:
    """The b12c064 loop body (``padlib.training.loop.fit``), for trees without ``train_epoch``."""
    import torch
    from padlib.training.loop import Batch, recommendation_loss
    from padlib.training.sampling import sample_negatives
    model.train()
    n_users = data.train_input.shape[0]
    order = torch.randperm(n_users, generator=gen)
    for lo in range(0, n_users, cfg.batch_size):
        rows = order[lo:lo + cfg.batch_size]
        history_b, target_b = data.train_input[rows].to(device), data.train_target[rows].to(device)
        negatives = sample_negatives(data.train_items[rows], tuple(target_b.shape), data.n_items, gen).to(device)
        loss = cfg.bce_weight * recommendation_loss(model, history_b, target_b, negatives)
        if extra_loss is not None:
            seen = torch.unique(torch.cat([history_b.flatten(), target_b.flatten(), negatives.flatten()]))
            loss = loss + extra_loss(model, Batch(history_b, target_b, negatives, seen[seen != 0]))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        loss.item()


def _users_subset(data, n: int):
    return dataclasses.replace(data, train_input=data.train_input[:n], train_target=data.train_target[:n],
                               train_items=data.train_items[:n])


def time_phase(phase: str, data, text, config: dict, device, train_users: int) -> dict:
    import torch
    from padlib.training import loop
    from padlib.training.loop import validation_ndcg
    torch.manual_seed(0)
    model, extra = _model(phase, data, text, config)
    model.to(device)
    cfg = _train_config(config, phase)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=cfg.lr,
                                  weight_decay=cfg.weight_decay)
    gen = torch.Generator().manual_seed(0)
    epoch = getattr(loop, "train_epoch", None) or _reference_epoch
    n_users = data.train_input.shape[0]
    subset = min(train_users, n_users)
    epoch(model, _users_subset(data, 2 * cfg.batch_size), cfg, optimizer, gen, device, extra)  # warm-up
    _sync(device)
    start = time.perf_counter()
    epoch(model, _users_subset(data, subset), cfg, optimizer, gen, device, extra)
    _sync(device)
    train_s = (time.perf_counter() - start) * n_users / subset
    validation_ndcg(model, data.valid, data, cfg, device)  # warm-up
    _sync(device)
    start = time.perf_counter()
    validation_ndcg(model, data.valid, data, cfg, device)
    _sync(device)
    valid_s = time.perf_counter() - start
    return {"train_s": train_s, "valid_s": valid_s, "epoch_s": train_s + valid_s, "batch_size": cfg.batch_size,
            "precision": getattr(cfg, "precision", "fp32"), "loss": getattr(cfg, "loss", "bce"), "steps_timed": -(-subset // cfg.batch_size)}


def load_dataset(data_dir: str, embeddings: str | None, config: dict, text_dim: int):
    """The processed dataset and its text matrix (random of ``text_dim`` when no embeddings file)."""
    import torch
    from padlib.data.dataset import SequenceData
    from padlib.text.normalize import normalize_text
    from padlib.text.store import read_embeddings
    protocol = config["protocol"]
    data = SequenceData.load(data_dir, protocol["n_buckets"], protocol["max_input_length"])
    if embeddings and Path(embeddings).is_file():
        matrix, _ = read_embeddings(embeddings, data.n_items)
        text = torch.from_numpy(normalize_text(matrix, config["model"]["text_norm"]))
    else:
        text = torch.randn(data.n_items + 1, text_dim, generator=torch.Generator().manual_seed(0))
        text[0] = 0
    return data, text


def _one_user_latency(model, histories, n_items: int, device, kwargs: dict) -> tuple[float, list]:
    """Median ms of one user's top-10 (after a warm-up call), and each user's items."""
    from padlib.evaluation import ranking
    ranking.top_k(model, histories[:1], n_items, 10, device=device, **kwargs)
    times, found = [], []
    for u in range(histories.shape[0]):
        start = time.perf_counter()
        items, _ = ranking.top_k(model, histories[u:u + 1], n_items, 10, device=device, **kwargs)
        _sync(device)
        times.append(time.perf_counter() - start)
        found.append(items)
    return 1e3 * sorted(times)[len(times) // 2], found


def serving(config: dict, device, n_items: int, users: int, batch: int) -> dict:
    """Top-10 over a synthetic PAD catalogue: random text vectors, random histories."""
    import torch
    from padlib.evaluation import ranking
    from padlib.models.build import ModelConfig, pad_model
    torch.manual_seed(0)
    mc = ModelConfig.from_dict(_params(config, "finetune", overrides={})["model"])
    n_buckets = config["protocol"]["n_buckets"]
    text = torch.randn(n_items + 1, 576)
    buckets = torch.randint(1, n_buckets + 1, (n_items + 1,))
    ft = config["finetune"]
    model = pad_model(n_items, text, buckets, n_buckets, mc, 20, ft["gate_init"], tuple(ft["experts"])).to(device)
    model.eval()
    histories = torch.randint(1, n_items + 1, (max(users, batch), 20))
    prepared = hasattr(model, "catalog")
    out = {"n_items": n_items, "prepared_catalog": prepared}
    with torch.inference_mode():
        start = time.perf_counter()
        catalog = model.catalog() if prepared else None
        if hasattr(catalog, "for_serving"):  # the item-major layout (older commits have none)
            catalog = catalog.for_serving()
        _sync(device)
        out["load_s"] = time.perf_counter() - start
        kwargs = {"catalog": catalog} if prepared else {}
        out["latency_ms"], found = _one_user_latency(model, histories[:users], n_items, device, kwargs)
        if getattr(catalog, "screen", None) is not None:  # the float16 screen against fp32 alone
            fp32 = {"catalog": dataclasses.replace(catalog, screen=None)}
            out["fp32_latency_ms"], exact = _one_user_latency(model, histories[:users], n_items, device, fp32)
            out["screen_exact"] = f"{sum((a == b).all() for a, b in zip(found, exact))}/{users}"
        if prepared:
            start = time.perf_counter()
            ranking.top_k(model, histories[:batch], n_items, 10, device=device, **kwargs)
            _sync(device)
            out["batched_ms_per_user"] = 1e3 * (time.perf_counter() - start) / batch
            out["batch"] = batch
    return out


def embedding(device, texts: list[str], encoder_cfg: dict) -> dict:
    """Texts/s, tokens/s and achieved FLOP/s of the SmolLM2 encoder over ``texts``, batched as the
    embed stage batches them (``batch_size`` and ``max_tokens`` of the encoder's config)."""
    from padlib.text.encoder import encode, load_text_encoder
    model_dir = ROOT / "resources/models/smollm2"
    source = "SmolLM2-135M weights"
    if not (model_dir / "model.safetensors").exists():
        from transformers import AutoConfig, AutoModel
        random_dir = Path(tempfile.mkdtemp()) / "smollm2-random"
        cfg = AutoConfig.from_pretrained(model_dir)
        AutoModel.from_config(cfg).save_pretrained(random_dir)
        for name in ("tokenizer.json", "tokenizer_config.json"):
            (random_dir / name).write_bytes((model_dir / name).read_bytes())
        model_dir, source = random_dir, "SmolLM2-135M architecture, random weights"
    encoder = load_text_encoder(model_dir, "llm2vec", device=device)
    lengths = [len(ids) for ids in encoder.tokenizer(texts, truncation=True, max_length=512)["input_ids"]]
    cfg = encoder.model.config
    params = sum(p.numel() for n, p in encoder.model.named_parameters() if "embed_tokens" not in n)
    # 2 FLOPs per weight per token, plus attention scores and mixing: 4·layers·hidden per token pair
    flops = sum(2 * params * t + 4 * cfg.num_hidden_layers * cfg.hidden_size * t * t for t in lengths)
    batching = {"batch_size": encoder_cfg["batch_size"], "max_tokens": encoder_cfg.get("max_tokens")}
    encode(encoder, texts[:64], progress=False, **batching)  # warm-up
    _sync(device)
    start = time.perf_counter()
    encode(encoder, texts, progress=False, **batching)
    _sync(device)
    seconds = time.perf_counter() - start
    return {"texts": len(texts), "tokens": sum(lengths), "seconds": seconds, "texts_per_s": len(texts) / seconds,
            "tokens_per_s": sum(lengths) / seconds, "gflops": flops / seconds / 1e9,
            "dtype": str(next(encoder.model.parameters()).dtype).removeprefix("torch."), "source": source, **batching}


def full_runs(data_dir: str, embeddings: str, config: dict, device, workdir: Path, max_epochs: int | None = None) -> dict:
    """Each phase trained to early stopping with the workflow's stage functions: wall time to the
    best validation epoch (training + validation up to it), and SASRec's test nDCG@10."""
    from padlib.evaluation.stage import evaluate_checkpoint
    from padlib.training.baselines import scratch
    from padlib.training.phases import align, finetune, pretrain
    cap = {"max_epochs": max_epochs} if max_epochs else {}
    params = {phase: _params(config, phase, overrides=cap) for phase in PHASES}
    ckpt = {p: str(workdir / f"{p}.pt") for p in PHASES}
    device = str(device)
    runs = {
        "pretrain": lambda: pretrain(data_dir, ckpt["pretrain"], params["pretrain"], 0, device=device),
        "align": lambda: align(data_dir, embeddings, ckpt["pretrain"], ckpt["align"], params["align"], 0,
                               device=device),
        "finetune": lambda: finetune(data_dir, embeddings, ckpt["pretrain"], ckpt["align"], ckpt["finetune"],
                                     params["finetune"], 0, device=device),
        "morec": lambda: scratch(data_dir, embeddings, ckpt["morec"], params["morec"], 0, "morec", device=device),
    }
    out = {}
    for phase, run in runs.items():
        result = run()
        upto = [h for h in result.history if h["epoch"] <= result.best_epoch]
        out[phase] = {"best_epoch": result.best_epoch, "epochs_run": result.epochs_run,
                      "valid_ndcg": result.best_valid_ndcg, "wall_s": result.wall_time_s,
                      "to_best_s": sum(h["train_s"] + h["valid_s"] for h in upto)}
        metrics = evaluate_checkpoint(data_dir, ckpt[phase], embeddings, str(workdir / f"{phase}-metrics.json"),
                                      str(workdir / f"{phase}-ranks.parquet"),
                                      {"protocol": config["protocol"], "evaluate": config["evaluate"]},
                                      device=device)
        out[phase]["test_ndcg"] = metrics["test"]["overall"]["ndcg@10"]
    return out


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def parse_dataset(spec: str) -> tuple[str, str, str]:
    """``name=DATA_DIR[,EMBEDDINGS]`` → (name, data dir, embeddings path or "")."""
    name, _, paths = spec.partition("=")
    data_dir, _, embeddings = paths.partition(",")
    if not name or not data_dir:
        raise SystemExit(f"--dataset {spec!r}: expected name=DATA_DIR[,EMBEDDINGS.parquet]")
    return name, data_dir, embeddings


def summarize_runs(results: Path) -> str:
    """Time to the best validation epoch of every training run under ``results`` (a workflow's own
    checkpoints: their fit history records each epoch's training and validation seconds), with the
    test nDCG@10 of the run's metrics.json when evaluated."""
    from padlib.models.build import load_checkpoint
    lines = ["| run | best epoch / run | to best | total | valid nDCG@10 | test nDCG@10 |", "|---|---|---|---|---|---|"]
    for path in sorted(results.rglob("model.pt")):
        fit = load_checkpoint(path)["fit"]
        upto = [h for h in fit["history"] if h["epoch"] <= fit["best_epoch"]]
        if not all("train_s" in h for h in upto):
            continue
        to_best = sum(h["train_s"] + h["valid_s"] for h in upto)
        metrics = path.parent / "metrics.json"
        test = json.loads(metrics.read_text())["test"]["overall"]["ndcg@10"] if metrics.exists() else None
        lines.append(f"| {path.parent.relative_to(results)} | {fit['best_epoch']} / {fit['epochs_run']} | "
                     f"{to_best:.0f} s | {fit['wall_time_s']:.0f} s | {fit['best_valid_ndcg']:.4f} | "
                     f"{'—' if test is None else f'{test:.4f}'} |")
    return "\n".join(lines)


def worker(args: argparse.Namespace) -> None:
    import torch
    import yaml
    from padlib.device import resolve_device
    torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    config = yaml.safe_load((Path(args.tree) / "config.yaml").read_text())
    if args.loss:
        config["train"]["loss"] = args.loss
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    result: dict = {"datasets": {}, "machine": {
        "cpu": _cpu_name(), "cores": cores, "torch": torch.__version__, "threads": torch.get_num_threads(),
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"}}
    for spec in args.dataset:
        name, data_dir, embeddings = parse_dataset(spec)
        data, text = load_dataset(data_dir, embeddings, config, args.text_dim)
        entry: dict = {"users": data.valid.history.shape[0], "items": data.n_items,
                       "real_text": bool(embeddings) and Path(embeddings).is_file(), "phases": {}}
        for phase in args.phases:
            entry["phases"][phase] = time_phase(phase, data, text, config, device, args.train_users)
            print(f"[{args.label}] {name} {phase}: {entry['phases'][phase]}", file=sys.stderr, flush=True)
        result["datasets"][name] = entry
    if args.extras:
        result["peak_gflops"] = {"fp32": matmul_peak(device, "float32"), "bf16": matmul_peak(device, "bfloat16")}
        print(f"[{args.label}] peak: {result['peak_gflops']}", file=sys.stderr, flush=True)
        if args.embed_texts:
            import polars as pl
            name, data_dir, _ = parse_dataset(args.dataset[-1])  # Prime Pantry by default: the paper's titles
            items = pl.read_parquet(Path(data_dir) / "items.parquet")
            column = "title" if "title" in items.columns else items.columns[-1]
            texts = [str(t) for t in items[column].to_list()[:args.embed_texts]]
            result["embedding"] = {**embedding(device, texts, config["encoders"]["smollm2"]), "dataset": name}
            print(f"[{args.label}] embedding: {result['embedding']}", file=sys.stderr, flush=True)
    if args.serve_items:
        result["serving"] = serving(config, device, args.serve_items, args.serve_users, args.serve_batch)
        print(f"[{args.label}] serving: {result['serving']}", file=sys.stderr, flush=True)
    if args.full:
        result["full"] = {}
        for spec in args.dataset:
            name, data_dir, embeddings = parse_dataset(spec)
            with tempfile.TemporaryDirectory() as tmp:
                result["full"][name] = full_runs(data_dir, embeddings, config, device, Path(tmp), args.full_max_epochs)
            print(f"[{args.label}] full {name}: {result['full'][name]}", file=sys.stderr, flush=True)
    print(json.dumps(result))


# ---------------------------------------------------------------------------------------------
# parent: prepares the trees, runs the workers one after the other, prints the table
# ---------------------------------------------------------------------------------------------

def extract(commit: str, into: Path) -> Path:
    """``padlib/`` and ``config.yaml`` of ``commit`` in ``into`` (git archive, no worktree)."""
    tar = subprocess.run(["git", "-C", str(ROOT), "archive", commit, "padlib", "config.yaml"],
                         check=True, capture_output=True).stdout
    with tarfile.open(fileobj=BytesIO(tar)) as archive:
        archive.extractall(into, filter="data")
    return into


def run_worker(tree: Path, label: str, args: argparse.Namespace, extras: bool) -> dict:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", "--tree", str(tree), "--label", label,
           "--device", args.device, "--threads", str(args.threads), "--train-users", str(args.train_users),
           "--text-dim", str(args.text_dim), "--phases", *args.phases]
    if args.loss:
        cmd += ["--loss", args.loss]
    for spec in args.dataset:
        cmd += ["--dataset", spec]
    if extras:
        cmd += ["--extras", "--embed-texts", str(args.embed_texts)]
    serve_users = args.serve_users if extras else args.reference_serve_users
    cmd += ["--serve-items", str(args.serve_items)]  # 0 (skip) too: the worker's default is not 0
    if args.serve_items:
        cmd += ["--serve-users", str(serve_users),
                "--serve-batch", str(args.serve_batch)]
    if args.full and extras:
        cmd += ["--full"] + (["--full-max-epochs", str(args.full_max_epochs)] if args.full_max_epochs else [])
    path = os.pathsep.join(p for p in (str(tree), os.environ.get("PYTHONPATH", "")) if p)
    env = {**os.environ, "PYTHONPATH": path, "OMP_NUM_THREADS": str(args.threads), "TQDM_DISABLE": "1"}
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    sys.stderr.write(proc.stderr[-4000:] if proc.returncode else "")
    if proc.returncode:
        raise SystemExit(f"{label} worker failed (exit {proc.returncode})")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def ratio(ref: float | None, new: float | None) -> str:
    return f"{ref / new:.1f}×" if ref and new else "—"


def table(current: dict, reference: dict | None, args: argparse.Namespace) -> str:
    m = current["machine"]
    lines = [f"machine: {m['cpu']}, {m['cores']} cores, torch {m['torch']}, {m['threads']} torch threads, "
             f"device {m['device']}",
             f"reference: {args.reference}; command: python benchmarks/bench.py {' '.join(sys.argv[1:])}", "",
             "| figure | dataset | reference | current | speed-up |", "|---|---|---|---|---|"]
    for name, entry in current["datasets"].items():
        ref_entry = (reference or {}).get("datasets", {}).get(name, {})
        for phase in entry["phases"]:
            cur = entry["phases"][phase]
            old = ref_entry.get("phases", {}).get(phase)
            fmt = lambda p: f"{p['epoch_s']:.1f} s (b{p['batch_size']}, {p['precision']}, {p.get('loss', 'bce')})"  # noqa: E731
            lines.append(f"| {phase} epoch | {name} | {fmt(old) if old else '—'} | {fmt(cur)} | "
                         f"{ratio(old and old['epoch_s'], cur['epoch_s'])} |")
        for phase in [p for p in ("pretrain", "finetune") if p in entry["phases"]]:
            cur = entry["phases"][phase]["valid_s"]
            old = ref_entry.get("phases", {}).get(phase, {}).get("valid_s")
            lines.append(f"| {phase} validation pass | {name} | {f'{old:.2f} s' if old else '—'} | {cur:.2f} s | "
                         f"{ratio(old, cur)} |")
    if "serving" in current:
        cur, old = current["serving"], (reference or {}).get("serving")
        old_ms = old["latency_ms"] if old else None
        lines.append(f"| top-10, 1 user, after loading | {cur['n_items']:,} items | "
                     f"{f'{old_ms:.0f} ms' if old_ms else '—'} | {cur['latency_ms']:.1f} ms | "
                     f"{ratio(old_ms, cur['latency_ms'])} |")
        if "fp32_latency_ms" in cur:
            lines.append(f"| top-10, 1 user: fp32 alone → float16 screen (same top-10: {cur['screen_exact']}) | "
                         f"{cur['n_items']:,} items | {cur['fp32_latency_ms']:.1f} ms | {cur['latency_ms']:.1f} ms | "
                         f"{ratio(cur['fp32_latency_ms'], cur['latency_ms'])} |")
        lines.append(f"| top-10 per user, batch of {cur.get('batch')} | {cur['n_items']:,} items | — | "
                     f"{cur.get('batched_ms_per_user', float('nan')):.1f} ms | — |")
        lines.append(f"| loading (catalogue build) | {cur['n_items']:,} items | — | {cur['load_s']:.2f} s | — |")
    lines.append("")
    for name, entry in current["datasets"].items():
        text = "the SmolLM2 embeddings" if entry["real_text"] else "random text vectors (speed does not depend on them)"
        lines.append(f"{name}: {entry['users']:,} users, {entry['items']:,} items, {text}")
    if "peak_gflops" in current:
        peak = current["peak_gflops"]
        lines.append(f"matmul peak: fp32 {peak['fp32']:.0f} GFLOP/s, bf16 {peak['bf16']:.0f} GFLOP/s")
    if "embedding" in current:
        e = current["embedding"]
        peak = current["peak_gflops"]["bf16" if e["dtype"] == "bfloat16" else "fp32"]
        budget = f", ≤ {e['max_tokens']} padded tokens" if e.get("max_tokens") else ""
        lines.append(f"embedding ({e['source']}, {e['dtype']}, batches of ≤ {e['batch_size']} texts{budget}, "
                     f"longest first): {e['texts']} {e['dataset']} titles, {e['tokens']} tokens in "
                     f"{e['seconds']:.1f} s = {e['texts_per_s']:.0f} texts/s, {e['tokens_per_s']:.0f} tokens/s, "
                     f"{e['gflops']:.0f} GFLOP/s = {100 * e['gflops'] / peak:.0f} % of the measured "
                     f"{e['dtype']} matmul peak")
    for name, runs in current.get("full", {}).items():
        lines.append(f"\nfull runs, {name} (seed 0): " + "; ".join(
            f"{phase} best epoch {r['best_epoch']} of {r['epochs_run']}, {r['to_best_s']:.0f} s to best "
            f"({r['wall_s']:.0f} s total), valid nDCG@10 {r['valid_ndcg']:.4f}, test nDCG@10 {r['test_ndcg']:.4f}"
            for phase, r in runs.items()))
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", action="append",
                        help="name=DATA_DIR[,EMBEDDINGS.parquet] (default: ML-1M and Prime Pantry under results/)")
    parser.add_argument("--reference", default="b12c064", help="commit to compare with, or 'none'")
    parser.add_argument("--reference-tree", help="a folder holding the reference's padlib/ and config.yaml "
                                                 "(instead of extracting --reference with git archive)")
    parser.add_argument("--device", default="cpu", help="cpu | cuda | auto")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--train-users", type=int, default=2048, help="users per timed training pass")
    parser.add_argument("--phases", nargs="+", choices=PHASES, default=list(PHASES),
                        help="the phases to time (e.g. --phases align after a change to phase 2)")
    parser.add_argument("--loss", choices=["bce", "softmax"],
                        help="train every phase with this loss (default: the config's, BCE)")
    parser.add_argument("--text-dim", type=int, default=576, help="random text vectors' dim when no embeddings file")
    parser.add_argument("--embed-texts", type=int, default=1024, help="item texts to embed (0: skip)")
    parser.add_argument("--serve-items", type=int, default=1_000_000, help="synthetic catalogue size (0: skip)")
    parser.add_argument("--serve-users", type=int, default=20)
    parser.add_argument("--reference-serve-users", type=int, default=1)
    parser.add_argument("--serve-batch", type=int, default=256)
    parser.add_argument("--full", action="store_true", help="also train every phase to early stopping (slow)")
    parser.add_argument("--full-max-epochs", type=int, help="cap the --full runs' epochs (a quick check)")
    parser.add_argument("--json", help="write the raw figures here")
    parser.add_argument("--runs", help="only summarise the training runs under this results folder "
                                       "(e.g. results/prime-pantry after a workflow run) and exit")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--tree", help=argparse.SUPPRESS)
    parser.add_argument("--label", default="current", help=argparse.SUPPRESS)
    parser.add_argument("--extras", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.dataset is None:
        args.dataset = [f"{name}=results/{name}/data,results/{name}/embeddings/smollm2.parquet"
                        for name in ("ml-1m", "prime-pantry")]
    if args.worker:
        worker(args)
        return
    if args.runs:
        print(summarize_runs(Path(args.runs)))
        return
    for spec in args.dataset:
        _, data_dir, _ = parse_dataset(spec)
        if not (Path(data_dir) / "items.parquet").exists():
            raise SystemExit(f"{data_dir}: no processed data; build it first, e.g. `make bench-data`")
    reference = None
    if args.reference_tree:
        reference = run_worker(Path(args.reference_tree).resolve(), args.reference, args, extras=False)
    elif args.reference != "none":
        with tempfile.TemporaryDirectory() as tmp:
            reference = run_worker(extract(args.reference, Path(tmp)), args.reference, args, extras=False)
    current = run_worker(ROOT, "current", args, extras=True)
    print(table(current, reference, args))
    for spec in args.dataset:  # time to the best epoch of whole runs: the workflow's own, when trained
        runs = Path(parse_dataset(spec)[1]).parent
        if any(runs.rglob("model.pt")):
            print(f"\ntime to the best validation epoch, the workflow's runs under {runs}:\n{summarize_runs(runs)}")
    if args.json:
        Path(args.json).write_text(json.dumps({"current": current, "reference": reference}, indent=1))


if __name__ == "__main__":
    main()
