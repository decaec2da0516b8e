"""A run folder back as Python objects, for a notebook: :func:`load_run`.

>>> r = geneqn.load_run("geneqn-run")                                  # doctest: +SKIP
>>> r.equations["type B pancreatic cell"].predict(features)            # doctest: +SKIP
>>> r.pareto["sr"]["type B pancreatic cell"]["pareto"].equations_      # doctest: +SKIP

Everything is read as data (JSON trees, CSV, parquet; networks with ``weights_only=True``); a
partial run gives what it has and lists the rest in ``missing``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from geneqn._io import read_csv, read_json, read_parquet
from geneqn.errors import GeneqnError
from geneqn.run.layout import MODELS, RunLayout, cell_type_key


class _Lazy(Mapping):
    """{cell type: object}, each loaded on first access (networks are the large part of a run)."""

    def __init__(self, keys, load, what: str):
        self._keys, self._load, self._what, self._cache = list(keys), load, what, {}

    def __getitem__(self, key):
        if key not in self._keys:
            raise KeyError(f"no {self._what} for {key!r}; there are: {', '.join(map(str, self._keys)) or 'none'}")
        if key not in self._cache:
            self._cache[key] = self._load(key)
        return self._cache[key]

    def __iter__(self):
        return iter(self._keys)

    def __len__(self):
        return len(self._keys)

    def __repr__(self):
        return f"<{len(self._keys)} {self._what}: {', '.join(map(str, self._keys))}>"


class Run:
    """A run folder as objects (see :func:`load_run`).

    Attributes: ``folder``, ``layout`` (:class:`RunLayout`), ``config`` (:class:`geneqn.config.Config`),
    ``cell_types``, ``equations`` ({cell type: :class:`GenomicEquation`}, SR(NAS|NN)),
    ``knee_equations`` ({cell type: the sweep's knee equation}), ``sweep_equations``
    ({cell type: {per-latent limit: equation}}), ``networks`` ({cell type: fitted
    :class:`BottleneckRegressor`}, NAS|NN, loaded on access) and ``nn_networks`` (the hand-tuned NN),
    ``pareto`` ({"sr" | "distill": {cell type: {table name: fitted :class:`SymbolicRegressor`}}}),
    ``tables`` ({name: DataFrame} of ``tables/``, Table 2 among them), ``predictions`` (every gene,
    with its split; the wide ``predictions.csv``), ``results`` (results.json as a dict), ``missing``
    (what the folder does not hold yet).
    """

    def __init__(self, folder):
        from geneqn.config import load_config

        L = RunLayout(folder)
        if not L.marker.exists() and not L.config.exists():
            raise GeneqnError(f"{L.root} is not a geneqn run folder (no geneqn-run.json or config.toml).")
        self.folder, self.layout, self.missing = L.root, L, []
        self.config = load_config(L.config) if L.config.exists() else None
        self.results = self._read(L.results, read_json, "results.json")
        self.tables = {p.stem: read_csv(p) for p in sorted(L.tables.glob("*.csv"))} if L.tables.exists() else {}
        if not self.tables:
            self.missing.append("tables/ (the evaluate stage)")
        self.predictions = self._read(L.predictions_csv, read_csv, "predictions.csv")
        self.equations = self._equations()
        swept = self._read(L.sweep_equations, read_json, "sweep/equations.json") or {}
        self.sweep_equations = {str(ct): {str(k): self._equation(d, f"{L.sweep_equations}: {ct} {k}", ct)
                                          for k, d in rows.items()} for ct, rows in swept.items()}
        self.knee_equations = {ct: e for ct, rows in self.sweep_equations.items() for e in rows.values()
                               if e.meta.get("knee")}
        self.cell_types = self._cell_types()
        self.networks = self._networks("nas")
        self.nn_networks = self._networks("nn")
        self.pareto = {model: self._pareto(model) for model in ("sr", "distill")}

    # ------------------------------------------------------------------ readers
    def _read(self, path: Path, reader, what: str):
        if not path.exists():
            self.missing.append(what)
            return None
        return reader(path)

    @staticmethod
    def _equation(d, where: str, ct: str):
        from geneqn.sr.equation import GenomicEquation

        return GenomicEquation.from_dict(d, where, cell_type=str(ct))

    def _equations(self) -> dict:
        from geneqn.run.common import load_equations

        if not self.layout.equations.exists():
            self.missing.append("distill/equations.json (the distill stage)")
            return {}
        return load_equations(self.layout.equations)

    def _cell_types(self) -> list[str]:
        if self.results:
            return [str(c) for c in self.results.get("cell_types", [])]
        if self.equations:
            return list(self.equations)
        if self.layout.targets.exists():
            return [str(c) for c in dict.fromkeys(read_parquet(self.layout.targets, columns=["cell_type"])["cell_type"])]
        return []

    def _networks(self, model: str) -> Mapping:
        from geneqn.nas.estimator import BottleneckRegressor

        folder = self.layout.networks(model)
        keys = [ct for ct in self.cell_types if self.layout.network(model, ct).exists()] if folder.exists() else []
        if not keys:
            self.missing.append(f"{model}/networks/")
        return _Lazy(keys, lambda ct: BottleneckRegressor.load(self.layout.network(model, ct)), f"{model} networks")

    @property
    def feature_names(self) -> list[str]:
        info = read_json(self.layout.features_info) if self.layout.features_info.exists() else {}
        if info.get("features"):
            return [str(f) for f in info["features"]]
        if self.layout.features.exists():
            return [str(c) for c in read_parquet(self.layout.features).columns]
        raise GeneqnError(f"{self.folder}: no features yet (run the features stage).")

    def _pareto(self, model: str) -> dict:
        from geneqn.sr.regressor import SymbolicRegressor

        root = self.layout.pareto_root(model)
        if not root.exists():
            self.missing.append(f"{model}/tables/")
            return {}
        out = {}
        for ct in self.cell_types:
            folder = root / cell_type_key(ct)
            if not folder.exists():
                continue
            if model == "distill":  # stage-1 tables are of the features; stage 2 of the latents
                eq = self.equations.get(ct)
                latents = list(eq.latents) if eq else []
            out[ct] = _Lazy([p.stem for p in sorted(folder.glob("*.csv"))],
                            lambda name, folder=folder, latents=(latents if model == "distill" else []):
                            SymbolicRegressor.from_pareto(folder / f"{name}.csv",
                                                          latents if name == "stage2" else self.feature_names),
                            f"Pareto tables of {ct}")
        return out

    def table(self, name: str) -> pd.DataFrame:
        if name not in self.tables:
            raise GeneqnError(f"{self.folder}: no table {name!r}; there are: {', '.join(self.tables) or 'none'}")
        return self.tables[name]

    def __repr__(self) -> str:
        done = [m for m in MODELS if self.layout.metrics(m).exists()]
        return (f"<geneqn run {str(self.folder)!r}: {len(self.cell_types)} cell type(s); models {', '.join(done)}"
                + (f"; missing {', '.join(self.missing)}" if self.missing else "") + ">")


def load_run(folder) -> Run:
    """A finished (or partial) run folder back as objects: config, cell types, equations that
    predict, networks, Pareto tables as fitted :class:`SymbolicRegressor` results, tables and
    predictions as DataFrames. See :class:`Run`."""
    return Run(folder)
