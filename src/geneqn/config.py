"""The one typed configuration of a geneqn run.

Defaults are the paper's (Methods) but where a measured change is better (selection on the
valid genes, and the distillation's latent_targets = "auto" and share_stage1). A config is read from TOML; every section and key is
checked, and a wrong one fails with a message naming the key, what was expected and the valid
choices. ``geneqn config --show`` prints the effective config as TOML.

This module imports nothing of the library: the run layer (:mod:`geneqn.run.checks`) checks
the values that only the library can judge (operators, model spaces, architectures).
"""

from __future__ import annotations

import dataclasses
import sys
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from geneqn.errors import GeneqnError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


# The choices that the config checks by itself (the run layer checks the rest against the
# library: operators, model spaces, architectures).
VALUES = ("cp10k", "log1p", "X")
PROVIDERS = ("sei", "table", "demo")
BASELINES = ("expectosc",)
SAMPLERS = ("tpe", "random", "reinforce")
SR_ENGINES = ("geneqn", "operon", "pysr")
SELECTIONS = ("validation", "accuracy", "best")
PRECISIONS = ("auto", "fp32", "bf16")
MIN_TRAIN_FRACTION = 0.2
"""The split must leave at least this fraction of the genes for training."""
STORAGE_SCHEMES = ("sqlite", "postgresql", "mysql", "journal")


def check_storage_url(url: str, key: str = "search.storage (--storage)") -> None:
    """A study storage is a database URL: sqlite:///file.db, postgresql://user@host/db, ..."""
    if not url:
        return
    forms = ("sqlite:///study.db (a file; sqlite:////abs/path/study.db for an absolute path), "
             "postgresql://user:password@host/db or journal:///shared/path/study.log (a journal file, no server)")
    if "://" not in url:
        raise GeneqnError(f"config: {key} = {url!r} is not a database URL. Write {forms}; leave it empty for "
                          "nas/study.db in the run folder.")
    scheme = url.split("://", 1)[0].split("+", 1)[0].lower()
    if scheme not in STORAGE_SCHEMES:
        raise GeneqnError(f"config: {key} = {url!r}: unknown database {scheme!r}; use {forms} "
                          f"(databases: {', '.join(STORAGE_SCHEMES)}).")


def check_cluster(spec: str, key: str = "run.cluster (--cluster)") -> None:
    """A cluster is empty, local, local:N, tcp://HOST:PORT (or another Dask address) or a .json
    scheduler file."""
    spec = str(spec).strip()
    if not spec or spec == "local" or "://" in spec or spec.endswith(".json"):
        return
    if spec.startswith("local:") and spec[6:].isdigit():
        return
    raise GeneqnError(f"config: {key} = {spec!r} is not a cluster; write local:N (N worker processes on this "
                      "machine), tcp://HOST:8786 (a running Dask scheduler) or a scheduler file (.json); leave "
                      "it empty to work in this process.")


@dataclass
class RunConfig:
    folder: str = "geneqn-run"
    """Run folder: every stage writes its outputs here."""
    seed: int = 0
    """One seed for splits, architectures and equations (a non-negative integer)."""
    cell_types: list[str] = field(default_factory=list)
    """Cell types to model (networks, search, equations); empty: every cell type of the targets."""
    cluster: str = ""
    """Dask cluster for the per-cell-type work: empty (this process), local:N (N worker processes
    here), tcp://HOST:8786 (a running scheduler) or a scheduler file (.json). Results do not depend
    on it."""


@dataclass
class ExpressionConfig:
    path: str = ""
    """h5ad file, 10x matrix folder, CellRanger .h5, SOMA experiment folder (tiledbsoma), or
    CSV/TSV/parquet of genes x cell types (already averaged)."""
    format: str = "auto"
    """auto | h5ad | 10x | 10x_h5 | soma | table"""
    cell_type_column: str = "cell_type"
    labels: str = ""
    """10x input: CSV of barcode,<cell_type_column> (default: cell_types.csv in the 10x folder)."""
    obs_filter: str = ""
    """SOMA input: only the cells this value filter of obs keeps (tiledbsoma syntax, e.g.
    "tissue_general == 'pancreas' and is_primary_data == True"); empty: every cell."""
    cell_types: list[str] = field(default_factory=list)
    """Cell types to use; empty: every cell type with at least min_cells cells."""
    min_cells: int = 20
    values: str = "cp10k"
    """cp10k (raw counts normalised to counts per 10,000; .raw.X when present) | log1p
    (log-normalised values, e.g. scanpy's log1p of CP10k: averaged after expm1) | X (.X as it
    is) | layer:NAME"""
    pseudocount: float = 0.001
    """g1 = log2(g0 + pseudocount) (paper: 0.001)."""


@dataclass
class AnnotationConfig:
    path: str = ""
    """MANE summary (MANE.GRCh38.v*.summary.txt.gz), GTF, BED6, or a geneqn TSS table (.parquet)."""
    format: str = "auto"
    """auto | mane | gtf | bed | table"""
    synonyms: str = ""
    """Optional HGNC complete set (hgnc_complete_set.txt): outdated expression symbols are matched
    through HGNC previous and alias symbols (the annotation needs HGNC ids, as MANE has)."""


@dataclass
class GenomeConfig:
    path: str = ""
    """FASTA (plain or bgzip, with .fai) or 2bit."""
    window: int = 4096
    """Window length in bp, centred on the TSS: [tss - window/2, tss + window/2)."""


@dataclass
class FeaturesConfig:
    provider: str = "sei"
    """sei | table | demo"""
    table: str = ""
    """provider = table: CSV/TSV/parquet, one row per gene, first column the gene id."""
    model_dir: str = ""
    """provider = sei: folder with sei.pth and projvec_targets.npy."""
    device: str = "auto"
    """Sei and Beluga: auto | cpu | cuda | cuda:N"""
    precision: str = "auto"
    """Sei: auto (fp32 until bf16 is validated on the real weights) | fp32 | bf16 (Beluga always runs in fp32)"""
    batch_size: int = 16
    baselines: list[str] = field(default_factory=list)
    """Extra baselines whose features geneqn computes: expectosc (Beluga over +-20 kb)."""
    beluga_dir: str = ""
    """baselines = ["expectosc"]: folder with deepsea.beluga.pth (`geneqn fetch beluga`)."""
    expectosc_table: str = ""
    """baselines = ["expectosc"]: a precomputed table of ExPecto features instead of Beluga runs."""
    expectosc_shift: int = 20000
    """ExPecto windows every 200 bp from -shift to +shift around each TSS (ExPecto: 20,000)."""


@dataclass
class SplitConfig:
    test_fraction: float = 0.2
    valid_fraction: float = 0.1
    """Fraction of the non-test genes held out for validation (paper: 10%, i.e. 72/8/20)."""


@dataclass
class TrainConfig:
    """How every network (search candidates, NN baseline, best net) is trained."""

    learning_rate: float = 0.001
    """Adam learning rate (paper: 1e-3)."""
    batch_size: int = 256
    max_epochs: int = 200
    patience: int = 10
    """Stop after this many epochs without a lower valid loss; the best weights are restored."""
    l1_latent: float = 0.0
    """L1 penalty on the latent activations (Cranmer et al. 2020: sparse bottlenecks distil
    better); 0: the paper's plain MSE."""
    l1_input: float = 0.0
    """L1 penalty on the first layer's weights (each unit reads few features); 0: none."""
    n_jobs: int = 0
    """Processes training networks (0: one per CPU core); results do not depend on it."""


@dataclass
class SearchConfig:
    """Neural architecture search over the bottleneck model space (see geneqn.nas.space)."""

    sampler: str = "tpe"
    """tpe | random | reinforce"""
    trials: int = 100
    """Budget: number of finished trials (reproducible with the seed)."""
    timeout_minutes: float = 0.0
    """Optional wall-clock cap (0: none); a capped search is not reproducible."""
    storage: str = ""
    """SQLAlchemy URL of the study; empty: sqlite file nas/study.db in the run folder."""
    study: str = "geneqn"
    """Study name prefix; the cell type and a fingerprint of the search's inputs are appended."""
    group_size: int = 8
    """Candidates asked per round and trained together as one batched model (same layer shapes)."""
    retrain_seeds: int = 3
    """The best architectures are retrained with this many seeds (the seed of the architecture's
    best trial, whose network is read back where that trial trained alone, then run.seed + 10000 +
    i); the best net by valid r is kept."""
    retrain_top: int = 3
    """How many of the search's best distinct architectures are retrained."""
    dense_widths: list[int] = field(default_factory=lambda: [16, 32, 64, 128, 256])
    dense_activations: list[str] = field(default_factory=lambda: ["relu", "tanh", "gelu"])
    latent_widths: list[int] = field(default_factory=lambda: [2, 3, 4, 6, 8])
    latent_activations: list[str] = field(default_factory=lambda: ["relu", "tanh", "sigmoid"])
    layers: list[list[str]] = field(default_factory=list)
    """Optional explicit space: 7 lists of options such as "64-relu"; overrides the four lists above."""
    latent_layer: int = 3
    """Index of the latent (bottleneck) layer among the layers (paper: the 4th of 7)."""
    dropout: float = 0.1
    """Dropout after every layer."""
    nas_sr_trials: int = 20
    """Budget of the NAS|SR ablation, whose reward is the valid r of each candidate's equations."""
    nas_sr_budget: float = 0.1
    """SR budget inside the NAS|SR search, as a fraction of sr.max_evaluations; sample size
    capped at 2,000 genes."""


@dataclass
class NNConfig:
    """The hand-tuned network of the paper's "NN" row, trained with the same code."""

    layers: list[str] = field(default_factory=lambda: ["128-relu", "64-relu", "32-relu", "4-tanh",
                                                       "32-relu", "64-relu", "128-relu"])
    latent_layer: int = 3
    dropout: float = 0.1


@dataclass
class SRConfig:
    """Symbolic regression (distillation, the direct-SR baseline and the complexity sweep)."""

    engine: str = "geneqn"
    """geneqn (default: PySR's regularized evolution over exactly the space the limit counts) |
    operon (pyoperon) | pysr (only where `import pysr` works; needs Julia)"""
    operators: list[str] = field(default_factory=lambda: ["+", "-", "*", "square", "neg", "exp", "inv"])
    """The paper's seven by default; PySR's names: + - * / ^ square cube neg inv exp log sqrt sin
    cos tanh abs."""
    complexity_limit: int = 20
    """Per equation, counted the PySR way on the tree (every variable, constant and operator
    counts 1, or its weight below)."""
    complexity_of_operators: dict[str, int] = field(default_factory=dict)
    """PySR's per-operator complexity, e.g. {exp = 2, "/" = 2} (1 each when absent)."""
    complexity_of_constants: int = 1
    complexity_of_variables: int = 1
    selection: str = "validation"
    """validation (the simplest equation whose MSE on the valid genes is within one paired
    standard error, or 1%, of the lowest) | accuracy (lowest loss on the training genes; the paper's) |
    best (PySR's: highest score with loss <= 1.5 x lowest)"""
    max_evaluations: int = 400000
    """Budget per SR fit in tree evaluations, shared by its restarts (with the seed, a fit is
    reproducible)."""
    restarts: int = 16
    """Independent seeded searches per fit, merged into one Pareto table (16: many short restarts
    find a planted law more often than a few long ones at an equal budget)."""
    max_samples: int = 3000
    """Search on at most this many training genes (0: all); constants are refitted and tables
    scored on all."""
    n_jobs: int = 0
    """Parallel processes for SR restarts, and for the evaluate stage's cell types (0: one per CPU
    core); results do not depend on it."""
    stage2_input: str = "predicted"
    """Stage 2 learns from the stage-1 *predicted* latents (the paper's) | latent (the network's)."""
    refit: str = "none"
    """none (the paper's) | joint: refit every constant of the composed equation on the training
    genes."""
    latent_prior: str = "uniform"
    """Stage-1 variable prior: uniform | network (weights from the network's sensitivity of each
    latent unit to each feature)."""
    latent_targets: str = "auto"
    """What stage 1 fits: auto (both of the following, keeping the equation with the higher r on
    the valid genes; twice the time) | network (the paper's: each latent unit) | gradient (the
    network's active directions: the few combinations of features along which its prediction
    changes, from its input gradient, varimax-rotated; at most the latent width)."""
    share_stage1: bool = True
    """The stage-1 fits of the latent units (all over the same features) send each other their
    best trees at every migration, as a fit's restarts do (same budget; false: each fits alone,
    as in the paper). Active directions never share (they load on different features)."""
    residual_latents: int = 2
    """Rounds of residual distillation after stage 2 (0: the paper's two stages): each fits one
    more equation of the features to what the network's output still differs from the equation,
    and the output becomes a * (stage 2) + b1 * r1 + .. + c, fitted by least squares on the
    network's output; the round count whose equation has the highest r with the network on the
    valid genes is kept."""
    sweep: list[str] = field(default_factory=lambda: ["3", "5", "7", "9", "18", "validation", "best", "accuracy"])
    """Per-latent complexity limits of the paper's Table 2 (integers, validation, best or accuracy)."""


@dataclass
class StabilityConfig:
    """Stability of each equation: the distillation refitted over other SR seeds and bootstrap
    resamples of the training genes (the stability stage; off while seeds and bootstraps are 0)."""

    seeds: int = 0
    """Refits with this many other SR seeds. Each refit costs one distillation (at budget x the
    [sr] budget)."""
    bootstraps: int = 0
    """Refits on this many bootstrap resamples of the training genes."""
    budget: float = 1.0
    """Share of sr.max_evaluations each refit searches with (1: the distillation's own)."""
    constant_bootstraps: int = 20
    """Bootstrap samples for the 95% intervals of the chosen equation's constants."""
    core_share: float = 0.8
    """A feature is in the stable core when at least this share of refits uses it."""


@dataclass
class ReportConfig:
    marker_genes: list[str] = field(default_factory=lambda: [
        "INS", "GCG", "SST", "PPY", "GHRL", "LHB", "FSHB", "POMC", "GH1", "PRL", "TSHB", "CGA",
        "CD3E", "MS4A1", "LYZ", "NKG7", "ALB", "KRT5"])
    """Genes labelled on the scatter plots when present among the test genes."""
    embed_figures: int = 30
    """report.html embeds each cell type's figures (one self-contained file, about 330 KB a cell
    type) for runs of up to this many cell types; with more, a cell type's section shows the
    PNG files of downloads/figures/ by relative link, so that an atlas's report stays small
    (keep downloads/ beside report.html). 0: always link."""


@dataclass
class Config:
    run: RunConfig = field(default_factory=RunConfig)
    expression: ExpressionConfig = field(default_factory=ExpressionConfig)
    annotation: AnnotationConfig = field(default_factory=AnnotationConfig)
    genome: GenomeConfig = field(default_factory=GenomeConfig)
    features: FeaturesConfig = field(default_factory=FeaturesConfig)
    split: SplitConfig = field(default_factory=SplitConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    search: SearchConfig = field(default_factory=SearchConfig)
    nn: NNConfig = field(default_factory=NNConfig)
    sr: SRConfig = field(default_factory=SRConfig)
    report: ReportConfig = field(default_factory=ReportConfig)
    stability: StabilityConfig = field(default_factory=StabilityConfig)

    def validate(self) -> "Config":
        """Check values that types alone do not; raise GeneqnError naming the key."""
        if not self.run.folder.strip():
            raise GeneqnError("config: run.folder is empty; name the folder the run writes to (e.g. "
                              "folder = \"geneqn-run\"), or pass --run.")
        if self.report.embed_figures < 0:
            raise GeneqnError("config: report.embed_figures must be 0 (always link the figures) or positive.")
        if self.run.seed < 0:
            raise GeneqnError(f"config: run.seed = {self.run.seed} must be a non-negative integer.")
        check_cluster(self.run.cluster)
        _choice("expression.format", self.expression.format, ["auto", "h5ad", "10x", "10x_h5", "soma", "table"])
        if not (self.expression.values in VALUES or self.expression.values.startswith("layer:")):
            raise GeneqnError(f"config: expression.values = {self.expression.values!r} is not valid; "
                              "use 'cp10k', 'log1p', 'X' or 'layer:NAME'.")
        _positive("expression.pseudocount", self.expression.pseudocount)
        if self.expression.min_cells < 1:
            raise GeneqnError("config: expression.min_cells must be at least 1.")
        _choice("annotation.format", self.annotation.format, ["auto", "mane", "gtf", "bed", "table"])
        if self.genome.window <= 0 or self.genome.window % 2:
            raise GeneqnError(f"config: genome.window = {self.genome.window} must be a positive even "
                              "number of bp (Sei needs 4096).")
        _choice("features.provider", self.features.provider, list(PROVIDERS))
        _choice("features.precision", self.features.precision, list(PRECISIONS))
        for b in self.features.baselines:
            _choice("features.baselines entry", b, list(BASELINES))
        if self.features.batch_size < 1:
            raise GeneqnError("config: features.batch_size must be at least 1.")
        if self.features.expectosc_shift < 0 or self.features.expectosc_shift % 200:
            raise GeneqnError(f"config: features.expectosc_shift = {self.features.expectosc_shift} must be a "
                              "non-negative multiple of 200 bp (ExPecto's: 20000).")
        for key in ("test_fraction", "valid_fraction"):
            v = getattr(self.split, key)
            if not 0 < v < 1:
                raise GeneqnError(f"config: split.{key} = {v} must lie strictly between 0 and 1.")
        train = (1 - self.split.test_fraction) * (1 - self.split.valid_fraction)
        if train < MIN_TRAIN_FRACTION:
            raise GeneqnError(f"config: split.test_fraction = {self.split.test_fraction} and split.valid_fraction = "
                              f"{self.split.valid_fraction} leave {train:.1%} of the genes to train on (at least "
                              f"{MIN_TRAIN_FRACTION:.0%} are needed). valid_fraction is a fraction of the genes left "
                              "after the test genes (the paper's 0.2 and 0.1 give 72/8/20); lower one of them.")
        _positive("train.learning_rate", self.train.learning_rate)
        if not self.train.learning_rate <= 1:
            raise GeneqnError(f"config: train.learning_rate = {self.train.learning_rate} is far too "
                              "large for Adam (the paper's is 0.001); use a value <= 1.")
        for key in ("batch_size", "max_epochs", "patience"):
            if getattr(self.train, key) < 1:
                raise GeneqnError(f"config: train.{key} must be at least 1.")
        if self.train.n_jobs < 0:
            raise GeneqnError("config: train.n_jobs must be 0 (one per core) or positive.")
        for key in ("l1_latent", "l1_input"):
            if getattr(self.train, key) < 0:
                raise GeneqnError(f"config: train.{key} must be 0 (none) or positive.")
        _choice("search.sampler", self.search.sampler, list(SAMPLERS))
        check_storage_url(self.search.storage)
        if not 0 < self.search.nas_sr_budget <= 1:
            raise GeneqnError("config: search.nas_sr_budget must lie in (0, 1].")
        for key in ("trials", "group_size", "retrain_seeds", "retrain_top", "nas_sr_trials"):
            if getattr(self.search, key) < 1:
                raise GeneqnError(f"config: search.{key} must be at least 1.")
        if self.search.timeout_minutes < 0:
            raise GeneqnError("config: search.timeout_minutes must be 0 (none) or positive.")
        for key, d in (("search.dropout", self.search.dropout), ("nn.dropout", self.nn.dropout)):
            if not 0 <= d < 1:
                raise GeneqnError(f"config: {key} = {d} must lie in [0, 1).")
        _choice("sr.engine", self.sr.engine, list(SR_ENGINES))
        _choice("sr.selection", self.sr.selection, list(SELECTIONS))
        _choice("sr.stage2_input", self.sr.stage2_input, ["predicted", "latent"])
        _choice("sr.refit", self.sr.refit, ["none", "joint"])
        _choice("sr.latent_prior", self.sr.latent_prior, ["uniform", "network"])
        _choice("sr.latent_targets", self.sr.latent_targets, ["network", "gradient", "auto"])
        if self.sr.complexity_limit < 5:
            raise GeneqnError(f"config: sr.complexity_limit = {self.sr.complexity_limit} is too small; "
                              "use at least 5 (a*x + b has complexity 5; the paper's limit is 20).")
        for key in ("max_evaluations", "restarts"):
            if getattr(self.sr, key) < 1:
                raise GeneqnError(f"config: sr.{key} must be at least 1.")
        for key in ("max_samples", "n_jobs", "residual_latents"):
            if getattr(self.sr, key) < 0:
                what = {"max_samples": "all genes", "n_jobs": "one per core"}.get(key, "none")
                raise GeneqnError(f"config: sr.{key} must be 0 ({what}) or positive.")
        if self.sr.max_samples and self.sr.max_samples < 50:
            raise GeneqnError(f"config: sr.max_samples = {self.sr.max_samples} is too few genes to "
                              "fit equations on; use 0 (all) or at least 50.")
        st = self.stability
        if min(st.seeds, st.bootstraps, st.constant_bootstraps) < 0:
            raise GeneqnError("config: stability.seeds, stability.bootstraps and stability.constant_bootstraps "
                              "must be 0 or more.")
        if not 0 < st.budget <= 1:
            raise GeneqnError(f"config: stability.budget must lie in (0, 1], got {st.budget!r}.")
        if not 0 < st.core_share <= 1:
            raise GeneqnError(f"config: stability.core_share must lie in (0, 1], got {st.core_share!r}.")
        for item in self.sr.sweep:
            if not (item in SELECTIONS or (item.isdigit() and int(item) >= 1)):
                raise GeneqnError(f"config: sr.sweep entry {item!r} must be a positive integer, validation, best "
                                  "or accuracy.")
        for key in ("complexity_of_constants", "complexity_of_variables"):
            if getattr(self.sr, key) < 1:
                raise GeneqnError(f"config: sr.{key} must be at least 1.")
        return self

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_toml(self) -> str:
        import tomli_w

        return tomli_w.dumps(self.to_dict())

    def replace(self, **sections: dict) -> "Config":
        """Copy with fields of sections replaced: ``cfg.replace(run={"seed": 1})``; validated."""
        new = dataclasses.replace(self)
        for sec, values in sections.items():
            if not hasattr(new, sec):
                raise GeneqnError(f"config: no section [{sec}].")
            obj = getattr(self, sec)
            unknown = [k for k in values if not hasattr(obj, k)]
            if unknown:
                raise GeneqnError(f"config: unknown key(s) {', '.join(unknown)} in [{sec}]; valid keys: "
                                  f"{', '.join(f.name for f in dataclasses.fields(obj))}.")
            hints = typing.get_type_hints(type(obj))
            coerced = {k: _coerce(f"{sec}.{k}", v, hints[k]) for k, v in values.items()}
            setattr(new, sec, dataclasses.replace(obj, **coerced))
        return new.validate()

    def section(self, name: str) -> dict[str, Any]:
        return dataclasses.asdict(getattr(self, name))


def parse_assignment(text: str) -> tuple[str, str, Any]:
    """``section.key=value`` (value in TOML syntax, or a bare string) -> (section, key, value)."""
    if "=" not in text or "." not in text.split("=", 1)[0]:
        raise GeneqnError(f"--set {text!r}: expected SECTION.KEY=VALUE, e.g. --set sr.complexity_limit=15.")
    lhs, rhs = text.split("=", 1)
    section, key = (p.strip() for p in lhs.split(".", 1))
    rhs = rhs.strip()
    try:
        value = tomllib.loads(f"v = {rhs}")["v"]
    except tomllib.TOMLDecodeError:
        value = rhs  # a bare word: a string
    return section, key, value


def _choice(key: str, value: str, choices: list[str]) -> None:
    if value not in choices:
        raise GeneqnError(f"config: {key} = {value!r} is not one of {', '.join(choices)}.")


def _positive(key: str, value: float) -> None:
    if not value > 0:
        raise GeneqnError(f"config: {key} = {value} must be positive.")


def _coerce(key: str, value: Any, annotation: Any) -> Any:
    """Check ``value`` against a dataclass field annotation (str/int/float/bool/list[...])."""
    origin = typing.get_origin(annotation)
    if origin is dict:
        key_type, value_type = typing.get_args(annotation)
        if not isinstance(value, dict):
            raise GeneqnError(f"config: {key} must be a table, e.g. {{exp = 2}}, got {value!r}.")
        return {_coerce(f"{key} key", k, key_type): _coerce(f"{key}.{k}", v, value_type) for k, v in value.items()}
    if origin in (list, tuple):
        (inner,) = typing.get_args(annotation)[:1]
        if not isinstance(value, list):
            raise GeneqnError(f"config: {key} must be a list, got {value!r}.")
        return [_coerce(f"{key}[{i}]", v, inner) for i, v in enumerate(value)]
    if origin in (typing.Union, types.UnionType):
        errors = []
        for option in typing.get_args(annotation):
            if option is type(None):
                if value is None:
                    return None
                continue
            try:
                return _coerce(key, value, option)
            except GeneqnError as e:
                errors.append(str(e))
        raise GeneqnError(errors[0] if errors else f"config: {key} has a wrong type.")
    if annotation is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise GeneqnError(f"config: {key} must be a number, got {value!r}.")
        return float(value)
    if annotation is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise GeneqnError(f"config: {key} must be an integer, got {value!r}.")
        return value
    if annotation is bool:
        if not isinstance(value, bool):
            raise GeneqnError(f"config: {key} must be true or false, got {value!r}.")
        return value
    if annotation is str:
        if not isinstance(value, str):
            raise GeneqnError(f"config: {key} must be a string, got {value!r}.")
        return value
    if dataclasses.is_dataclass(annotation):
        if not isinstance(value, dict):
            raise GeneqnError(f"config: [{key}] must be a table.")
        return _build(annotation, value, key)
    return value


def _build(cls: type, data: dict[str, Any], where: str) -> Any:
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        place = f"[{where}]" if where else "the top level"
        raise GeneqnError(f"config: unknown key(s) {', '.join(unknown)} in {place}; "
                          f"valid keys: {', '.join(fields)}.")
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for name, value in data.items():
        key = f"{where}.{name}" if where else name
        kwargs[name] = _coerce(key, value, hints[name])
    return cls(**kwargs)


def from_dict(data: dict[str, Any]) -> Config:
    """Build and validate a Config from a (possibly partial) nested dict."""
    return _build(Config, data, "").validate()


def load_config(path: str | Path | None) -> Config:
    """Read a TOML config (None: the defaults) and validate it.

    Relative paths inside the file are taken relative to the file's folder.
    """
    if path is None:
        return Config().validate()
    p = Path(path)
    if p.is_dir():
        raise GeneqnError(f"config file {p} is a folder; give the TOML file itself (e.g. {p / 'config.toml'}, "
                          "or write one with `geneqn config --show > config.toml`).")
    if not p.is_file():
        raise GeneqnError(f"config file not found: {p}. Write one with `geneqn config --show > {p.name}` "
                          "and edit it.")
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as e:
        raise GeneqnError(f"config file {p} is not valid TOML: {e}.") from None
    except UnicodeDecodeError:
        raise GeneqnError(f"config file {p} is not UTF-8 text, so not a TOML config; is it the right file? Write "
                          "one with `geneqn config --show > config.toml`.") from None
    cfg = from_dict(data)
    _resolve_paths(cfg, p.parent)
    return cfg


PATH_KEYS = [("run", "folder"), ("expression", "path"), ("expression", "labels"), ("annotation", "path"),
             ("annotation", "synonyms"),
             ("genome", "path"), ("features", "table"), ("features", "model_dir"), ("features", "beluga_dir"),
             ("features", "expectosc_table")]


def is_relative_path(value) -> bool:
    """A config path value (not empty, not a URL) that is relative to some folder."""
    return isinstance(value, str) and bool(value) and "://" not in value and not Path(value).expanduser().is_absolute()


def _resolve_paths(cfg: Config, base: Path) -> None:
    for section, key in PATH_KEYS:
        obj = getattr(cfg, section)
        value = getattr(obj, key)
        if is_relative_path(value):
            setattr(obj, key, str((base / value).resolve()))
