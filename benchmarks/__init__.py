"""Throughput benchmark: training, validation, embedding and serving, with ratios against a
reference commit measured in the same run on the same machine.

    python -m benchmarks                         # current tree vs b12c064, ML-1M + Prime Pantry
    python -m benchmarks --device cuda --reference none
    python -m benchmarks --full                  # also time-to-best runs (minutes to hours)

The parent process extracts the reference commit's ``padlib``, ``config.yaml`` and ``schemas`` with
``git archive`` and runs the same worker (``python -m benchmarks --worker``) once per code tree, one
after the other, so the two never share the cores. Each worker times, per dataset:

- per-epoch time of each phase (pretrain, align, finetune) and of MoRec: one epoch of the tree's own
  ``training.loop.fit`` over a fixed subset of users (``--train-users``), scaled to all users, plus
  one validation pass; each tree trains with the params its own workflow gives the phase (batch
  size, precision);
- one validation pass (full ranking of every validation user).

The current tree alone adds the fp32 (and bf16) matmul peak, text-embedding throughput (SmolLM2
when ``resources/models/smollm2`` exists, else the same architecture with random weights: the
speed does not depend on the weights), top-10 serving latency over a synthetic 10^6-item PAD
catalogue, and with ``--full`` the wall time to the best validation epoch of every phase.

One module a job: ``worker`` (the protocol and what one worker measures), ``reference`` (the
reference tree), ``params`` (each tree's phase params), ``datasets``, ``training``, ``serving``,
``embedding``, ``hardware``, ``runs`` (time to the best epoch) and ``table``. The modules a worker
imports run against either tree's ``padlib`` (its ``PYTHONPATH``), so they import at the top only
what every supported tree has.
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PHASES = ("pretrain", "align", "finetune", "morec")
