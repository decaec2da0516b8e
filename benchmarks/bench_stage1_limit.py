"""What bounds stage 1 of a distillation: the SR budget or the complexity limit?

For one cell type of a finished run (default: the demo's folder `geneqn-demo`, beta cells),
takes the searched network (NAS|NN), and for each latent unit asked (default: x0) fits stage 1
at several budgets and complexity limits, with the run's [sr] settings otherwise; prints the
fidelity (Pearson r between the equation and the unit on the valid genes), the complexity of the
equation chosen and the wall time. Ridge on all features is printed as a reference, and the mean
absolute correlation between the latent units.

    python benchmarks/bench_stage1_limit.py [--run geneqn-demo] [--cell-type "type B pancreatic cell"]
        [--units 0,1] [--settings 60000:2:20,240000:8:20,60000:2:30]   # evaluations:restarts:limit
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np


def main() -> None:
    from sklearn.linear_model import RidgeCV

    from geneqn.config import load_config
    from geneqn.metrics import pearson_r
    from geneqn.nas.estimator import BottleneckRegressor
    from geneqn.run import Runner
    from geneqn.run.common import sr_estimator

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", default="geneqn-demo", help="a run folder whose search has finished")
    ap.add_argument("--cell-type", default="type B pancreatic cell")
    ap.add_argument("--units", default="0", help="comma-separated latent units")
    ap.add_argument("--settings", default="60000:2:20,240000:8:20,60000:2:30",
                    help="comma-separated evaluations:restarts:complexity_limit")
    args = ap.parse_args()
    folder = Path(args.run).resolve()
    cfg = load_config(folder / "config.toml").replace(run={"folder": str(folder)})
    ctx = Runner(cfg).context()
    ds = ctx.dataset()
    ct = args.cell_type
    net = BottleneckRegressor.load(ctx.layout.network("nas", ct))
    (X, _), (Xv, _) = ds.xy(ct, "train"), ds.xy(ct, "valid")
    Z, Zv = np.asarray(net.latent(X)), np.asarray(net.latent(Xv))
    C = np.abs(np.corrcoef(Z.T))
    print(f"{ct}: {net.architecture}, {Z.shape[1]} latent units, mean |r| between them "
          f"{C[np.triu_indices(len(C), 1)].mean():.3f}")
    sr = sr_estimator(cfg)
    print(f"{'unit':>4} {'evaluations':>11} {'restarts':>8} {'limit':>5} {'fidelity':>8} {'cplx':>4} {'s':>5}")
    for j in (int(u) for u in args.units.split(",")):
        ridge = pearson_r(Zv[:, j], RidgeCV().fit(X, Z[:, j]).predict(Xv))
        print(f"{j:>4} {'ridge, all features':>26} {ridge:8.3f}")
        for text in args.settings.split(","):
            ev, rs, lim = (int(v) for v in text.split(":"))
            t = time.perf_counter()
            reg = sr.__class__(**{**sr.get_params(), "max_evaluations": ev, "restarts": rs, "complexity_limit": lim})
            reg.fit(X, Z[:, j], X_valid=Xv, y_valid=Zv[:, j])
            fid = pearson_r(Zv[:, j], reg.predict(Xv))
            print(f"{j:>4} {ev:>11,} {rs:>8} {lim:>5} {fid:8.3f} {int(reg.equations_.complexity[reg.selected_]):>4} "
                  f"{time.perf_counter() - t:5.1f}", flush=True)


if __name__ == "__main__":
    main()
