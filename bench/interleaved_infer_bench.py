#!/usr/bin/env python3
"""Inference in ONE process, calls alternated: doppel's runtime against onnxruntime, 1 thread.

peers_bench.py runs every engine in its own process, so on a shared, loaded machine each figure
carries that process' share of the noise (spreads of 20-100% at ResNet-18 batch 8). Here one
process loads onnxruntime (torch.onnx.export of the peers_models model, bench/onnx_runtime_bench's
session options) and doppel's runtime on the file doppel.export writes for the same model (seeded
alike), and with --base-build-dir also on the file a baseline build exports (run by this build's
runtime: the baseline's passes, its layout choices, not its kernels), with --direct also on this
build's file with Winograd convolutions off (doppel.set_winograd_convolutions(False) around its
calls), then calls them in turn (ort, doppel, base, direct, ort, doppel, ...) --calls times, after
checking each against its library's eager output, and prints each one's median and minimum process
CPU ms per call and median wall ms and their ratios to onnxruntime's.

Run with the peers venv's Python (torch and onnxruntime), doppel from the build:
    PYTHONPATH=build/release/python build/peers-venv/bin/python bench/interleaved_infer_bench.py \\
        --model resnet18 --batch 8 --calls 30 [--base-build-dir BASE/build/release]
(pin it: `taskset -c 1 ...`).
"""
import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import peers_models  # noqa: E402
from onnx_runtime_bench import ort_session  # noqa: E402

EXPORT = """
import sys
sys.path.insert(0, {here!r})
import doppel, peers_models
doppel.manual_seed(0)
model = peers_models.MODELS[{model!r}](doppel).eval()
doppel.export(model, [doppel.randn({batch}, *peers_models.INPUT[{model!r}])], {path!r})
"""


def export_with(python_path, model, batch, path):
    """The .dpl file the doppel build at python_path exports (a child process: one build a process)."""
    env = dict(os.environ, PYTHONPATH=python_path)
    code = EXPORT.format(here=str(HERE), model=model, batch=batch, path=str(path))
    subprocess.run([sys.executable, "-c", code], env=env, check=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="resnet18", choices=sorted(peers_models.MODELS))
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--calls", type=int, default=30)
    ap.add_argument("--base-build-dir", default=None)
    ap.add_argument("--direct", action="store_true",
                    help="also run doppel's runtime with Winograd convolutions off (doppel_runtime_direct)")
    args = ap.parse_args()

    import numpy as np
    import torch

    import doppel

    # 1 thread: with more, onnxruntime's spinning thread pool and doppel's OpenMP threads take the
    # cores from each other between alternated calls (ResNet-18 B=1 at 2 threads: doppel's runtime
    # 55 ms here against 23 ms alone, `doppel-run --bench`); peers_bench.py runs 2 threads apart.
    torch.set_num_threads(1)
    doppel.set_num_threads(1)
    tmp = Path(tempfile.mkdtemp())
    torch.manual_seed(0)
    tm = peers_models.MODELS[args.model](torch).eval()
    x = torch.randn(args.batch, *peers_models.INPUT[args.model])
    torch.onnx.export(tm, (x,), str(tmp / "m.onnx"), input_names=["x"], output_names=["y"], dynamo=False)
    sess = ort_session(str(tmp / "m.onnx"), 1)
    xn = x.numpy()
    xd = doppel.tensor(xn)
    with torch.inference_mode():
        want = {"onnxruntime": tm(x).numpy()}
    doppel.manual_seed(0)  # the weights the exporting processes draw
    dm = peers_models.MODELS[args.model](doppel).eval()
    with doppel.no_grad():
        want["doppel"] = dm(xd).numpy()
    engines = {"onnxruntime": lambda: sess.run(None, {"x": xn})[0]}
    files = {"doppel_runtime": (os.environ.get("PYTHONPATH", ""), tmp / "doppel.dpl")}
    if args.base_build_dir:
        files["doppel_runtime@base"] = (str(Path(args.base_build_dir) / "python"), tmp / "base.dpl")
    for name, (python_path, path) in files.items():
        export_with(python_path, args.model, args.batch, path)
        m = doppel.runtime.load(path)
        engines[name] = (lambda m: lambda: m.run([xd])[0].numpy())(m)
    if args.direct:
        direct = doppel.runtime.load(files["doppel_runtime"][1])

        def run_direct():
            doppel.set_winograd_convolutions(False)
            try:
                return direct.run([xd])[0].numpy()
            finally:
                doppel.set_winograd_convolutions(True)

        engines["doppel_runtime_direct"] = run_direct
    # Each engine against its own library's eager output (as peers_bench.py checks).
    for name, run in engines.items():
        got, ref = run(), want["onnxruntime" if name == "onnxruntime" else "doppel"]
        if not np.allclose(got, ref, rtol=1e-3, atol=1e-4):
            raise SystemExit(f"{name}: output differs from eager ({np.max(np.abs(got - ref))})")
    times = {name: [] for name in engines}
    walls = {name: [] for name in engines}
    for _ in range(args.calls):
        for name, run in engines.items():
            t0, w0 = time.process_time(), time.perf_counter()
            run()
            times[name].append((time.process_time() - t0) * 1e3)
            walls[name].append((time.perf_counter() - w0) * 1e3)
    ort_med, ort_min = statistics.median(times["onnxruntime"]), min(times["onnxruntime"])
    ort_wall = statistics.median(walls["onnxruntime"])
    print(f"{args.model} batch {args.batch}, {args.calls} calls each, 1 thread; load {os.getloadavg()[0]:.2f}")
    for name, t in times.items():
        med, low, wall = statistics.median(t), min(t), statistics.median(walls[name])
        print(f"  {name:20s} median {med:9.3f} ms ({med / ort_med:.3f})  min {low:9.3f} ms ({low / ort_min:.3f})"
              f"  wall median {wall:9.3f} ms ({wall / ort_wall:.3f})")

if __name__ == "__main__":
    main()
