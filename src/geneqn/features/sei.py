"""Sei (Chen et al. 2022), re-implemented from the facts of its paper so that the authors'
published weights load without renaming, and run over every gene's TSS window.

* :func:`build_sei` builds the network (889,979,983 parameters at full size).
* :func:`load_sei` loads ``sei.pth`` (plain, ``module.model.``/``model.``-prefixed, or wrapped as
  ``{"state_dict": ...}``) with the model built on the meta device and the checkpoint memory-
  mapped, so loading does not need twice the model's memory.
* :func:`predict` averages the sigmoid outputs of each sequence and its reverse complement, both
  run in one batch.
* :class:`SeiProvider` streams windows from the genome, runs Sei (CUDA with bf16 autocast when
  present, fp32 on CPU), projects on the 40 sequence classes and writes results in chunks, so an
  interrupted run resumes where it stopped.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn

from geneqn._io import require_file
from geneqn._torch import load_tensors, resolve_device, resolve_dtype, strand_average
from geneqn.errors import GeneqnError
from geneqn.features.chunks import ChunkTask, compute_in_chunks, file_id, worker_model
from geneqn.features.seqclass import N_CLASSES, N_TARGETS, class_labels, load_projection
from geneqn.genome import WINDOW, Genome, iter_windows, one_hot, tss_on_genome

log = logging.getLogger(__name__)

FULL_WIDTHS = (480, 640, 960)
N_SPLINE = 16
DILATIONS = (2, 4, 8, 16, 25)


def bspline_basis(n_points: int = 256, df: int = N_SPLINE, degree: int = 3) -> np.ndarray:
    """Cubic B-spline basis with intercept evaluated at x = 0..n_points-1, shape (n_points, df).

    Inner knots at the percentiles 100*k/(n_inner+1) of x (k = 1..n_inner, n_inner = df - degree
    - 1 = 12), boundary knots x.min() and x.max() repeated degree + 1 times. Rows sum to 1.
    """
    from scipy.interpolate import BSpline

    x = np.arange(n_points, dtype=np.float64)
    n_inner = df - degree - 1
    inner = np.percentile(x, 100 * np.arange(1, n_inner + 1) / (n_inner + 1))
    knots = np.concatenate([[x[0]] * (degree + 1), inner, [x[-1]] * (degree + 1)])
    basis = BSpline.design_matrix(x, knots, degree).toarray()
    return basis


class BSplineTransformation(nn.Module):
    """(N, C, L) -> (N, C, df): multiply by a fixed B-spline basis (a buffer, not persisted)."""

    def __init__(self, n_points: int, df: int = N_SPLINE):
        super().__init__()
        self.n_points, self.df = n_points, df
        self.register_buffer("basis", torch.from_numpy(bspline_basis(n_points, df)).float(),
                             persistent=False)

    def reset_basis(self, device: torch.device | str = "cpu") -> None:
        self.basis = torch.from_numpy(bspline_basis(self.n_points, self.df)).float().to(device)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.matmul(x, self.basis.to(x.dtype))


def _conv(cin: int, cout: int, k: int = 9, dilation: int = 1) -> nn.Conv1d:
    return nn.Conv1d(cin, cout, kernel_size=k, padding=dilation * (k - 1) // 2, dilation=dilation)


class Sei(nn.Module):
    """The Sei network; state_dict keys follow the published checkpoint (see docs/sei.md)."""

    def __init__(self, widths: tuple[int, int, int] = FULL_WIDTHS, n_targets: int = N_TARGETS,
                 sequence_length: int = WINDOW):
        super().__init__()
        w1, w2, w3 = widths
        self.widths, self.n_targets, self.sequence_length = tuple(widths), n_targets, sequence_length
        self.lconv1 = nn.Sequential(_conv(4, w1), _conv(w1, w1))
        self.conv1 = nn.Sequential(_conv(w1, w1), nn.ReLU(inplace=True), _conv(w1, w1), nn.ReLU(inplace=True))
        self.lconv2 = nn.Sequential(nn.MaxPool1d(4, 4), nn.Dropout(0.2), _conv(w1, w2), _conv(w2, w2))
        self.conv2 = nn.Sequential(nn.Dropout(0.2), _conv(w2, w2), nn.ReLU(inplace=True), _conv(w2, w2),
                                   nn.ReLU(inplace=True))
        self.lconv3 = nn.Sequential(nn.MaxPool1d(4, 4), nn.Dropout(0.2), _conv(w2, w3), _conv(w3, w3))
        self.conv3 = nn.Sequential(nn.Dropout(0.2), _conv(w3, w3), nn.ReLU(inplace=True), _conv(w3, w3),
                                   nn.ReLU(inplace=True))
        for i, d in enumerate(DILATIONS, start=1):
            setattr(self, f"dconv{i}", nn.Sequential(nn.Dropout(0.10), _conv(w3, w3, k=5, dilation=d),
                                                     nn.ReLU(inplace=True)))
        n_points = sequence_length // 16
        self.spline_tr = nn.Sequential(nn.Dropout(0.5), BSplineTransformation(n_points))
        self.classifier = nn.Sequential(nn.Linear(w3 * N_SPLINE, n_targets), nn.ReLU(inplace=True),
                                        nn.Linear(n_targets, n_targets), nn.Sigmoid())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (N, 4, sequence_length) one-hot (A, C, G, T) -> (N, n_targets) probabilities."""
        lout1 = self.lconv1(x)
        out1 = self.conv1(lout1)
        lout2 = self.lconv2(out1 + lout1)
        out2 = self.conv2(lout2)
        lout3 = self.lconv3(out2 + lout2)
        out3 = self.conv3(lout3)
        cat = out3 + self.dconv1(out3 + lout3)
        for i in range(2, len(DILATIONS) + 1):
            cat = cat + getattr(self, f"dconv{i}")(cat)
        spline_out = self.spline_tr(cat)
        return self.classifier(spline_out.reshape(spline_out.size(0), -1))


def build_sei(widths: tuple[int, int, int] = FULL_WIDTHS, n_targets: int = N_TARGETS,
              sequence_length: int = WINDOW, device: str | torch.device | None = None) -> Sei:
    """Build Sei; ``device="meta"`` builds the full-size shapes without allocating memory."""
    if device is not None and str(device) == "meta":
        with torch.device("meta"):
            return Sei(widths, n_targets, sequence_length)
    model = Sei(widths, n_targets, sequence_length)
    return model.to(device) if device is not None else model


def reverse_complement(x: torch.Tensor) -> torch.Tensor:
    """Reverse complement of one-hot (N, 4, L) in A, C, G, T order: flip channels and length."""
    return torch.flip(x, dims=(1, 2))


@torch.no_grad()
def predict(model: Sei, x: torch.Tensor) -> torch.Tensor:
    """Strand-averaged predictions: (model(x) + model(rc(x))) / 2, run as one batch of 2N."""
    return strand_average(model, x, reverse_complement)


# ----------------------------------------------------------------------------- loading

_PREFIXES = ("module.model.", "module.", "model.")


def unwrap_state_dict(obj, prefixes=_PREFIXES) -> dict[str, torch.Tensor]:
    """The tensors of a checkpoint (a state_dict, or one wrapped as {"state_dict": ...}), with
    the first matching prefix of ``prefixes`` removed from each key."""
    if isinstance(obj, dict) and "state_dict" in obj and isinstance(obj["state_dict"], dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise GeneqnError("the checkpoint is not a state_dict (a mapping of names to tensors), nor one "
                          "wrapped as {'state_dict': ...}.")
    out = {}
    for key, value in obj.items():
        for prefix in prefixes:
            if key.startswith(prefix):
                key = key[len(prefix):]
                break
        out[key] = value
    return out





def check_state_dict(model: nn.Module, state: dict[str, torch.Tensor], source: str, network: str = "Sei",
                     hint: str = "Is this the sei.pth of the Sei archive (Zenodo 10.5281/zenodo.4906996)? "
                                 "`geneqn fetch sei` downloads it.") -> None:
    """Raise GeneqnError naming missing keys, unexpected keys and shape mismatches."""
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    got = {k: tuple(v.shape) for k, v in state.items()}
    missing = sorted(set(expected) - set(got))
    unexpected = sorted(set(got) - set(expected))
    shapes = [k for k in expected if k in got and expected[k] != got[k]]  # in layer order
    if missing or unexpected or shapes:
        lines = [f"{source} does not fit the {network} network:"]
        if missing:
            lines.append(f"  missing keys ({len(missing)}): {', '.join(missing[:8])}{' ...' if len(missing) > 8 else ''}")
        if unexpected:
            lines.append(f"  unexpected keys ({len(unexpected)}): {', '.join(unexpected[:8])}"
                         f"{' ...' if len(unexpected) > 8 else ''}")
        if shapes:
            lines.append(f"  shape mismatches ({len(shapes)}):")
        for k in shapes[:8]:
            lines.append(f"  shape mismatch for {k}: checkpoint {got[k]}, model {expected[k]}")
        lines.append(hint)
        raise GeneqnError("\n".join(lines))


def load_sei(path: str | Path, device: str | torch.device = "auto", *,
             widths: tuple[int, int, int] = FULL_WIDTHS, n_targets: int = N_TARGETS) -> Sei:
    """Load Sei weights into a model on ``device``, in eval mode.

    The model is built on the meta device and the checkpoint memory-mapped, then the tensors are
    assigned (``load_state_dict(assign=True)``), so peak memory stays about one model's size.
    """
    p = require_file(path, "Sei weights (sei.pth)")
    dev = resolve_device(device)
    obj = load_tensors(p, "a PyTorch checkpoint of Sei")
    state = unwrap_state_dict(obj)
    model = build_sei(widths, n_targets, device="meta")
    check_state_dict(model, state, str(p))
    model.load_state_dict(state, assign=True)
    model.spline_tr[1].reset_basis("cpu")
    return model.to(dev).eval()


# ----------------------------------------------------------------------------- provider

class SeiProvider:
    """Sei sequence-class scores (40 columns named by class label) for every TSS window."""

    name = "sei"

    description = "Sei's 40 sequence-class scores of each TSS window (Chen et al. 2022)"

    def __init__(self, genome: str | Path, model_dir: str | Path, device: str = "auto",
                 batch_size: int = 16, chunk_size: int = 512, model: Sei | None = None,
                 projection: np.ndarray | None = None, precision: str = "auto", window: int = WINDOW):
        self.genome_path = Path(genome)
        self.precision = precision
        self.window = window
        self.model_dir = Path(model_dir)
        self.device = device
        self.batch_size = batch_size
        self.chunk_size = chunk_size
        self._model = model
        self._model_given = model is not None
        self._projection = projection

    def __getstate__(self):
        """Sent to a cluster worker without weights read from files (the worker reads them once)."""
        return dict(self.__dict__, _model=self._model if self._model_given else None)

    def _load(self) -> tuple[Sei, torch.device, torch.Tensor]:
        dev = resolve_device(self.device)
        if self._projection is None:
            self._projection = load_projection(self.model_dir / "projvec_targets.npy")
        if self._model is None:
            path = self.model_dir / "sei.pth"
            self._model = worker_model(("sei", str(path.resolve()), str(dev)), lambda: load_sei(path, dev))
        model = self._model.to(dev).eval()
        if self._projection.shape[1] != model.n_targets:
            raise GeneqnError(f"projection matrix has {self._projection.shape[1]} columns but the model "
                              f"has {model.n_targets} outputs.")
        return model, dev, torch.from_numpy(np.ascontiguousarray(self._projection)).float().to(dev)

    @property
    def feature_names(self) -> list[str]:
        """The 40 sequence-class labels (columns of :meth:`compute` and :meth:`window_features`)."""
        return class_labels()[:N_CLASSES]

    def source(self) -> str:
        """A digest of what the scores are computed from (genome, weights, settings): cached
        chunks of another source are not reused."""
        model, _, _ = self._load()
        return file_id(self.genome_path, *[p for p in (self.model_dir / "sei.pth",
                                                        self.model_dir / "projvec_targets.npy") if p.exists()],
                       extra=f"{model.widths}{model.n_targets}{self.precision}")

    def window_features(self, codes: np.ndarray) -> np.ndarray:
        """Sequence-class scores of windows given as uint8 codes, shape (n, 4096) -> (n, 40),
        ``batch_size`` windows at a time (each with its reverse complement). Variant scoring
        (:func:`geneqn.variant_effects`) calls this on reference and alternative windows."""
        codes = np.asarray(codes, dtype=np.uint8)
        if codes.ndim != 2 or codes.shape[1] != WINDOW:
            raise GeneqnError(f"Sei reads windows of {WINDOW} bp; got an array of shape {codes.shape}.")
        model, dev, unit = self._load()
        dtype = resolve_dtype(self.precision, dev)
        autocast = dtype == torch.bfloat16 and dev.type == "cuda"
        if dtype == torch.bfloat16 and dev.type == "cpu":
            model = model.to(torch.bfloat16)
        out = []
        for lo in range(0, len(codes), self.batch_size):
            x = torch.from_numpy(one_hot(codes[lo:lo + self.batch_size])).to(dev, non_blocking=True)
            if dtype == torch.bfloat16 and dev.type == "cpu":
                x = x.to(torch.bfloat16)
            with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=autocast):
                p = predict(model, x)
            out.append((p.double() @ unit.double().T).cpu().numpy())  # fp64: variant deltas are not rounded to fp32
        return np.concatenate(out) if out else np.zeros((0, unit.shape[0]), dtype=np.float64)

    def compute(self, tss: pd.DataFrame, cache_dir: Path | None = None) -> pd.DataFrame:
        """Class scores of every TSS window; chunks of results go to ``cache_dir`` (default: a
        ``sei_chunks`` folder in the current folder) so an interrupted run resumes."""
        if len(tss) == 0:
            raise GeneqnError("the TSS table is empty: no window to run Sei on.")
        if self.window != WINDOW:
            raise GeneqnError(f"Sei reads windows of {WINDOW} bp; genome.window is {self.window}. Set "
                              f"genome.window = {WINDOW} for Sei features.")
        genome = Genome(self.genome_path)
        tss, skipped = tss_on_genome(genome, tss, self.window)
        source = self.source()
        out = compute_in_chunks(tss, Path(cache_dir) if cache_dir is not None else Path("sei_chunks"), source,
                                self.chunk_size, "Sei sequence classes",
                                lambda part, bar: self.chunk(genome, part, bar), ChunkTask(self, self.genome_path))
        out.attrs["skipped"] = skipped
        return out

    def chunk(self, genome: Genome, part: pd.DataFrame, bar) -> pd.DataFrame:
        """Class scores of the windows of the TSS rows ``part`` (one chunk), gene x class."""
        model, _, unit = self._load()
        scores, names = [], []
        for batch in iter_windows(genome, part, self.batch_size, model.sequence_length):
            scores.append(self.window_features(batch.codes))
            names += batch.genes
            bar.advance(len(batch.genes))
        return pd.DataFrame(np.concatenate(scores), columns=class_labels()[: unit.shape[0]],
                            index=pd.Index(names, name="gene"))
