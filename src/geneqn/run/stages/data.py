"""Data stages: targets, tss, features, dataset (thin adapters from config to library calls)."""

from __future__ import annotations

import logging
from pathlib import Path

from geneqn._io import read_parquet, write_json, write_parquet, write_text
from geneqn.config import Config
from geneqn.errors import GeneqnError
from geneqn.run.engine import MIN_GENES, StageContext, stage

log = logging.getLogger(__name__)


def _expression_files(cfg: Config) -> list[str]:
    e = cfg.expression
    out = []
    if e.path:
        p = Path(e.path)
        if p.is_dir():
            out += [str(f) for f in sorted(p.iterdir()) if f.is_file()]
        else:
            out.append(e.path)
    if e.labels:
        out.append(e.labels)
    return out


@stage("targets", sections=("expression",), outputs=lambda L: [L.targets], external=_expression_files,
       help="expression -> per-cell-type targets g")
def targets_stage(ctx: StageContext) -> dict:
    from geneqn.targets import targets

    e = ctx.config.expression
    if not e.path:
        raise GeneqnError("config: expression.path is empty; name the h5ad, 10x folder, CellRanger .h5 or "
                          "averaged table (or pass it to `geneqn targets`).")
    t = targets(e.path, format=e.format, cell_type_column=e.cell_type_column, cell_types=e.cell_types,
                min_cells=e.min_cells, values=e.values, pseudocount=e.pseudocount, labels=e.labels or None,
                obs_filter=e.obs_filter or None)
    write_parquet(t, ctx.layout.targets)
    per = t.groupby("cell_type", sort=False)["n_cells"].first()
    import pandas as pd

    return {"n_genes": int(t["gene"].nunique()),
            "cell_types": {str(k): (None if pd.isna(v) else int(v)) for k, v in per.items()}}


def _annotation_files(cfg: Config) -> list[str]:
    return [p for p in (cfg.annotation.path, cfg.annotation.synonyms) if p]


@stage("tss", sections=("annotation",), inputs=lambda L: [L.targets] if L.targets.exists() else [],
       outputs=lambda L: [L.tss, L.unmatched], external=_annotation_files,
       help="annotation -> one TSS per expression gene")
def tss_stage(ctx: StageContext) -> dict:
    """Without targets (e.g. Sei features only), every TSS row is kept, keyed by its Ensembl id
    (or symbol)."""
    from geneqn.genes import MatchReport, tss

    a = ctx.config.annotation
    if not a.path:
        raise GeneqnError("config: annotation.path is empty; name a MANE summary, GTF or BED file.")
    if ctx.layout.targets.exists():
        genes = read_parquet(ctx.layout.targets, columns=["gene", "symbol"]).drop_duplicates("gene")
        matched = tss(a.path, format=a.format, genes=genes, synonyms=a.synonyms or None)
        report = matched.attrs.pop("match")
    else:
        matched = tss(a.path, format=a.format)
        if "gene" not in matched.columns:
            matched.insert(0, "gene", matched["gene_id"].fillna(matched["symbol"]).astype("string"))
        report = MatchReport(len(matched), len(matched), {})  # no expression yet: every TSS row is kept
    write_parquet(matched, ctx.layout.tss)
    write_text("\n".join(report.unmatched) + ("\n" if report.unmatched else ""), ctx.layout.unmatched)
    return {"matched": report.n_matched, "expression_genes": report.n_expression, "by": report.by,
            "unmatched": len(report.unmatched), "without_targets": not ctx.layout.targets.exists()}


def _feature_files(cfg: Config) -> list[str]:
    f = cfg.features
    if f.provider == "table":
        return [f.table] if f.table else []
    if f.provider == "sei":
        return [p for p in (cfg.genome.path, f.model_dir and str(Path(f.model_dir) / "sei.pth"),
                            f.model_dir and str(Path(f.model_dir) / "projvec_targets.npy")) if p]
    return []


def make_provider(cfg: Config):
    """The feature provider that the config's [features] section asks for."""
    f = cfg.features
    if f.provider == "table":
        from geneqn.features.table import TableProvider

        if not f.table:
            raise GeneqnError("config: features.provider = 'table' needs features.table (a CSV/parquet "
                              "of genes x features).")
        return TableProvider(f.table)
    if f.provider == "demo":
        from geneqn.features.demo import DemoAnnotationProvider

        return DemoAnnotationProvider()
    from geneqn.features.sei import SeiProvider

    if not cfg.genome.path or not f.model_dir:
        raise GeneqnError("config: features.provider = 'sei' needs genome.path (FASTA/2bit) and "
                          "features.model_dir (folder with sei.pth and projvec_targets.npy; "
                          "`geneqn fetch sei` downloads it).")
    if Path(f.model_dir).is_file():
        raise GeneqnError(f"config: features.model_dir (--model-dir) = {f.model_dir} is a file; it names the folder "
                          "holding sei.pth and projvec_targets.npy (`geneqn fetch sei --dest FOLDER`).")
    return SeiProvider(genome=cfg.genome.path, model_dir=f.model_dir, device=f.device, batch_size=f.batch_size,
                       precision=f.precision, window=cfg.genome.window)


@stage("features", sections=("features", "genome"), inputs=lambda L: [L.tss],
       outputs=lambda L: [L.features, L.features_info], external=_feature_files,
       help="TSS windows -> gene x feature table")
def features_stage(ctx: StageContext) -> dict:
    from geneqn.genes import read_tss_table

    provider = make_provider(ctx.config)
    table = read_tss_table(ctx.layout.tss)
    features = provider.compute(table, ctx.layout.sei_chunks)
    skipped = features.attrs.pop("skipped", [])
    if skipped:
        write_text("\n".join(skipped) + "\n", ctx.layout.sei_skipped)
    write_parquet(features, ctx.layout.features)
    info = {"provider": provider.name, "description": provider.description, "n_genes": len(features),
            "n_features": int(features.shape[1]), "features": [str(c) for c in features.columns],
            "skipped_genes": len(skipped)}
    write_json(info, ctx.layout.features_info)
    return {k: v for k, v in info.items() if k != "features"}


@stage("dataset", sections=("split", "run"), inputs=lambda L: [L.targets, L.features], outputs=lambda L: [L.split],
       help="join targets and features; seeded 72/8/20 split")
def dataset_stage(ctx: StageContext) -> dict:
    from geneqn.dataset import build_dataset, save_split

    s = ctx.config.split
    targets = read_parquet(ctx.layout.targets)
    features = read_parquet(ctx.layout.features)
    import pandas as pd

    n = len(features.index.intersection(pd.Index(targets["gene"].astype(str).unique())))
    if n < MIN_GENES:
        raise GeneqnError(f"only {n} gene(s) have both targets and features; geneqn needs at least "
                          f"{MIN_GENES} to split and model (the paper had 17,771). Check the gene "
                          "matching of the tss stage (unmatched_genes.txt) and the feature table.")
    ds = build_dataset(targets, features, seed=ctx.config.run.seed, test_fraction=s.test_fraction,
                       valid_fraction=s.valid_fraction)
    save_split(ds.split, ctx.layout.split)
    return ds.summary()
