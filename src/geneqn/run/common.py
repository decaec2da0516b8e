"""What several stages share (kept out of the stages, so that no stage imports another):
the inputs of model stages, predictions and metrics writers, the estimators the config
describes, and the Pareto-table and equation files."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from geneqn._io import read_json, write_csv, write_json, write_parquet
from geneqn.config import Config
from geneqn.run.engine import StageContext
from geneqn.run.layout import RunLayout

DATA = lambda L: [L.targets, L.features, L.split]  # noqa: E731  the inputs of every model stage


SPLITS = ("train", "valid", "test")


def predictions_frame(genes, cell_type: str, y, yhat, split: str = "test") -> pd.DataFrame:
    return pd.DataFrame({"gene": list(genes), "cell_type": cell_type, "split": split, "y": y, "yhat": yhat})


def split_predictions(ds, ct: str, predict) -> pd.DataFrame:
    """A model's predictions for every gene of the dataset, with its split (train/valid/test):
    Table 1 reads the test rows; predictions.csv keeps them all (marker genes included)."""
    frames = []
    for part in SPLITS:
        X, y = ds.xy(ct, part)
        frames.append(predictions_frame(X.index, ct, y.to_numpy(), predict(X), part))
    return pd.concat(frames, ignore_index=True)


def write_model(ctx: StageContext, model: str, metrics: dict, preds: list[pd.DataFrame]) -> dict:
    write_parquet(pd.concat(preds, ignore_index=True), ctx.layout.predictions(model))
    write_json(metrics, ctx.layout.metrics(model))
    return {ct: round(m["test_r"], 4) for ct, m in metrics.items()}


def write_parts(ctx: StageContext, model: str, parts: dict) -> dict:
    """A model's metrics and predictions from its cell types' shares (``Part.data`` the metrics,
    ``Part.frames["predictions"]``), in the order of the cell types."""
    return write_model(ctx, model, {ct: p.data for ct, p in parts.items()},
                       [p.frames["predictions"] for p in parts.values()])


def model_outputs(model: str, networks: bool = False):
    def outputs(L: RunLayout):
        out = [L.metrics(model), L.predictions(model)]
        return out + ([L.networks(model)] if networks else [])
    return outputs


def g1_range(targets_path, ct: str) -> dict | None:
    """min and max of g1 of a cell type in a targets.parquet (None if the cell type is not there)."""
    from geneqn._io import read_parquet

    t = read_parquet(targets_path, columns=["cell_type", "g1"])
    g1 = t.loc[t["cell_type"].astype(str) == str(ct), "g1"]
    return {"g1_min": float(g1.min()), "g1_max": float(g1.max())} if len(g1) else None


def target_scaling(ctx: StageContext, ct: str) -> dict:
    """min and max of g1 of a cell type (turn g back into log2 expression), and the pseudocount."""
    return {**g1_range(ctx.layout.targets, ct), "pseudocount": float(ctx.config.expression.pseudocount)}


def distiller_options(cfg: Config) -> dict:
    return {"stage2_input": cfg.sr.stage2_input, "refit": cfg.sr.refit, "latent_prior": cfg.sr.latent_prior,
            "latent_targets": cfg.sr.latent_targets, "share": cfg.sr.share_stage1,
            "residual_latents": cfg.sr.residual_latents}


class EquationMemo:
    """Equations distilled before in a run, found again by everything that determines them: the
    network's weights and architecture, the train and valid arrays, the feature names, the
    distiller's parameters (the cell type among them) and its SR settings (all but the number of
    processes, which changes nothing) and geneqn's version. The distill stage leaves each equation here, and
    the NAS|SR ablation reads it back when its retrained network is the same network (the same
    architecture and seed: on the demo's beta cells), instead of distilling it again. Files are
    written atomically and read as data; one that cannot be read is distilled again."""

    VERSION = 1

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)

    def key(self, distiller, X, y, X_valid, y_valid) -> str:
        """The key of what ``distiller`` (not yet fitted) would distil from these arrays."""
        import hashlib
        import json

        import geneqn
        from geneqn._io import hash_arrays

        network = getattr(distiller.network, "network_", distiller.network)
        options = {k: v for k, v in distiller.get_params(deep=False).items() if k not in ("network", "sr")}
        sr = {k: v for k, v in distiller._sr().get_params().items() if k != "n_jobs"}
        h = hashlib.sha256()
        h.update(json.dumps({"version": self.VERSION, "geneqn": geneqn.__version__, "options": options, "sr": sr,
                             "architecture": network.arch.to_json(), "features": [str(c) for c in X.columns]},
                            sort_keys=True, default=str).encode())
        for name, t in network.state_dict().items():
            h.update(name.encode())
            hash_arrays(h, t.detach().cpu().numpy())
        hash_arrays(h, X, y, X_valid, y_valid)
        return h.hexdigest()[:32]

    def _path(self, key: str) -> Path:
        return self.folder / key[:2] / f"{key}.json"

    def get(self, key: str) -> dict | None:
        """``{"equation": GenomicEquation, "diagnostics": dict}`` of ``key``, or None."""
        from geneqn.errors import GeneqnError
        from geneqn.sr.equation import GenomicEquation

        p = self._path(key)
        if not p.exists():
            return None
        try:
            d = read_json(p)
            eq = GenomicEquation.from_dict(d["equation"], str(p), cell_type=d["equation"].get("cell_type", ""))
            return {"equation": eq, "diagnostics": d["diagnostics"]}
        except (GeneqnError, KeyError, TypeError, ValueError):
            return None

    def put(self, key: str, equation, diagnostics: dict) -> None:
        write_json({"equation": equation.to_dict(), "diagnostics": diagnostics}, self._path(key))


def sr_estimator(cfg: Config):
    """The SymbolicRegressor that the [sr] section describes (seeded by run.seed)."""
    from geneqn.sr.regressor import SymbolicRegressor

    s = cfg.sr
    return SymbolicRegressor(engine=s.engine, operators=tuple(s.operators), complexity_limit=s.complexity_limit,
                             selection=s.selection, max_evaluations=s.max_evaluations, restarts=s.restarts,
                             max_samples=s.max_samples, complexity_of_operators=dict(s.complexity_of_operators) or None,
                             complexity_of_constants=s.complexity_of_constants,
                             complexity_of_variables=s.complexity_of_variables, n_jobs=s.n_jobs,
                             random_state=cfg.run.seed)


def pareto_csv(table: pd.DataFrame) -> pd.DataFrame:
    """A Pareto table for a CSV file (PySR's columns; ``tokens``: the tree as JSON, read back as data)."""
    import json

    out = table[[c for c in ("complexity", "loss", "valid_loss", "valid_se", "score", "equation")
                 if c in table]].copy()
    out["tokens"] = [json.dumps(e.to_json()) for e in table["expr"]]
    return out


def write_tables(folder, tables: dict) -> None:
    """The Pareto tables as CSV files in ``folder``; earlier CSV files there are removed first
    (a new distillation may have fewer stage-1 targets, e.g. 3 directions for 8 latent units)."""
    for old in Path(folder).glob("*.csv") if Path(folder).is_dir() else []:
        old.unlink()
    for name, t in tables.items():
        if t is not None:
            write_csv(pareto_csv(t), folder / f"{name}.csv")


def load_equations(path, cell_types=None) -> dict:
    """{cell type: GenomicEquation} of an equations.json (read as data); only ``cell_types`` when
    given (a cell type's share of a stage need not parse hundreds of others)."""
    from geneqn.sr.equation import GenomicEquation

    data = read_json(path)
    if not isinstance(data, dict):
        from geneqn.errors import GeneqnError

        raise GeneqnError(f"{path}: expected a JSON object of cell type -> equation.")
    return {str(ct): GenomicEquation.from_dict(d, f"{path}: {ct}", cell_type=str(ct)) for ct, d in data.items()
            if cell_types is None or ct in cell_types}


def read_pareto_csv(path, feature_names: list[str]) -> pd.DataFrame:
    """A Pareto table written by :func:`write_tables`, its trees read back as data."""
    import json

    from geneqn._io import read_csv
    from geneqn.sr.expr import Expr

    t = read_csv(path)
    t["expr"] = [Expr.from_json(json.loads(x), feature_names, f"{path}") for x in t["tokens"]]
    return t
