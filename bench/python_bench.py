#!/usr/bin/env python3
"""Python rows: doppel from Python (the nanobind bindings) against PyTorch from Python.

Both sides run the very same child code (only the imported module differs: the API is the same):
  add_8:            `a + b` on float32 [8] tensors, the result dropped at once: the per-op
                    overhead of the Python binding path plus the eager dispatch (ns per call);
  train_mlp_64_sgd: one eager training step of bench/README.md's MLP (Flatten, Linear(784,512),
                    ReLU, Linear(512,512), ReLU, Linear(512,10)) on a fixed random batch
                    [64,1,28,28], cross-entropy, zero_grad(set_to_none=True), backward,
                    SGD(lr 0.01, momentum 0.9) step, loss.item() (ms per step);
  topk50_1x50257, topk50_8x50257, sort_8x50257 (not in the default set: --bench names them):
                    topk(x, 50) and sort(x, descending=True) over the last dim of float32
                    randn logits [B, 50257] (GPT-2's vocabulary), the sampling step of text
                    generation (us per call).
doppel runs in the project venv (.venv/bin/python, PYTHONPATH=<build>/python); the peer is
Debian's python3-torch (/usr/bin/python3, installed by tools/setup.sh --bench), kept apart from
the venv. Each side runs in its own process, interleaved A B A B ... for --rounds rounds, on 1 and
2 threads (OMP_NUM_THREADS and set_num_threads); a process reports the median over its
repetitions; the row shows the median of the per-process medians and doppel / torch (below 1:
doppel is faster).

    /usr/bin/python3 bench/python_bench.py [--build-dir build/release] [--rounds 5] [--reps 7]
                                           [--threads 1,2] [--bench add_8,train_mlp_64_sgd]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BENCHES = ("add_8", "train_mlp_64_sgd")
SORTING_BENCHES = {"topk50_1x50257": (1, "topk"), "topk50_8x50257": (8, "topk"), "sort_8x50257": (8, "sort")}


def child(lib_name, bench, threads, reps):
    """One measuring process; prints one JSON line."""
    lib = __import__(lib_name)
    nn = lib.nn
    lib.set_num_threads(threads)
    lib.manual_seed(0)
    if bench == "add_8":
        a, b = lib.randn(8), lib.randn(8)

        def run(n):
            t0 = time.perf_counter()
            for _ in range(n):
                a + b
            return time.perf_counter() - t0

        unit, scale, target = "ns", 1e9, 0.05
    elif bench in SORTING_BENCHES:
        rows, op = SORTING_BENCHES[bench]
        x = lib.randn(rows, 50257)

        def run(n):
            t0 = time.perf_counter()
            for _ in range(n):
                x.topk(50) if op == "topk" else x.sort(descending=True)
            return time.perf_counter() - t0

        unit, scale, target = "us", 1e6, 0.1
    else:
        model = nn.Sequential(nn.Flatten(), nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 512), nn.ReLU(),
                              nn.Linear(512, 10))
        model.train()
        opt = lib.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
        x = lib.randn(64, 1, 28, 28)
        y = lib.randint(0, 10, (64,))
        losses = []

        def run(n):
            t0 = time.perf_counter()
            for _ in range(n):
                opt.zero_grad(set_to_none=True)
                loss = nn.functional.cross_entropy(model(x), y)
                loss.backward()
                opt.step()
                losses.append(loss.item())
            return time.perf_counter() - t0

        unit, scale, target = "ms", 1e3, 0.1
    run(5)  # warm-up: allocator, primitive caches, optimizer state
    one = max(run(3) / 3, 1e-9)
    n = max(1, int(target / one))
    figures = sorted(run(n) / n * scale for _ in range(reps))
    if bench == "train_mlp_64_sgd" and not losses[-1] < losses[0]:
        raise SystemExit(f"{lib_name}: the loss did not go down ({losses[0]} -> {losses[-1]}): no figure")
    print(json.dumps({"lib": lib_name, "bench": bench, "threads": threads, "unit": unit,
                      "median": figures[len(figures) // 2], "reps": reps, "calls": n}))


def spawn(side, bench, threads, reps, build_dir):
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    if side == "doppel":
        python = str(REPO / ".venv" / "bin" / "python")
        env["PYTHONPATH"] = str(build_dir / "python")
    else:
        python = "/usr/bin/python3"
        env.pop("PYTHONPATH", None)
    out = subprocess.run([python, __file__, "--child", side, "--bench", bench, "--threads", str(threads),
                          "--reps", str(reps)], env=env, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise SystemExit(f"{side} {bench} ({threads} threads) failed:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--build-dir", default="build/release")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--reps", type=int, default=7)
    p.add_argument("--threads", default="1,2")
    p.add_argument("--bench", default=",".join(BENCHES))
    p.add_argument("--child", choices=("doppel", "torch"))
    args = p.parse_args()
    benches = args.bench.split(",")
    if args.child:
        child(args.child, benches[0], int(args.threads), args.reps)
        return
    build_dir = Path(args.build_dir)
    if not build_dir.is_absolute():
        build_dir = REPO / build_dir
    rows = []
    for bench in benches:
        for threads in (int(t) for t in args.threads.split(",")):
            got = {"doppel": [], "torch": []}
            for r in range(args.rounds):
                for side in ("doppel", "torch"):  # A B A B: drift hits both sides alike
                    print(f"  {bench} threads={threads} round {r + 1}/{args.rounds} {side}", file=sys.stderr)
                    res = spawn(side, bench, threads, args.reps, build_dir)
                    got[side].append(res["median"])
                    unit = res["unit"]
            d, t = statistics.median(got["doppel"]), statistics.median(got["torch"])
            rows.append({"bench": bench, "threads": threads, "unit": unit, "doppel": d, "torch": t,
                         "ratio": d / t, "doppel_all": got["doppel"], "torch_all": got["torch"]})
    print(f"\n| benchmark | threads | doppel (Python) | PyTorch (Python) | doppel / PyTorch |")
    print("|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['bench']} | {r['threads']} | {r['doppel']:.3g} {r['unit']} | {r['torch']:.3g} {r['unit']} | "
              f"{r['ratio']:.2f} |")
    out = REPO / "build" / "bench" / f"python-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"rounds": args.rounds, "reps": args.reps, "rows": rows,
                               "load_avg": os.getloadavg()}, indent=1))
    print(f"\nresults: {out}")


if __name__ == "__main__":
    main()
