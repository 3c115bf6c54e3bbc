#!/usr/bin/env python3
"""Inference rows: doppel's executor against onnxruntime running our ONNX export of the same model.

For the CNN and the MLP of tools/doppel_onnx_fixtures.cpp (eval mode, fixed seeds) at batch 1 and
64, on 1 and 2 threads, in the same run:
  doppel: `doppel-onnx-fixtures time MODEL BATCH THREADS REPS` times Executor::run_into on the
          optimized inference graph (OMP_NUM_THREADS and doppel::set_num_threads = THREADS);
  ort:    onnxruntime (CPUExecutionProvider, intra_op_num_threads = THREADS, inter_op 1,
          sequential execution, all graph optimizations) on <model>_opt.onnx, the export of that
          same graph, which `doppel-onnx-fixtures write` produced at the start of this run.
Each side runs in its own process, interleaved A B A B ... for --rounds rounds; a process reports
the median over its repetitions (each ~0.1 s of calls, mean ms per call), the row shows the median
of the per-process medians and the ratio doppel / ort (below 1: doppel is faster).

Run with the project venv (it has onnxruntime):
    .venv/bin/python bench/onnx_runtime_bench.py [--build-dir build/release] [--rounds 5] [--reps 7]
                                                 [--threads 1,2] [--models cnn,mlp] [--batches 1,64]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def ort_session(path, threads):
    """onnxruntime on the CPU: intra-op threads = `threads`, inter-op 1, sequential, all graph
    optimizations (also bench/peers_bench.py's onnxruntime engine)."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])


def ort_child(path, batch, threads, reps):
    """One onnxruntime process: prints the same JSON line as the doppel side."""
    import numpy as np

    sess = ort_session(path, threads)
    inp = sess.get_inputs()[0]
    shape = [batch] + [int(d) for d in inp.shape[1:]]
    x = np.random.default_rng(300).standard_normal(shape, dtype=np.float32)
    feed = {inp.name: x}
    for _ in range(5):
        sess.run(None, feed)

    def seconds_of(calls):
        t0 = time.perf_counter()
        for _ in range(calls):
            sess.run(None, feed)
        return time.perf_counter() - t0

    one = max(seconds_of(3) / 3, 1e-7)
    calls = max(1, int(0.1 / one))
    ms = sorted(seconds_of(calls) / calls * 1e3 for _ in range(reps))
    print(json.dumps({"batch": batch, "threads": threads, "median_ms": ms[len(ms) // 2], "reps": reps}))


def run_json(cmd, env):
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    if r.returncode != 0:
        sys.exit(f"{' '.join(map(str, cmd))} failed ({r.returncode}): {r.stderr}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build-dir", default=str(REPO / "build/release"))
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--reps", type=int, default=7)
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--models", default="cnn,mlp")
    ap.add_argument("--batches", default="1,64")
    ap.add_argument("--ort-child", nargs=4, metavar=("ONNX", "BATCH", "THREADS", "REPS"), help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.ort_child:
        path, batch, threads, reps = a.ort_child
        ort_child(path, int(batch), int(threads), int(reps))
        return

    tool = Path(a.build_dir) / "tools/doppel-onnx-fixtures"
    if not tool.is_file():
        sys.exit(f"{tool} not built: cmake --build {a.build_dir} --target doppel-onnx-fixtures")
    load = os.getloadavg()[0]
    if load > 0.5:
        print(f"warning: load average {load:.2f} at the start: figures may be noisy", file=sys.stderr)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([str(tool), "write", tmp], check=True, capture_output=True, timeout=600)
        for threads in [int(t) for t in a.threads.split(",")]:
            env = dict(os.environ, OMP_NUM_THREADS=str(threads))
            for model in a.models.split(","):
                for batch in [int(b) for b in a.batches.split(",")]:
                    d, o = [], []
                    for r in range(a.rounds):
                        print(f"{model} batch {batch} threads {threads}: round {r + 1}/{a.rounds}", file=sys.stderr)
                        d.append(run_json([str(tool), "time", model, str(batch), str(threads), str(a.reps)], env)["median_ms"])
                        o.append(run_json([sys.executable, __file__, "--ort-child", f"{tmp}/{model}_opt.onnx", str(batch),
                                           str(threads), str(a.reps)], env)["median_ms"])
                    dm, om = statistics.median(d), statistics.median(o)
                    spread = lambda v, m: (max(v) - min(v)) / m * 100  # noqa: E731
                    rows.append((f"infer_{model}_{batch}", threads, dm, om, dm / om, spread(d, dm), spread(o, om)))
    print(f"\n{'benchmark':<16}{'threads':>8}{'doppel ms':>12}{'ort ms':>10}{'ratio d/o':>11}{'spread d/o %':>15}")
    for name, t, dm, om, ratio, sd, so in rows:
        flag = " *" if max(sd, so) > 10 else ""
        print(f"{name:<16}{t:>8}{dm:>12.4f}{om:>10.4f}{ratio:>11.3f}{sd:>8.1f}/{so:<5.1f}{flag}")
    print("\nratio = doppel / onnxruntime ms per batch (below 1: doppel is faster); * = spread above 10%")


if __name__ == "__main__":
    main()
