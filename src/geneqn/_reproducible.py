"""The same seed, the same networks on every x86 machine: pin PyTorch's CPU kernels.

PyTorch picks its CPU kernels by instruction set (AVX2 or AVX-512 builds of its elementwise and
reduction kernels; MKL's GEMM code path by processor), and kernels of another vector width sum
in another order: a network trained with the same seed on an AVX-512 machine then differs in
its last bits from one trained on an AVX2 machine, and so do the latent values that symbolic
regression fits. Before torch is imported, geneqn therefore asks for the AVX2 kernels on every
x86 machine that has AVX2 (``ATEN_CPU_CAPABILITY=avx2``) and for MKL's conditional numerical
reproducibility on its AVX2 path, independent of the thread count (``MKL_CBWR=AVX2,STRICT``).
Values a user has set are kept; ``GENEQN_NATIVE_KERNELS=1`` keeps PyTorch's own choice (faster
on AVX-512 machines, not reproducible across them). Convolutions (Sei, Beluga) go through
oneDNN, which these settings do not touch.
"""

from __future__ import annotations

import os
import platform
import sys

PINNED = {"ATEN_CPU_CAPABILITY": "avx2", "MKL_CBWR": "AVX2,STRICT"}


def _has_avx2() -> bool:
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("flags"):
                    return " avx2 " in f" {line.split(':', 1)[1].strip()} "
    except OSError:
        return False
    return False


def pin_cpu_kernels() -> dict[str, str]:
    """Set the variables above (when torch is not imported yet, the machine is x86 with AVX2,
    and the user has not opted out); returns what was set."""
    if os.environ.get("GENEQN_NATIVE_KERNELS") or "torch" in sys.modules:
        return {}
    if platform.machine().lower() not in ("x86_64", "amd64") or not _has_avx2():
        return {}
    done = {}
    for key, value in PINNED.items():
        if key not in os.environ:
            os.environ[key] = value
            done[key] = value
    return done


def kernels_pinned() -> bool:
    """Whether this process runs the pinned kernels (for the record in results and reports)."""
    return all(os.environ.get(k) == v for k, v in PINNED.items())
