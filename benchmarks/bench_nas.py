"""NAS on the demo data, side by side in one run:

1. candidates fully trained per minute, one by one (plain PyTorch + torch.optim.Adam) vs as a
   batched group (GroupTrainer), for K candidates of the same widths (all <= 64) with mixed
   activations; goal: batched >= 3x; and K candidates of two shapes trained as two groups in one
   process vs in two processes (train_candidates, n_jobs 1 vs 2);
2. the wall time of a 100-trial search (TPE, default space, default training); goal < 10 min;
3. NAS|NN vs the hand-tuned NN: valid and test Pearson r (goal: NAS|NN beats NN on valid).

    python benchmarks/bench_nas.py [--cell-type "type B pancreatic cell"] [--trials 100] [--k 8]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from geneqn._torch import threads
from geneqn.nas.space import parse_architecture
from geneqn.nas.train import Candidate, GroupTrainer, TrainData, fit_network, train_candidates
from geneqn.run import Runner, demo_config


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cell-type", default="type B pancreatic cell")
    ap.add_argument("--trials", type=int, default=100)
    ap.add_argument("--k", type=int, default=8)
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--skip-search", action="store_true", help="only the one-by-one vs batched timing")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        cfg = demo_config(Path(tmp) / "run").replace(run={"cell_types": [args.cell_type]},
                                                      search={"trials": args.trials})
        runner = Runner(cfg)
        runner.run(["targets", "tss", "features", "dataset"])
        data = TrainData.from_dataset(runner.context().dataset(), args.cell_type)
        print(f"demo data: {len(data.y):,} train / {len(data.y_valid):,} valid genes x {data.n_features} features")

        rng = np.random.default_rng(0)
        acts = ["relu", "tanh", "gelu"]
        widths = [16, 32, 64]
        shape = [int(rng.choice(widths)) for _ in range(3)] + [4] + [int(rng.choice(widths)) for _ in range(3)]
        archs = [parse_architecture([f"{w}-{rng.choice(acts)}" for w in shape[:3]] + ["4-tanh"]
                                    + [f"{w}-{rng.choice(acts)}" for w in shape[4:]], 3, 0.1)
                 for _ in range(args.k)]
        kw = dict(learning_rate=1e-3, batch_size=256, max_epochs=args.epochs, patience=10 ** 6)
        t = time.perf_counter()
        for i, a in enumerate(archs):
            fit_network(a, data, seed=i, **kw)
        seq = time.perf_counter() - t
        t = time.perf_counter()
        GroupTrainer(data, slots=args.k, **kw).run([Candidate(a, i) for i, a in enumerate(archs)], lambda *a: None)
        bat = time.perf_counter() - t
        print(f"widths {shape}, {args.k} candidates x {args.epochs} epochs:")
        print(f"  one by one: {args.k / seq * 60:7.1f} candidates/min ({seq:.1f} s)")
        print(f"  batched:    {args.k / bat * 60:7.1f} candidates/min ({bat:.1f} s)   speed-up {seq / bat:.2f}x (goal >= 3x)")

        other = [parse_architecture([f"{w}-relu" for w in (32, 32, 32)] + ["4-tanh"] + [f"{w}-relu" for w in (32, 32, 32)],
                                    3, 0.1) for _ in range(args.k)]
        cands = [Candidate(a, i) for i, a in enumerate(archs + other)]
        times = {}
        for n_jobs in (1, 2):
            with threads(1):
                t = time.perf_counter()
                done = train_candidates(cands, data, slots=args.k, n_jobs=n_jobs, **kw)
                times[n_jobs] = time.perf_counter() - t
            rewards = [round(r.valid_r, 6) for _, _, r in done]
            if n_jobs == 1:
                first = rewards
        print(f"two shapes x {args.k} candidates: 1 process {times[1]:.1f} s, 2 processes {times[2]:.1f} s, "
              f"speed-up {times[1] / times[2]:.2f}x; same valid r either way: {first == rewards}")

        if args.skip_search:
            return
        t = time.perf_counter()
        runner.run(["search"])
        search_s = time.perf_counter() - t
        runner.run(["nn"])
        import json

        nas = json.loads(runner.layout.metrics("nas").read_text())[args.cell_type]
        nn = json.loads(runner.layout.metrics("nn").read_text())[args.cell_type]
        print(f"{args.trials}-trial search (TPE) incl. retraining the 3 best with 3 seeds each: {search_s / 60:.1f} min "
              f"(goal < 10 min)")
        print(f"  best architecture: {nas['architecture_text']}")
        print(f"  NAS|NN: valid r {nas['valid_r']:.3f}, test r {nas['test_r']:.3f}")
        print(f"  NN:     valid r {nn['valid_r']:.3f}, test r {nn['test_r']:.3f}   ({nn['architecture_text']})")
        print(f"  NAS|NN beats NN on valid: {nas['valid_r'] > nn['valid_r']}")


if __name__ == "__main__":
    main()
