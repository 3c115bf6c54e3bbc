#!/usr/bin/env python3
"""GPU rows: doppel on cuda:0 (build/<dir>/bench/doppel_gpu_bench, C++) against PyTorch CUDA.

Both sides do the same work, float32, inputs made on the device once, every timed call followed
by a synchronize (so a figure is the device time of the work, launch overheads included):
  sgemm_4096                      matmul of two [4096,4096] tensors (also GFLOP/s);
  conv1_64, conv2_64              forward of the main CNN's convolutions at batch 64: 1->32 on
                                  [64,1,28,28] and 32->64 on [64,32,14,14], 3x3, padding 1, bias;
  conv1_train_64, conv2_train_64  the same, forward and backward (input, weight and bias grads);
  train_{mlp,cnn}_{64,256}_sgd    one eager training step of bench/README.md's MLP and CNN
                                  (zero_grad, forward, cross entropy, backward, SGD lr 0.01
                                  momentum 0.9, loss.item()).
PyTorch runs with TF32 off for matmuls and convolutions (strict float32, as doppel's kernels
compute). Each side runs in its own process, interleaved A B A B for --rounds rounds; a process
reports the median over its repetitions; the table shows the median of the per-process medians
and doppel / torch (below 1: doppel is faster).

Without a CUDA device (doppel_gpu_bench devices prints 0) or without the bench binary (a build
without the CUDA toolkit), it prints why and exits 0; without PyTorch CUDA it prints doppel's
figures alone.

    python3 bench/gpu_bench.py [--build-dir build/release] [--rounds 3] [--reps 7] [--bench sgemm_4096,...]
"""
import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BENCHES = ("sgemm_4096", "conv1_64", "conv2_64", "conv1_train_64", "conv2_train_64",
           "train_mlp_64_sgd", "train_mlp_256_sgd", "train_cnn_64_sgd", "train_cnn_256_sgd")


def torch_available():
    try:
        import torch  # noqa: F401
        return torch.cuda.is_available()
    except ImportError:
        return False


def torch_models(torch, kind):
    nn = torch.nn
    if kind == "mlp":
        return nn.Sequential(nn.Flatten(), nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 512), nn.ReLU(),
                             nn.Linear(512, 10))
    return nn.Sequential(nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                         nn.Linear(64 * 7 * 7, 128), nn.ReLU(), nn.Dropout(0.25), nn.Linear(128, 10))


def time_calls(f, sync, reps, rep_seconds=0.2, warmup_seconds=0.5):
    """Seconds per call of each repetition (the scheme of bench/bench_util.h's time_calls)."""
    calls, t0 = 0, time.perf_counter()
    while calls < 5 or time.perf_counter() - t0 < warmup_seconds:
        f()
        sync()
        calls += 1
    probe = max(1, calls // 4)
    t0 = time.perf_counter()
    for _ in range(probe):
        f()
        sync()
    inner = max(1, int(rep_seconds / max((time.perf_counter() - t0) / probe, 1e-9)))
    out = []
    for _ in range(reps):
        t0 = time.perf_counter()
        for _ in range(inner):
            f()
            sync()
        out.append((time.perf_counter() - t0) / inner)
    return sorted(out)


def torch_child(bench, reps):
    """PyTorch's side of one benchmark; prints one JSON line like doppel_gpu_bench."""
    import torch
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.manual_seed(0)
    dev = torch.device("cuda:0")
    sync = torch.cuda.synchronize
    gflop = 0.0
    if bench == "sgemm_4096":
        a, b = torch.randn(4096, 4096, device=dev), torch.randn(4096, 4096, device=dev)
        f = lambda: torch.matmul(a, b)  # noqa: E731
        gflop = 2.0 * 4096 ** 3 / 1e9
    elif bench.startswith("conv"):
        cin, cout, hw = (1, 32, 28) if bench.startswith("conv1") else (32, 64, 14)
        train = "_train_" in bench
        x = torch.randn(64, cin, hw, hw, device=dev, requires_grad=train)
        w = torch.randn(cout, cin, 3, 3, device=dev, requires_grad=train)
        bias = torch.randn(cout, device=dev, requires_grad=train)

        def f():
            y = torch.nn.functional.conv2d(x, w, bias, padding=1)
            if train:
                torch.autograd.grad(y.sum(), (x, w, bias))
    else:
        _, kind, batch, _ = bench.split("_")
        model = torch_models(torch, kind).to(dev).train()
        opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
        x = torch.randn(int(batch), 1, 28, 28, device=dev)
        y = torch.randint(0, 10, (int(batch),), device=dev)

        def f():
            opt.zero_grad(set_to_none=True)
            loss = torch.nn.functional.cross_entropy(model(x), y)
            loss.backward()
            opt.step()
            loss.item()
    t = time_calls(f, sync, reps)
    line = {"impl": "torch", "bench": bench, "median_ms": t[len(t) // 2] * 1e3, "ms": [s * 1e3 for s in t]}
    if gflop:
        line["gflops"] = [gflop / s for s in t]
    print(json.dumps(line), flush=True)


def run_json(cmd):
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, cmd))} failed ({p.returncode}): {p.stderr.strip()}")
    return json.loads(p.stdout.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build-dir", default=str(REPO / "build" / "release"))
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--reps", type=int, default=7)
    ap.add_argument("--bench", default=",".join(BENCHES))
    ap.add_argument("--torch-child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.torch_child:
        torch_child(args.torch_child, args.reps)
        return 0
    exe = Path(args.build_dir) / "bench" / "doppel_gpu_bench"
    if not exe.exists():
        print(f"gpu_bench: {exe} not found (a build without the CUDA toolkit, or DOPPEL_BUILD_BENCH=OFF); "
              "nothing to measure")
        return 0
    devices = int(subprocess.run([str(exe), "devices"], capture_output=True, text=True, check=True).stdout.strip())
    if devices == 0:
        print("gpu_bench: no CUDA device (cuda_device_count() == 0); the GPU benchmarks need a GPU machine")
        return 0
    with_torch = torch_available()
    if not with_torch:
        print("gpu_bench: PyTorch with CUDA is not importable; doppel's figures only")
    benches = [b for b in args.bench.split(",") if b]
    unknown = [b for b in benches if b not in BENCHES]
    if unknown:
        ap.error(f"unknown benchmarks {unknown}; known: {', '.join(BENCHES)}")
    rows, failed = [], False
    for b in benches:
        d_med, t_med, gf = [], [], []
        try:
            for _ in range(args.rounds):
                d = run_json([str(exe), b, str(args.reps)])
                d_med.append(d["median_ms"])
                if "gflops" in d:
                    gf.append(statistics.median(d["gflops"]))
                if with_torch:
                    t_med.append(run_json([sys.executable, __file__, "--torch-child", b, "--reps", str(args.reps)])
                                 ["median_ms"])
        except RuntimeError as e:
            print(f"gpu_bench: {b}: {e}")
            failed = True
            continue
        rows.append((b, statistics.median(d_med), statistics.median(t_med) if t_med else None,
                     statistics.median(gf) if gf else None))
    print(f"\n{'benchmark':<20} {'doppel ms':>11} {'torch ms':>11} {'doppel/torch':>13}  note")
    for b, d, t, g in rows:
        torch_ms = f"{t:11.3f}" if t else f"{'-':>11}"
        ratio = f"{d / t:13.2f}" if t else f"{'-':>13}"
        note = f"doppel {g:.0f} GFLOP/s" if g else ""
        print(f"{b:<20} {d:11.3f} {torch_ms} {ratio}  {note}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
