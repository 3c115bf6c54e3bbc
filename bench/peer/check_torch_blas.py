#!/usr/bin/python3
"""Check that the benchmark peer (Debian's PyTorch, run by /usr/bin/python3) has a fast BLAS.

Debian's torch 1.13 sends torch.mm to whatever libblas.so.3 the alternatives system selects.
The netlib reference BLAS is ~20x slower than OpenBLAS, which would make every ratio against
the peer meaningless. This times a 2048^2 fp32 torch.mm (median of several runs) and exits 1
when it is below --min-gflops. A quick 512^2 probe fails fast on the reference BLAS instead of
waiting ~10 s for the big product.

    /usr/bin/python3 bench/peer/check_torch_blas.py [--threads 2] [--min-gflops 150] [--quiet]
"""
import argparse
import os
import statistics
import sys
import time
import warnings

ALTS_FIX = ("fix: apt-get install libopenblas0-openmp && "
            "update-alternatives --set libblas.so.3-x86_64-linux-gnu "
            "/usr/lib/x86_64-linux-gnu/openblas-openmp/libblas.so.3 && "
            "update-alternatives --set liblapack.so.3-x86_64-linux-gnu "
            "/usr/lib/x86_64-linux-gnu/openblas-openmp/liblapack.so.3  (tools/setup.sh --bench does this)")


def loaded_blas():
    """Paths of the BLAS/LAPACK shared objects mapped into this process."""
    libs = set()
    with open("/proc/self/maps") as f:
        for line in f:
            path = line.split()[-1]
            name = os.path.basename(path)
            if path.startswith("/") and ("blas" in name or "lapack" in name):
                libs.add(os.path.realpath(path))
    return sorted(libs)


def gflops(torch, n, iters, reps):
    a, b = torch.randn(n, n), torch.randn(n, n)
    torch.mm(a, b)  # warm-up: thread pool start, page faults
    ts = []
    for _ in range(reps):
        t0 = time.perf_counter()
        for _ in range(iters):
            torch.mm(a, b)
        ts.append((time.perf_counter() - t0) / iters)
    return 2.0 * n**3 / statistics.median(ts) / 1e9


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--min-gflops", type=float, default=150.0)
    ap.add_argument("--n", type=int, default=2048)
    ap.add_argument("--quiet", action="store_true", help="print only on failure")
    args = ap.parse_args()

    warnings.filterwarnings("ignore")  # Debian's torch warns about numpy / CUDA at import
    try:
        import torch
    except ImportError as e:
        print(f"check_torch_blas: cannot import torch ({e}); apt-get install python3-torch", file=sys.stderr)
        return 1
    torch.set_num_threads(args.threads)

    probe = gflops(torch, 512, iters=2, reps=3)
    blas = loaded_blas()
    where = f"torch {torch.__version__}, {args.threads} threads, BLAS: {', '.join(blas) or 'none mapped'}"
    if probe < args.min_gflops / 5:
        print(f"check_torch_blas: FAIL: torch.mm 512^2 only {probe:.1f} GFLOP/s ({where}); {ALTS_FIX}",
              file=sys.stderr)
        return 1
    g = gflops(torch, args.n, iters=2 if args.n >= 2048 else 10, reps=5)
    line = f"torch.mm {args.n}^2 fp32: {g:.1f} GFLOP/s (need >= {args.min_gflops:g}; {where})"
    if g < args.min_gflops:
        hint = ALTS_FIX if not any("openblas" in p for p in blas) else \
            "OpenBLAS is loaded: is the machine busy, or are OMP_NUM_THREADS/OPENBLAS_NUM_THREADS limiting it?"
        print(f"check_torch_blas: FAIL: {line}; {hint}", file=sys.stderr)
        return 1
    if not args.quiet:
        print(f"check_torch_blas: ok: {line}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
