"""Sei inference: speed against the hardware's roofline, fp32 against bf16, and (given its file)
the authors' sei.py side by side, with random full-size weights (no download needed).

Prints, all measured in this one run:
* the machine's conv1d speed (GFLOP/s, fp32 and bf16) on Sei's own layer shapes, and the FLOPs
  of one window with its reverse complement, computed from the layers. bf16 is first probed on
  one small convolution: CPUs without bf16 instructions (no AVX512-BF16 or AMX) emulate it
  ~100x slower than fp32, and then the full-size bf16 timings are skipped and projected;
* geneqn's Sei on CPU in fp32 (and in bf16 where the CPU has it): windows/s and the fraction of
  the roofline (FLOPs per window / peak) reached;
* the error of bf16's 40 sequence-class scores relative to their spread across windows (the sd
  of each class over the windows), and the lowest per-class Pearson r with fp32. The error is
  measured on any CPU by rounding weights and every layer's input and output to bf16 while
  accumulating in fp32, which is what bf16 kernels (oneDNN, cuDNN) do;
* with --authors-sei PATH (the authors' model/sei.py, never committed here): their network with
  the same weights, its windows/s and its largest difference from geneqn's outputs;
* on CUDA (when present): fp32 vs bf16 over batch sizes.

    python benchmarks/bench_sei.py [--batch 4] [--repeats 1] [--windows 24] [--authors-sei PATH]
"""

from __future__ import annotations

import argparse
import importlib.util
import time

import numpy as np
import torch
from torch import nn

from geneqn.features.sei import build_sei, predict
from geneqn.features.seqclass import unit_rows
from geneqn.genome import one_hot


def realistic_windows(n: int, seed: int = 0) -> torch.Tensor:
    """Windows that look like a genome: GC 41%, runs of repeats and of N."""
    rng = np.random.default_rng(seed)
    codes = rng.choice(4, size=(n, 4096), p=[0.295, 0.205, 0.205, 0.295]).astype(np.uint8)
    for i in range(n):
        for _ in range(3):  # tandem repeats
            unit = rng.integers(0, 4, rng.integers(2, 7))
            start = int(rng.integers(0, 3800))
            codes[i, start:start + 200] = np.resize(unit, 200)
        if rng.random() < 0.2:  # an N stretch (assembly gap, chromosome end)
            codes[i, :int(rng.integers(50, 800))] = 4
    return torch.from_numpy(one_hot(codes))


def window_flops(model: nn.Module, length: int = 4096) -> float:
    """FLOPs of one window and its reverse complement (2 x multiply-adds), from the layers."""
    total, L = 0.0, length
    for name, m in model.named_modules():
        if isinstance(m, nn.MaxPool1d):
            L //= m.kernel_size if isinstance(m.kernel_size, int) else m.kernel_size[0]
        if isinstance(m, nn.Conv1d):
            total += 2 * m.in_channels * m.out_channels * m.kernel_size[0] * L
        if isinstance(m, nn.Linear):
            total += 2 * m.in_features * m.out_features
    spline = 2 * model.widths[2] * (length // 16) * 16
    return 2 * (total + spline)


SHAPES = ((480, 480, 4096, 9), (960, 960, 256, 9), (640, 640, 1024, 9))


def conv_speed(dtype: torch.dtype, shape: tuple[int, int, int, int], batch: int, repeats: int) -> float:
    """GFLOP/s of torch's conv1d on one layer shape."""
    cin, cout, L, k = shape
    conv = nn.Conv1d(cin, cout, k, padding=k // 2).to(dtype)
    x = torch.randn(batch, cin, L, dtype=dtype)
    with torch.no_grad():
        conv(x)
        t = time.perf_counter()
        for _ in range(repeats):
            conv(x)
        dt = (time.perf_counter() - t) / repeats
    return 2 * batch * cin * cout * k * L / dt / 1e9


def conv_peak(dtype: torch.dtype, repeats: int = 3) -> float:
    """Best GFLOP/s of conv1d on Sei's largest layer shapes, batch 8."""
    return max(conv_speed(dtype, shape, 8, repeats) for shape in SHAPES)


def probe(dtype: torch.dtype) -> float:
    """GFLOP/s on one small convolution (batch 1, 512 positions): cheap even when emulated."""
    return conv_speed(dtype, (480, 480, 512, 9), 1, 1)


def bf16_rounded(model: nn.Module, round_output: bool = True) -> nn.Module:
    """``model`` (fp32) with its weights, and every layer's input and output, rounded to bf16;
    the arithmetic itself stays fp32, as in bf16 kernels that accumulate in fp32. Without
    ``round_output`` the last layer's output (the 21,907 probabilities) stays fp32."""
    def rnd(t):
        return t.to(torch.bfloat16).float() if isinstance(t, torch.Tensor) and t.is_floating_point() else t

    with torch.no_grad():
        for p in model.parameters():
            p.copy_(rnd(p))
    leaves = [m for m in model.modules() if not list(m.children())]
    for m in leaves:
        m.register_forward_pre_hook(lambda _m, args: tuple(rnd(a) for a in args))
        if round_output or m is not leaves[-1]:
            m.register_forward_hook(lambda _m, _args, out: rnd(out))
    return model


def class_error(out32: torch.Tensor, out16: torch.Tensor, unit: torch.Tensor) -> str:
    """Error of the 40 class scores relative to each class's spread across windows, and r."""
    s32, s16 = (out32 @ unit.T).numpy(), (out16 @ unit.T).numpy()
    ratio = np.abs(s16 - s32).max(axis=0) / s32.std(axis=0)
    rs = [np.corrcoef(s32[:, k], s16[:, k])[0, 1] for k in range(40)]
    return (f"largest error / the class's spread across windows {np.max(ratio):.3f} (median "
            f"{np.median(ratio):.3f}); lowest per-class r {min(rs):.4f}")


@torch.no_grad()
def rate(model, x: torch.Tensor, batch: int, repeats: int) -> tuple[float, torch.Tensor]:
    outs = [predict(model, x[:batch])]  # warm-up
    t = time.perf_counter()
    for r in range(repeats):
        for lo in range(0, len(x), batch):
            p = predict(model, x[lo:lo + batch])
            if r == 0:
                outs.append(p)
    dt = time.perf_counter() - t
    return len(x) * repeats / dt, torch.cat(outs[1:]).float()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=4, help="windows per batch (x2 strands)")
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--windows", type=int, default=24, help="windows timed and compared")
    ap.add_argument("--authors-sei", default=None, help="path of the authors' model/sei.py (not in this repo)")
    args = ap.parse_args()
    torch.manual_seed(0)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads")
    model = build_sei().eval()
    flops = window_flops(model)
    print(f"Sei: 889,979,983 parameters; {flops / 1e9:.1f} GFLOP per window with its reverse complement")
    p32, p16 = probe(torch.float32), probe(torch.bfloat16)
    native = p16 > 0.5 * p32
    peak32 = conv_peak(torch.float32)
    peak16 = conv_peak(torch.bfloat16) if native else p16
    print(f"conv1d on Sei's layer shapes: fp32 {peak32:.0f} GFLOP/s, bf16 {peak16:.0f} GFLOP/s "
          f"(roofline: {peak32 * 1e9 / flops:.2f} and {peak16 * 1e9 / flops:.3f} windows/s)")
    if not native:
        print(f"  bf16 is emulated on this CPU (small-conv probe: bf16 {p16:.1f} vs fp32 {p32:.0f} GFLOP/s, "
              f"{p32 / p16:.0f}x slower); bf16 windows/s is projected, not timed")
    x = realistic_windows(args.windows)
    unit = torch.from_numpy(unit_rows(np.random.default_rng(1).random((40, 21907))))

    r32, out32 = rate(model, x, args.batch, args.repeats)
    print(f"geneqn Sei fp32, batch {args.batch}: {r32:.2f} windows/s = {r32 * flops / 1e9 / peak32:.0%} of the fp32 roofline")
    if native:
        bf = build_sei().eval()
        bf.load_state_dict(model.state_dict())
        bf = bf.to(torch.bfloat16)
        r16, out16 = rate(bf, x.to(torch.bfloat16), args.batch, args.repeats)
        print(f"geneqn Sei bf16 weights + activations, batch {args.batch}: {r16:.2f} windows/s = "
              f"{r16 * flops / 1e9 / peak16:.0%} of the bf16 roofline; {r16 / r32:.2f}x fp32")
        print(f"bf16 kernels vs fp32, class scores over {len(x)} windows: {class_error(out32, out16, unit)}")
    else:
        print(f"geneqn Sei bf16 (projected from the probe at the fp32 roofline fraction): "
              f"{r32 * peak16 / peak32:.3f} windows/s, {peak16 / peak32:.3f}x fp32 -> fp32 stays the CPU default")
    for round_output, what in ((True, "weights, activations and output"), (False, "weights and activations, fp32 output")):
        emu = build_sei().eval()
        emu.load_state_dict(model.state_dict())
        _, out16 = rate(bf16_rounded(emu, round_output), x, args.batch, 1)
        print(f"bf16 rounding of {what} vs fp32, class scores over {len(x)} windows: {class_error(out32, out16, unit)}")
    print("  (random weights: outputs near 0.5 with little spread, so this is pessimistic; the real weights "
          "must be checked before bf16 becomes the CPU default)")

    if args.authors_sei:
        spec = importlib.util.spec_from_file_location("authors_sei", args.authors_sei)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)  # the user's own copy of the authors' code, run on purpose
        theirs = mod.Sei(sequence_length=4096, n_genomic_features=21907).eval()
        theirs.load_state_dict(model.state_dict())
        ra, pa = rate(theirs, x, args.batch, args.repeats)
        print(f"authors' sei.py fp32, batch {args.batch}: {ra:.2f} windows/s ({r32 / ra:.2f}x for geneqn); "
              f"largest output difference {float((pa - out32).abs().max()):.2e}")

    if torch.cuda.is_available():
        dev = torch.device("cuda")
        print(f"CUDA: {torch.cuda.get_device_name()}")
        m = model.to(dev)
        xs = realistic_windows(512, seed=2).to(dev)
        ref = None
        for dtype, name in [(torch.float32, "fp32"), (torch.bfloat16, "bf16")]:
            md = m.to(dtype)
            for b in (16, 32, 64, 128, 256):
                try:
                    torch.cuda.synchronize()
                    r, p = rate(md, xs.to(dtype), b, 2)
                    torch.cuda.synchronize()
                except torch.cuda.OutOfMemoryError:
                    print(f"CUDA {name}, batch {b}: out of memory")
                    break
                print(f"CUDA {name}, batch {b}: {r:,.0f} windows/s")
            if ref is None:
                ref = (p @ unit.to(dev).T).cpu().numpy()
            else:
                got = (p @ unit.to(dev).T).cpu().numpy()
                print(f"CUDA bf16 vs fp32: lowest per-class r {min(np.corrcoef(ref[:, k], got[:, k])[0, 1] for k in range(40)):.4f}")
    else:
        print("CUDA: no GPU here; the CUDA path is unmeasured (run this script on a GPU machine)")


if __name__ == "__main__":
    main()
