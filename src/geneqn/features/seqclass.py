"""Sei sequence classes: the projection of Sei's 21,907 outputs on 40 class vectors, and the
class labels, names and groups of the paper's Appendix A.

The raw score of class k is ``s_k = p . P_k / ||P_k||`` where ``p`` is the strand-averaged Sei
prediction and ``P`` the first 40 rows of ``projvec_targets.npy`` (shape (61, 21907)).
"""

from __future__ import annotations

from functools import lru_cache
from importlib.resources import files
from pathlib import Path

import numpy as np
import pandas as pd

from geneqn._io import require_file
from geneqn.errors import GeneqnError

N_CLASSES = 40
N_TARGETS = 21907


@lru_cache(maxsize=1)
def sequence_classes() -> pd.DataFrame:
    """Table of the 40 classes in Sei's order: label, name, rank, group."""
    return pd.read_csv(str(files("geneqn").joinpath("data/seqclasses.tsv")), sep="\t")


def class_labels() -> list[str]:
    return sequence_classes()["label"].tolist()


def describe(label: str) -> tuple[str, str]:
    """(name, group) of a class label such as ``E10`` -> (``Brain``, ``E``); unknown -> ('', '')."""
    t = sequence_classes().set_index("label")
    if label in t.index:
        return t.at[label, "name"], t.at[label, "group"]
    return "", ""


def load_projection(path: str | Path, n_targets: int = N_TARGETS) -> np.ndarray:
    """Unit class vectors, shape (40, n_targets), from ``projvec_targets.npy``."""
    p = require_file(path, "Sei projection matrix (projvec_targets.npy)")
    try:
        P = np.load(p, allow_pickle=False)
    except Exception as e:
        raise GeneqnError(f"cannot read {p} as a .npy array: {e}.") from None
    if P.ndim != 2 or P.shape[0] < N_CLASSES or P.shape[1] != n_targets:
        raise GeneqnError(f"{p}: projection matrix has shape {P.shape}; expected (61, {n_targets}) "
                          f"(at least {N_CLASSES} rows of {n_targets} Sei targets). Is this the "
                          "projvec_targets.npy of the Sei archive?")
    return unit_rows(P[:N_CLASSES])


def unit_rows(P: np.ndarray) -> np.ndarray:
    P = np.asarray(P, dtype=np.float64)
    norms = np.linalg.norm(P, axis=1, keepdims=True)
    if (norms == 0).any():
        raise GeneqnError("projection matrix has an all-zero class row; it cannot be normalised.")
    return (P / norms).astype(np.float32)


def project(predictions: np.ndarray, unit_vectors: np.ndarray) -> np.ndarray:
    """Class scores (N, 40) = predictions (N, n_targets) @ unit_vectors.T."""
    return np.asarray(predictions, dtype=np.float64) @ np.asarray(unit_vectors, dtype=np.float64).T
