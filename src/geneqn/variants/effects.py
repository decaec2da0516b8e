"""Variant effects through a run's models: :func:`variant_effects`.

For every variant that touches a modelled gene's TSS window: the reference and alternative
windows (:mod:`geneqn.variants.alleles`), their features from the run's sequence provider (Sei;
both strands averaged, in batches, in resumable chunks, on CUDA when the provider runs there),
the change of each feature, and per cell type the change of the target g, and of log2
expression, through each model the run holds:

* ``sr``: the genomic equation SR(NAS|NN), with its change split into terms: the change of each
  stage-1 latent, and each feature's share of the change of g (integrated gradients on the
  composed equation, :mod:`geneqn.variants.attribution`, with the completeness error);
* ``core``: the stable core of the equation (the stability stage's equation of the features in
  >= 80% of refits, the others held at their training medians), when the stability stage ran;
* ``nas``: the NAS|NN network; ``ridge``: the ridge regression (exact: coefficients x changes);
* ``expectosc``: ExPectoSC, when the run computed its features with Beluga: the Beluga windows
  (2,000 bp every 200 bp over +-20 kb) that contain the variant are scored with both alleles,
  and their change goes through ExPecto's decay weights and ExPectoSC's coefficients. Windows
  that do not contain the variant are unchanged (for an indel, windows beyond it are not shifted).
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from geneqn._io import read_json, read_parquet, write_json, write_parquet
from geneqn.errors import GeneqnError

log = logging.getLogger(__name__)

MODELS = {"sr": "SR(NAS|NN)", "core": "stable core", "nas": "NAS|NN", "ridge": "Ridge", "expectosc": "ExPectoSC"}
"""Model keys of the ``delta_<key>`` columns, and their names in tables and figures."""
PAIR_COLUMNS = ["variant", "id", "chrom", "pos", "ref", "alt", "gene", "symbol", "strand", "tss", "distance"]
MAX_SHOWN = 20
IG_BLOCK = 2048


@dataclass
class VariantEffects:
    """What :func:`variant_effects` returns.

    ``effects``: one row per (variant, gene, cell type): the variant (``variant``, ``id``,
    ``chrom``, ``pos``, ``ref``, ``alt``), the gene (``gene``, ``symbol``, ``strand``, ``tss``
    0-based, ``distance`` signed along the gene, negative upstream), ``cell_type``, and per model
    ``delta_<model>`` (alt minus ref, in g) and ``delta_<model>_log2`` (in log2 expression);
    ``g_ref_sr`` (the equation's g of the reference), ``top_classes`` and ``top_latents`` (the
    largest shares of the equation's change), ``attribution_error`` (|sum of feature shares - delta|).
    ``features``: one row per (variant, gene) with the change (alt - ref) of every feature.
    ``attributions``: one row per (variant, gene, cell type, term): ``kind`` feature | latent,
    ``term``, ``delta`` (the term's own change) and ``share`` (its share of the change of g).
    ``ref_features`` / ``alt_features``: the feature vectors (index: ``variant|gene``).
    ``summary``: counts of what was read, left out (and why) and scored; the models used.
    """

    effects: pd.DataFrame
    features: pd.DataFrame
    attributions: pd.DataFrame
    summary: dict
    ref_features: pd.DataFrame = field(default_factory=pd.DataFrame)
    alt_features: pd.DataFrame = field(default_factory=pd.DataFrame)

    @staticmethod
    def paths(path) -> dict[str, Path]:
        """The files of a saved result: ``path`` (the effects), and beside it
        ``<stem>.features.parquet``, ``<stem>.attributions.parquet`` and ``<stem>.json``."""
        p = Path(path)
        stem = p.name[: -len(p.suffix)] if p.suffix else p.name
        return {"effects": p, "features": p.with_name(f"{stem}.features.parquet"),
                "attributions": p.with_name(f"{stem}.attributions.parquet"), "summary": p.with_name(f"{stem}.json")}

    def save(self, path) -> dict[str, Path]:
        """Write the effects (parquet, or CSV when ``path`` ends in .csv/.tsv) and the sidecar files."""
        paths = self.paths(path)
        paths["effects"].parent.mkdir(parents=True, exist_ok=True)
        eff = paths["effects"]
        if eff.suffix.lower() in (".csv", ".tsv"):
            from geneqn._io import atomic_path

            with atomic_path(eff) as tmp:
                self.effects.to_csv(tmp, index=False, sep="\t" if eff.suffix.lower() == ".tsv" else ",")
        else:
            write_parquet(self.effects, eff)
        write_parquet(self.features, paths["features"])
        write_parquet(self.attributions, paths["attributions"])
        write_json(self.summary, paths["summary"])
        return paths

    @classmethod
    def load(cls, path) -> "VariantEffects":
        paths = cls.paths(path)
        eff = paths["effects"]
        if not eff.exists():
            raise GeneqnError(f"no variant effects at {eff}; `geneqn variants` writes them.")
        effects = (pd.read_csv(eff, sep="\t" if eff.suffix.lower() == ".tsv" else ",")
                   if eff.suffix.lower() in (".csv", ".tsv") else read_parquet(eff))
        read = lambda k: read_parquet(paths[k]) if paths[k].exists() else pd.DataFrame()  # noqa: E731
        summary = read_json(paths["summary"]) if paths["summary"].exists() else {}
        return cls(effects, read("features"), read("attributions"), summary)

    def report(self, path) -> Path:
        """Write the HTML report (:func:`geneqn.report.variants.build_variant_report`)."""
        from geneqn.report.variants import build_variant_report

        return build_variant_report(self.effects, self.attributions, self.summary, path)

    def top(self, cell_type: str | None = None, n: int = 10, model: str = "sr") -> pd.DataFrame:
        """The ``n`` rows with the largest |delta_<model>| (of one cell type, or all)."""
        df = self.effects if cell_type is None else self.effects[self.effects["cell_type"] == cell_type]
        col = f"delta_{model}"
        if col not in df.columns:
            raise GeneqnError(f"the effects have no {col} column; models scored: "
                              f"{', '.join(self.summary.get('models', {}).get('used', [])) or 'none'}.")
        return df.loc[df[col].abs().sort_values(ascending=False, kind="stable").index[:n]]


# ----------------------------------------------------------------------------- inputs


def _provider(run, provider, config):
    if provider is None:
        if config is None:
            raise GeneqnError(f"{run.folder} has no config.toml, so its feature provider is unknown; pass provider=.")
        from geneqn.run.stages.data import make_provider

        provider = make_provider(config)
    if not callable(getattr(provider, "window_features", None)):
        name = getattr(provider, "name", type(provider).__name__)
        raise GeneqnError(f"the run's features come from the {name!r} provider "
                          f"({getattr(provider, 'description', 'features it was given')}), which does not compute "
                          "features from sequence, so it cannot score a variant. Variant effects need a run whose "
                          "features are computed from the genome: features.provider = 'sei' (Sei's sequence "
                          "classes of each TSS window).")
    return provider


def _check_assembly(variants: pd.DataFrame, genome) -> pd.DataFrame:
    """Contig lengths of the VCF header against the genome (another assembly is an error), and
    positions past a chromosome's end. Returns the variants on the genome's chromosomes."""
    bad = []
    for name, n_bp in variants.attrs.get("contigs", {}).items():
        g = genome.resolve(name)
        if g is not None and n_bp and genome.chromosomes[g] != n_bp:
            bad.append(f"{name} {n_bp:,} bp in the VCF, {genome.chromosomes[g]:,} bp in {genome.path.name}")
    if bad:
        raise GeneqnError(f"the VCF's contigs differ in length from the genome's: {'; '.join(bad[:4])}"
                          f"{'; ...' if len(bad) > 4 else ''}. The VCF is of another assembly than the genome (e.g. "
                          "GRCh37 vs GRCh38); lift it over (e.g. `bcftools +liftover`, CrossMap) or use the genome "
                          "of its assembly.")
    resolved = variants["chrom"].astype(str).map(genome.resolve)
    on = resolved.notna()
    if on.any():
        lengths = resolved[on].map(genome.chromosomes).astype(np.int64)
        end = variants.loc[on, "pos"] - 1 + variants.loc[on, "ref"].str.len()
        past = end > lengths
        if past.any():
            shown = "; ".join(f"{v} ({c} has {n:,} bp)" for v, c, n in
                              zip(variants.loc[on].loc[past, "variant"][:5], resolved[on][past][:5], lengths[past][:5]))
            raise GeneqnError(f"{int(past.sum())} variant(s) lie past their chromosome's end in {genome.path.name}: "
                              f"{shown}. The variants are of another assembly than the genome (e.g. GRCh37 vs "
                              "GRCh38), or these lines are wrong.")
    return variants.loc[on]


def _scaling(run, ct: str) -> dict | None:
    """The cell type's target scaling (min and max of g1): from targets.parquet, else the one
    saved with its equation; None when neither is there (then no log2 column)."""
    from geneqn.run.common import g1_range

    found = g1_range(run.layout.targets, ct) if run.layout.targets.exists() else None
    if found:
        return found
    eq = run.equations.get(ct)
    return eq.target_scaling if eq is not None and eq.target_scaling else None


def _stable_cores(run) -> dict:
    from geneqn.sr.equation import GenomicEquation

    L = run.layout
    if not L.stability.exists():
        return {}
    out = {}
    for ct, st in read_json(L.stability).items():
        d = (st.get("core") or {}).get("equation") if isinstance(st, dict) else None
        if d:
            out[str(ct)] = GenomicEquation.from_dict(d, f"{L.stability}: {ct} core", cell_type=str(ct))
    return out


# ----------------------------------------------------------------------------- features


def _pair_features(pairs: pd.DataFrame, genome, provider, cache_dir: Path, chunk_size: int,
                   names: list[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Reference and alternative feature vectors of every (variant, gene) pair, in resumable chunks."""
    from geneqn.features.chunks import compute_in_chunks, file_id
    from geneqn.variants.alleles import allele_windows

    length = int(provider.window)
    src = provider.source() if callable(getattr(provider, "source", None)) else \
        f"{getattr(provider, 'name', type(provider).__name__)}:{getattr(provider, 'description', '')}"
    source = file_id(genome.path, extra=f"{src}|{length}|{'|'.join(names)}")
    keyed = pairs.assign(gene=_chunk_keys(pairs), pair_gene=pairs["gene"])

    def chunk(part: pd.DataFrame, bar) -> pd.DataFrame:
        refs: dict[str, int] = {}
        codes = []
        alt_rows = []
        for row in part.itertuples(index=False):
            ref_codes, alt_codes = allele_windows(genome, row.chrom, int(row.tss), int(row.pos), row.ref, row.alt,
                                                  length)
            if row.pair_gene not in refs:
                refs[row.pair_gene] = len(codes)
                codes.append(ref_codes)
            alt_rows.append(len(codes))
            codes.append(alt_codes)
        F = np.asarray(provider.window_features(np.stack(codes)), dtype=np.float64)
        if F.shape != (len(codes), len(names)):
            raise GeneqnError(f"the feature provider returned an array of shape {F.shape} for {len(codes)} windows; "
                              f"expected ({len(codes)}, {len(names)}).")
        ref = F[[refs[g] for g in part["pair_gene"]]]
        alt = F[alt_rows]
        bar.advance(len(part))
        cols = [f"ref:{n}" for n in names] + [f"alt:{n}" for n in names]
        return pd.DataFrame(np.hstack([ref, alt]), columns=cols, index=pd.Index(part["gene"].tolist(), name="pair"))

    out = compute_in_chunks(keyed, cache_dir / "windows", source, chunk_size, "variant windows", chunk)
    out.index = (pairs["variant"] + "|" + pairs["gene"]).to_numpy()
    ref = out[[f"ref:{n}" for n in names]].set_axis(names, axis=1)
    alt = out[[f"alt:{n}" for n in names]].set_axis(names, axis=1)
    return ref, alt


def _chunk_keys(pairs: pd.DataFrame) -> pd.Series:
    """What a cached chunk was computed for: each pair's variant, gene, TSS and strand (a moved
    TSS is computed again)."""
    return (pairs["variant"] + "|" + pairs["gene"] + "|" + pairs["tss"].astype(str) + "|"
            + pairs["strand"].astype(str))


def _expecto_provider(run, given, config):
    """The run's Beluga-based ExPecto provider, or None (no ExPectoSC, or its features came from a table)."""
    if given is not None:
        return given
    if config is None or not run.layout.expectosc_coef.exists() or config.features.expectosc_table:
        return None
    from geneqn.run.stages.expectosc import provider

    return provider(config)


def _expecto_deltas(pairs: pd.DataFrame, genome, expecto, cache_dir: Path, chunk_size: int,
                    names: list[str]) -> pd.DataFrame:
    """Change of ExPecto's features (alt - ref) of every pair: the Beluga windows that contain
    the variant, scored with both alleles, through the decay weights."""
    import torch

    from geneqn.features.beluga import WINDOW as BW, beluga_one_hot, predict as beluga_predict, window_bounds
    from geneqn.features.chunks import compute_in_chunks, file_id
    from geneqn.features.expecto import decay_weights, offsets
    from geneqn.variants.alleles import allele_windows

    model, dev = expecto._load()
    d = offsets(expecto.max_shift)
    weights = Path(expecto.model_dir) / "deepsea.beluga.pth"
    source = file_id(genome.path, *([weights] if weights.exists() else []),
                     extra=f"expecto|{expecto.max_shift}|{model.widths}|{model.n_targets}|{len(names)}")
    keyed = pairs.assign(gene=_chunk_keys(pairs))

    def chunk(part: pd.DataFrame, bar) -> pd.DataFrame:
        rows = []
        for row in part.itertuples(index=False):
            sign = -1 if row.strand == "-" else 1
            centres = int(row.tss) + sign * d
            lo = np.array([window_bounds(int(c), BW)[0] for c in centres])
            start, end = int(row.pos) - 1, int(row.pos) - 1 + len(row.ref)
            hit = np.flatnonzero((lo < end) & (lo + BW > start))
            delta = np.zeros(len(names))
            if len(hit):
                codes = [allele_windows(genome, row.chrom, int(centres[k]) + 1, int(row.pos), row.ref, row.alt, BW)
                         for k in hit]
                x = np.concatenate([np.stack([c[0] for c in codes]), np.stack([c[1] for c in codes])])
                preds = []
                for b in range(0, len(x), expecto.batch_size):
                    preds.append(beluga_predict(model, torch.from_numpy(beluga_one_hot(x[b:b + expecto.batch_size]))
                                                .to(dev)).double().cpu().numpy())
                p = np.concatenate(preds)
                dp = p[len(hit):] - p[:len(hit)]
                delta = (decay_weights(d[hit]) @ dp).reshape(-1)
            rows.append(delta)
            bar.advance()
        return pd.DataFrame(np.vstack(rows), columns=names, index=pd.Index(part["gene"].tolist(), name="pair"))

    out = compute_in_chunks(keyed, cache_dir, source, chunk_size, "Beluga windows (ExPectoSC)", chunk)
    out.index = (pairs["variant"] + "|" + pairs["gene"]).to_numpy()
    return out


# ----------------------------------------------------------------------------- effects


def _top(shares: np.ndarray, labels: list[str], k: int) -> list[str]:
    out = []
    for row in shares:
        if not np.isfinite(row).all():
            out.append("")
            continue
        order = [j for j in np.argsort(-np.abs(row), kind="stable")[:k] if row[j] != 0]
        out.append(", ".join(f"{labels[j]} {row[j]:+.3g}" for j in order))
    return out


def _equation_terms(eq, Xr: np.ndarray, Xa: np.ndarray, steps: int):
    """delta g, g of ref, feature shares, latent deltas and latent shares of one equation."""
    from geneqn.variants.attribution import integrated_gradients

    gr, ga = eq.predict(Xr), eq.predict(Xa)
    used = eq.used_latents
    Zr = eq.latent_values(Xr)
    Za = eq.latent_values(Xa)
    keys = list(eq.latents)
    idx = [keys.index(k) for k in used]
    parts = []
    for lo in range(0, len(Xr), IG_BLOCK):  # the path's points of a block at a time (memory)
        s = slice(lo, lo + IG_BLOCK)
        parts.append((*integrated_gradients(eq.composed, eq.feature_names, Xr[s], Xa[s], steps),
                      integrated_gradients(eq.output, keys, Zr[s], Za[s], steps)[0]))
    shares = np.concatenate([p[0] for p in parts])
    error = np.concatenate([p[1] for p in parts])
    lat_shares = np.concatenate([p[2] for p in parts])
    return ga - gr, gr, shares, error, (Za - Zr)[:, idx], lat_shares[:, idx], used


def variant_effects(variants, run, *, provider=None, genome=None, cell_types=None, models=tuple(MODELS),
                    cache_dir=None, chunk_size: int = 256, top: int = 3, steps: int | None = None,
                    expecto_provider=None, config=None) -> VariantEffects:
    """Effects of genetic variants on each cell type's expression, through a run's equations
    (term by term) and its other models.

    ``variants``: a VCF / VCF.gz / BCF path, a TSV of chrom/pos/ref/alt, or a DataFrame
    (:func:`read_variants`). ``run``: a run folder or :class:`geneqn.run.load.Run`. ``provider``:
    the feature provider (default: the run's config, e.g. Sei with its model_dir and device); it
    must compute features from sequence. ``genome``: default the run's genome.path.
    ``cell_types``: default all of the run's. ``models``: among ``sr``, ``core``, ``nas``,
    ``ridge``, ``expectosc`` (those the run lacks are listed in the summary; ExPectoSC needs a run
    whose ExPecto features were computed with Beluga, or ``expecto_provider``). ``config``: the
    settings the providers are made from (default the run's config.toml; e.g. another device). ``cache_dir``: resumable chunks of
    window features (default ``<run>/variants/chunks/<digest of the pairs>``; only its subfolders
    ``windows/`` and ``expecto/`` are written, and replaced when they hold results of other inputs). ``top``: how many
    classes and latents ``top_classes`` / ``top_latents`` name. ``steps``: quadrature nodes of
    the attribution (default :data:`geneqn.variants.attribution.STEPS`).

    REF alleles are checked against the genome: mismatches are counted, listed in the summary
    and never scored. Variants on chromosomes the genome lacks, and variants outside every
    modelled gene's window, are counted too.

    >>> fx = geneqn.variant_effects("calls.vcf.gz", "geneqn-run")          # doctest: +SKIP
    >>> fx.top("type B pancreatic cell")                                    # doctest: +SKIP
    """
    from geneqn.genes import read_tss_table
    from geneqn.genome import Genome
    from geneqn.run.load import Run, load_run
    from geneqn.variants.alleles import ref_matches, variant_gene_pairs
    from geneqn.variants.attribution import STEPS
    from geneqn.variants.reader import read_variants

    steps = STEPS if steps is None else int(steps)
    unknown = [m for m in models if m not in MODELS]
    if unknown:
        raise GeneqnError(f"unknown model(s) {', '.join(map(str, unknown))}; choose among {', '.join(MODELS)}.")
    r = run if isinstance(run, Run) else load_run(run)
    cfg = config if config is not None else r.config
    prov = _provider(r, provider, cfg)
    genome_path = genome or (cfg.genome.path if cfg is not None else "")
    if not genome_path:
        raise GeneqnError("no genome: the run's config has no genome.path; pass genome= (FASTA or 2bit).")
    g = genome if isinstance(genome, Genome) else Genome(genome_path)
    v = variants if isinstance(variants, pd.DataFrame) and "variant" in variants.columns and \
        "skipped" in variants.attrs else read_variants(variants)
    skipped = dict(v.attrs.get("skipped", {}))
    n_read = int(v.attrs.get("n_alleles", len(v)))
    on = _check_assembly(v, g)
    skipped["chromosome_not_in_genome"] = len(v) - len(on)

    names = list(r.feature_names)
    have = list(getattr(prov, "feature_names", names))
    lacking = [n for n in names if n not in have]
    if lacking:
        raise GeneqnError(f"the provider's features lack {', '.join(lacking[:5])} that the run's models use; score "
                          "variants with the provider the run's features came from.")
    if not r.layout.tss.exists():
        raise GeneqnError(f"{r.folder}: no tss.parquet (run the tss stage).")
    tss = read_tss_table(r.layout.tss)
    if r.layout.split.exists():
        tss = tss[tss["gene"].astype(str).isin(read_parquet(r.layout.split).index.astype(str))]
    pairs = variant_gene_pairs(on, tss, g, int(prov.window))
    touched = set(pairs["variant"])
    skipped["outside_windows"] = int((~on["variant"].isin(touched)).sum())
    first = pairs.drop_duplicates("variant")
    ok = {row.variant: ref_matches(g, row.chrom, int(row.pos), row.ref) for row in first.itertuples(index=False)}
    mismatched = sorted(k for k, good in ok.items() if not good)
    skipped["ref_mismatch"] = len(mismatched)
    if mismatched:
        log.warning("%d variant(s) whose REF differs from %s are left out (not scored): %s", len(mismatched),
                    g.path.name, ", ".join(mismatched[:5]) + (", ..." if len(mismatched) > 5 else ""))
    pairs = pairs[pairs["variant"].map(ok).fillna(False).astype(bool)].reset_index(drop=True)[PAIR_COLUMNS]

    cts = [str(c) for c in (cell_types or r.cell_types)]
    missing_ct = [c for c in cts if c not in r.cell_types]
    if missing_ct:
        raise GeneqnError(f"the run has no cell type(s) {', '.join(missing_ct)}; it has {', '.join(r.cell_types)}.")
    cores = _stable_cores(r) if "core" in models else {}
    ridge = read_json(r.layout.metrics("ridge")) if "ridge" in models and r.layout.metrics("ridge").exists() else {}
    expecto = _expecto_provider(r, expecto_provider, cfg) if "expectosc" in models else None
    expecto_coef = read_parquet(r.layout.expectosc_coef) if expecto is not None else pd.DataFrame()
    available = {"sr": set(r.equations), "core": set(cores), "nas": set(r.networks), "ridge": set(ridge),
                 "expectosc": set(map(str, expecto_coef.columns))}
    used = [m for m in models if any(c in available[m] for c in cts)]
    not_in_run = {m: MODELS[m] for m in models if m not in used}
    summary = {"source": v.attrs.get("source", ""), "alleles_read": n_read, "variants": len(v), "skipped": skipped,
               "ref_mismatches": mismatched[:MAX_SHOWN], "variants_scored": int(pairs["variant"].nunique()),
               "pairs": len(pairs), "cell_types": cts, "genome": str(g.path),
               "provider": getattr(prov, "name", type(prov).__name__), "window": int(prov.window),
               "models": {"used": used, "names": {m: MODELS[m] for m in used}, "not_in_run": not_in_run},
               "attribution": {"method": "integrated gradients, straight path ref -> alt, Gauss-Legendre",
                               "steps": steps}}
    if pairs.empty:
        empty = pd.DataFrame(columns=PAIR_COLUMNS + ["cell_type"])
        summary["attribution"]["max_error"] = None
        return VariantEffects(empty, pairs.copy(), pd.DataFrame(), summary)

    key = pairs["variant"] + "|" + pairs["gene"]
    if cache_dir is None:
        digest = hashlib.sha256("\n".join(key).encode()).hexdigest()[:12]
        cache_dir = r.layout.variant_chunks(digest)
    ref, alt = _pair_features(pairs, g, prov, Path(cache_dir), chunk_size, names)  # index: variant|gene
    ref, alt = ref.loc[key], alt.loc[key]
    Xr, Xa = ref.to_numpy(dtype=np.float64), alt.to_numpy(dtype=np.float64)
    features = pd.concat([pairs, pd.DataFrame(Xa - Xr, columns=names)], axis=1)
    if "expectosc" in used:
        dX = _expecto_deltas(pairs, g, expecto, Path(cache_dir) / "expecto", max(1, chunk_size // 8),
                             [str(c) for c in expecto_coef.index]).loc[key].to_numpy(dtype=np.float64)

    frames, attributions, errors = [], [], []
    for ct in cts:
        df = pairs.copy()
        df["cell_type"] = ct
        scaling = _scaling(r, ct)
        factor = (scaling["g1_max"] - scaling["g1_min"]) / 2 if scaling else np.nan
        if "sr" in used and ct in r.equations:
            eq = r.equations[ct]
            Er, Ea = (t[eq.feature_names].to_numpy(dtype=np.float64) for t in (ref, alt))  # by name
            d, gr, shares, err, lat_d, lat_s, lat = _equation_terms(eq, Er, Ea, steps)
            df["delta_sr"], df["g_ref_sr"] = d, gr
            df["top_classes"] = _top(shares, eq.feature_names, top)
            df["top_latents"] = _top(lat_s, lat, top)
            df["attribution_error"] = err
            errors.append(err)
            feats = eq.features_used
            j = [eq.feature_names.index(f) for f in feats]
            n = len(df)
            for kind, terms, deltas, sh in (("feature", feats, (Ea - Er)[:, j], shares[:, j]),
                                            ("latent", lat, lat_d, lat_s)):
                if not terms:
                    continue
                attributions.append(pd.DataFrame({
                    "variant": np.repeat(df["variant"].to_numpy(), len(terms)),
                    "gene": np.repeat(df["gene"].to_numpy(), len(terms)), "cell_type": ct, "kind": kind,
                    "term": np.tile(terms, n), "delta": deltas.reshape(-1), "share": sh.reshape(-1)}))
        if "core" in used and ct in cores:
            df["delta_core"] = cores[ct].predict(alt) - cores[ct].predict(ref)
        if "nas" in used and ct in r.networks:
            net = r.networks[ct]
            cols = [str(c) for c in getattr(net, "feature_names_in_", names)]
            df["delta_nas"] = net.predict(alt[cols]) - net.predict(ref[cols])
        if "ridge" in used and ct in ridge:
            coef = np.array([float(ridge[ct]["coef"].get(n, 0.0)) for n in names])
            df["delta_ridge"] = (Xa - Xr) @ coef
        if "expectosc" in used and ct in expecto_coef.columns:
            df["delta_expectosc"] = dX @ expecto_coef[ct].to_numpy(dtype=np.float64)
        for m in used:
            if f"delta_{m}" in df.columns:  # NaN where the run holds no target scaling
                df[f"delta_{m}_log2"] = df[f"delta_{m}"] * factor
        frames.append(df)
    effects = pd.concat(frames, ignore_index=True)
    summary["rows"] = len(effects)
    finite = np.concatenate(errors) if errors else np.array([])
    finite = finite[np.isfinite(finite)]
    summary["attribution"]["max_error"] = float(finite.max()) if finite.size else None
    attr = pd.concat(attributions, ignore_index=True) if attributions else pd.DataFrame()
    return VariantEffects(effects, features, attr, summary, ref.set_axis(key.to_numpy()), alt.set_axis(key.to_numpy()))
