"""ExPecto's gene features and the ExPectoSC baseline.

ExPecto (Zhou et al. 2018) describes a gene by Beluga's 2,002 chromatin predictions in 2,000-bp
windows centred every 200 bp over +-20 kb of its TSS, reduced by exponential decay: for each
decay constant l in (0.01, 0.02, 0.05, 0.1, 0.2) and each side of the TSS,

    feature[side, l, j] = sum over windows on that side of exp(-l * floor(|d| / 200)) * p_j(window)

where d is the window centre's signed distance from the TSS along the gene's strand (d < 0:
upstream; the window at d = 0 counts on both sides) and p_j the strand-averaged prediction of
profile j. Features are ordered as ExPecto's ``Xreducedall``: 10 blocks (upstream l = 0.01 ...
0.2, then downstream) of 2,002 = 20,020 features.

ExPectoSC (Sokolova et al. 2023) fits, per cell type, a ridge regression (scikit-learn's
``Ridge``, penalty from {0.01, 0.1, 1, 10, 100}, features standardised) on these features to
log2(expression + 0.01), with genes weighted by how much they vary across cell types (the top
30% by standard deviation weight 2, the bottom 10% weight 0.5, the rest 1). geneqn's
:class:`ExPectoSC` does the same on geneqn's target g (log2(expression + 0.001) min-max scaled:
a different pseudocount, and a linear rescaling that Pearson r ignores), with the penalty chosen
on the valid genes like every other model of a run. (The code published with ExPectoSC condenses
windows at -19,000 ... +21,000 bp with symmetric decays; geneqn follows ExPecto's own
upstream/downstream definition.)
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from geneqn.errors import GeneqnError
from geneqn.features.chunks import ChunkTask, compute_in_chunks, file_id, worker_model
from geneqn.features.beluga import N_TARGETS, WINDOW, beluga_one_hot, load_beluga, predict, window_bounds
from geneqn.genome import Genome, encode, gene_keys, tss_on_genome

log = logging.getLogger(__name__)

DECAYS = (0.01, 0.02, 0.05, 0.1, 0.2)
STEP = 200
MAX_SHIFT = 20000
EXPECTOSC_ALPHAS = (0.01, 0.1, 1.0, 10.0, 100.0)


def offsets(max_shift: int = MAX_SHIFT, step: int = STEP) -> np.ndarray:
    """Signed window-centre distances from the TSS along the gene: -max_shift ... +max_shift."""
    if max_shift < 0 or max_shift % step:
        raise GeneqnError(f"the ExPecto shift range ({max_shift} bp) must be a non-negative multiple of {step} bp.")
    return np.arange(-max_shift, max_shift + 1, step)


def decay_weights(d: np.ndarray, decays=DECAYS, step: int = STEP) -> np.ndarray:
    """(10, n_windows): ExPecto's weights exp(-l * floor(|d| / step)), upstream rows (d <= 0) for
    each decay, then downstream rows (d >= 0)."""
    d = np.asarray(d)
    base = np.floor(np.abs(d) / step)
    up = [np.exp(-lam * base) * (d <= 0) for lam in decays]
    down = [np.exp(-lam * base) * (d >= 0) for lam in decays]
    return np.vstack(up + down)


def reduce_windows(predictions: np.ndarray, d: np.ndarray, decays=DECAYS) -> np.ndarray:
    """(n_windows, n_profiles) predictions of one gene -> (10 * n_profiles,) ExPecto features."""
    w = decay_weights(d, decays)                                  # (10, n_windows)
    return (w @ np.asarray(predictions, dtype=np.float64)).reshape(-1)


def feature_names(n_profiles: int = N_TARGETS, decays=DECAYS) -> list[str]:
    return [f"beluga{j}_{side}_{lam:g}" for side in ("up", "down") for lam in decays for j in range(n_profiles)]


def gene_windows(genome: Genome, chrom: str, tss: int, strand: str, d: np.ndarray, length: int = WINDOW) -> np.ndarray:
    """uint8 codes (n_windows, length) of the windows centred at signed distances ``d`` along the
    gene from its TSS (one read of the genome for all of them)."""
    sign = 1 if strand == "+" else -1
    centres = tss + sign * np.asarray(d, dtype=np.int64)
    lo = window_bounds(int(centres.min()), length)[0]
    hi = window_bounds(int(centres.max()), length)[1]
    region = encode(genome.fetch(chrom, lo, hi))
    out = np.empty((len(centres), length), dtype=np.uint8)
    for i, c in enumerate(centres):
        start, end = window_bounds(int(c), length)
        out[i] = region[start - lo:end - lo]
    return out


class ExpectoProvider:
    """ExPecto features (20,020 per gene) from Beluga runs over each TSS's neighbourhood, written
    in resumable chunks."""

    name = "expecto"
    description = "ExPecto features: Beluga predictions over +-20 kb of each TSS, exponential-decay weighted"

    def __init__(self, genome: str | Path, model_dir: str | Path, device: str = "auto", batch_size: int = 32,
                 chunk_size: int = 64, max_shift: int = MAX_SHIFT, model=None):
        self.genome_path = Path(genome)
        self.model_dir = Path(model_dir)
        self.device = device
        self.batch_size = batch_size
        self.chunk_size = chunk_size
        self.max_shift = max_shift
        self._model = model
        self._model_given = model is not None

    def __getstate__(self):
        """Sent to a cluster worker without weights read from files (the worker reads them once)."""
        return dict(self.__dict__, _model=self._model if self._model_given else None)

    def _load(self):
        from geneqn._torch import resolve_device

        dev = resolve_device(self.device)
        if self._model is None:
            path = self.model_dir / "deepsea.beluga.pth"
            self._model = worker_model(("beluga", str(path.resolve()), str(dev)), lambda: load_beluga(path, dev))
        return self._model.to(dev).eval(), dev

    def compute(self, tss: pd.DataFrame, cache_dir: Path | None = None) -> pd.DataFrame:
        if len(tss) == 0:
            raise GeneqnError("the TSS table is empty: no window to run Beluga on.")
        genome = Genome(self.genome_path)
        tss, skipped = tss_on_genome(genome, tss, WINDOW)
        self._load()  # a missing or damaged weights file is reported here, before any chunk
        weights = self.model_dir / "deepsea.beluga.pth"
        source = file_id(self.genome_path, *([weights] if weights.exists() else []),
                         extra=f"{self.max_shift}{'' if weights.exists() else 'in-memory'}")
        out = compute_in_chunks(tss, Path(cache_dir) if cache_dir is not None else Path("beluga_chunks"), source,
                                self.chunk_size, "Beluga (ExPecto features)",
                                lambda part, bar: self.chunk(genome, part, bar), ChunkTask(self, self.genome_path))
        out.attrs["skipped"] = skipped
        return out

    def chunk(self, genome: Genome, part: pd.DataFrame, bar) -> pd.DataFrame:
        """ExPecto features of the TSS rows ``part`` (one chunk), gene x feature."""
        model, dev = self._load()
        d = offsets(self.max_shift)
        rows = []
        for row in part.itertuples(index=False):
            codes = gene_windows(genome, str(row.chrom), int(row.tss), str(row.strand), d)
            preds = []
            for lo in range(0, len(codes), self.batch_size):
                x = torch.from_numpy(beluga_one_hot(codes[lo:lo + self.batch_size])).to(dev)
                preds.append(predict(model, x).cpu().numpy())
            rows.append(reduce_windows(np.concatenate(preds), d).astype(np.float32))
            bar.advance()
        return pd.DataFrame(np.vstack(rows), columns=feature_names(model.n_targets),
                            index=pd.Index(gene_keys(part), name="gene"))


def expression_weights(targets_wide: pd.DataFrame, top: float = 70, bottom: float = 10) -> pd.Series:
    """ExPectoSC's gene weights from a genes x cell types table: 2 for the genes whose standard
    deviation across cell types is at or above its 70th percentile, 0.5 below its 10th, else 1."""
    sd = (targets_wide - targets_wide.mean()).std(axis=1)
    w = pd.Series(1.0, index=targets_wide.index)
    w[sd >= np.percentile(sd, top)] += 1.0
    w[sd < np.percentile(sd, bottom)] -= 0.5
    return w
