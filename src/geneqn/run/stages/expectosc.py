"""The ExPectoSC baseline stage: ExPecto features (Beluga over +-20 kb of each TSS, or a table you
bring) and ExPectoSC's ridge per cell type. Runs when features.baselines has "expectosc"."""

from __future__ import annotations

from pathlib import Path

from geneqn._io import read_parquet, write_parquet
from geneqn.config import Config
from geneqn.errors import GeneqnError
from geneqn.metrics import pearson_r
from geneqn.run.engine import StageContext, stage
from geneqn.run.common import SPLITS, model_outputs, predictions_frame, write_model


def enabled(cfg: Config) -> bool:
    return "expectosc" in cfg.features.baselines


def _files(cfg: Config) -> list[str]:
    f = cfg.features
    if f.expectosc_table:
        return [f.expectosc_table]
    return [p for p in (cfg.genome.path, f.beluga_dir and str(Path(f.beluga_dir) / "deepsea.beluga.pth")) if p]


def provider(cfg: Config):
    f = cfg.features
    if f.expectosc_table:
        from geneqn.features.table import TableProvider

        return TableProvider(f.expectosc_table)
    if not cfg.genome.path or not f.beluga_dir:
        raise GeneqnError("config: features.baselines = [\"expectosc\"] needs genome.path and features.beluga_dir "
                          "(folder with deepsea.beluga.pth; `geneqn fetch beluga` downloads it), or "
                          "features.expectosc_table (ExPecto features you computed).")
    from geneqn.features.expecto import ExpectoProvider

    return ExpectoProvider(cfg.genome.path, f.beluga_dir, device=f.device, batch_size=max(2, f.batch_size),
                           max_shift=f.expectosc_shift)


@stage("expectosc", sections=("features", "genome", "run"), inputs=lambda L: [L.targets, L.tss, L.split],
       outputs=lambda L: model_outputs("expectosc")(L) + [L.expectosc_features, L.expectosc_coef], external=_files, enabled=enabled,
       help="the ExPectoSC baseline: ExPecto features and ExPectoSC's ridge per cell type")
def expectosc_stage(ctx: StageContext) -> dict:
    from geneqn.baselines import ExPectoSC
    from geneqn.dataset import load_split
    from geneqn.features.expecto import expression_weights
    from geneqn.genes import read_tss_table

    L, cfg = ctx.layout, ctx.config
    split = load_split(L.split)
    tss = read_tss_table(L.tss)
    tss = tss[tss["gene"].astype(str).isin(split.index)]
    feats = provider(cfg).compute(tss, L.expectosc_chunks)
    feats.attrs.pop("skipped", None)
    write_parquet(feats, L.expectosc_features)
    targets = read_parquet(L.targets)
    wide = targets.pivot(index="gene", columns="cell_type", values="g")
    wide.index = wide.index.astype(str)
    genes = feats.index.intersection(split.index)
    if len(genes) < 10:
        raise GeneqnError(f"only {len(genes)} gene(s) have ExPecto features; ExPectoSC needs the genes of the split.")
    weights = expression_weights(wide.loc[genes])
    metrics, preds, coef = {}, [], {}
    cell_types = ctx.config.run.cell_types or list(wide.columns)
    for ct in cell_types:
        part = {p: split.index[(split == p)].intersection(genes) for p in ("train", "valid", "test")}
        X, y = feats.loc[part["train"]], wide.loc[part["train"], ct]
        model = ExPectoSC().fit(X, y, feats.loc[part["valid"]], wide.loc[part["valid"], ct],
                                sample_weight=weights.loc[part["train"]].to_numpy())
        Xt, yt = feats.loc[part["test"]], wide.loc[part["test"], ct]
        yhat = model.predict(Xt)
        metrics[ct] = {"alpha": model.alpha_, "valid_r": model.valid_r_[model.alpha_], "test_r": pearson_r(yt, yhat),
                       "n_features": int(feats.shape[1]), "n_test_genes": len(part["test"]),
                       "intercept": float(model.intercept_)}
        coef[ct] = model.coef_
        preds += [predictions_frame(part[p], ct, wide.loc[part[p], ct].to_numpy(), model.predict(feats.loc[part[p]]), p)
                  for p in SPLITS]
    import pandas as pd

    write_parquet(pd.DataFrame(coef, index=pd.Index([str(c) for c in feats.columns], name="feature")), L.expectosc_coef)
    return write_model(ctx, "expectosc", metrics, preds)

