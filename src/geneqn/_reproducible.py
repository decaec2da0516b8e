"""The same seed, the same networks on every x86 machine: pin PyTorch's CPU kernels.

PyTorch picks its CPU kernels by instruction set (AVX2 or AVX-512 builds of its elementwise and
reduction kernels; MKL's GEMM code path by processor), and kernels of another vector width sum
in another order: a network trained with the same seed on an AVX-512 machine then differs in
its last bits from one trained on an AVX2 machine, and so do the latent values that symbolic
regression fits. Before torch is imported, geneqn therefore asks for ATen's AVX2 kernels on every
x86 machine that has AVX2 (``ATEN_CPU_CAPABILITY=avx2``) and for MKL's conditional numerical
reproducibility on its COMPATIBLE branch (one SSE2 code path, independent of the thread count:
``MKL_CBWR=COMPATIBLE,STRICT``). MKL's AVX2 branch, used before, exists on
Intel processors only: on AMD processors MKL silently takes its AUTO branch instead, and the demo's
networks (and so its equations) differed between an Intel and an AMD machine; COMPATIBLE is the
one branch that MKL runs on both (Intel's CNR documentation), and on every x86-64 processor, so it
is pinned on those without AVX2 too. Its price: MKL's matrix products run SSE2 kernels, about
1.8x slower on the demo's layer shapes (README). Values a user has set are kept;
``GENEQN_NATIVE_KERNELS=1`` keeps PyTorch's own choice (faster on large networks, not reproducible
across machines). Convolutions (Sei, Beluga) go through oneDNN, which these settings do not touch.
"""

from __future__ import annotations

import os
import platform
import sys

PINNED = {"ATEN_CPU_CAPABILITY": "avx2", "MKL_CBWR": "COMPATIBLE,STRICT"}


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
    """Set the variables above (when torch is not imported yet, the machine is x86 and the user
    has not opted out; ATen's AVX2 kernels only where the processor has AVX2); returns what was set."""
    if os.environ.get("GENEQN_NATIVE_KERNELS") or "torch" in sys.modules:
        return {}
    if platform.machine().lower() not in ("x86_64", "amd64"):
        return {}
    done = {}
    for key, value in PINNED.items():
        if key not in os.environ and (key != "ATEN_CPU_CAPABILITY" or _has_avx2()):
            os.environ[key] = value
            done[key] = value
    return done


def pinned_kernels() -> dict[str, str | None]:
    """The kernel settings this process runs with (recorded where networks are kept: a network
    trained under other settings differs in its last bits)."""
    return {key: os.environ.get(key) for key in (*PINNED, "GENEQN_NATIVE_KERNELS")}
