"""The Kendall's-tau stage (paper Fig. 6a): how much each alignment reorders the ID space.

For the test split's (history item, target) pairs, Kendall's tau between the pairs' distances
in the pretrained ID table (phase 1) and in an alignment expert's ID table (phase 2), per bucket
of the target. τ near 1 means the alignment kept the collaborative geometry; lower τ means it
rewrote it (the catastrophic forgetting that rec-anchoring is meant to prevent).
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from padlib.analysis.kendall import kendall_by_bucket, test_pairs
from padlib.data.dataset import load_data
from padlib.figures import plot_tau
from padlib.io import write_json, write_manifest
from padlib.models.checkpoint import load_checkpoint

PRETRAINED_IDS = "expert.items.table.weight"
ALIGNED_IDS = "expert.items.ids.table.weight"


def id_table(path: str, key: str) -> np.ndarray:
    return load_checkpoint(path)["state_dict"][key].float().numpy()


def kendall_stage(data_dir: str, protocol: dict[str, Any], pretrain_ckpt: str, aligned: dict[str, str],
                  out_json: str, out_png: str, metric: str = "euclidean") -> dict[str, dict[int, dict]]:
    """τ per target bucket between the pretrained ID space and each alignment's ID space (``aligned``:
    alignment run name → checkpoint). Keyed by run name, not report label, so renaming a label
    reruns only the report, which maps names to labels."""
    start = time.perf_counter()
    data = load_data(data_dir, protocol)
    pairs = test_pairs(data.test.history.numpy(), data.test.target.numpy())
    base = id_table(pretrain_ckpt, PRETRAINED_IDS)
    buckets = data.item_buckets.numpy()
    results = {label: kendall_by_bucket(base, id_table(path, ALIGNED_IDS), pairs, buckets, data.n_buckets, metric)
               for label, path in aligned.items()}
    write_json(out_json, {"metric": metric, "pairs": int(len(pairs)),
                          "tau": {label: {str(b): v for b, v in r.items()} for label, r in results.items()}})
    plot_tau(results, out_png, "ID-space agreement after alignment (test pairs)")
    write_manifest(out_json, config={"protocol": protocol, "aligned": aligned, "metric": metric},
                   inputs=[pretrain_ckpt, *aligned.values()], wall_time_s=time.perf_counter() - start)
    return results
