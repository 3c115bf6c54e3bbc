#!/usr/bin/env python3
"""int8 and bf16 inference in the doppel runtime against onnxruntime's own int8, in one
interleaved run (issue 18's bench; never in CI).

Rows: the main job's CNN (bench/peers_models.py `cnn`: the same layers as examples/
fashion_mnist_cnn.h once its batch norms are folded) and ResNet-18 (224x224), batch 1 and 64.
Engines, each on the same float model (seeded weights):
  doppel_f32    doppel.export(model) -> doppel.runtime.load(...).run
  doppel_bf16   doppel.export(model, precision="bf16"): convolutions and matmuls in bf16
  doppel_int8   doppel.quantization.quantize_static(model, calibration batches, example inputs),
                exported and run by the runtime ("unavailable" where this build has no
                doppel.quantization.quantize_static): int8 activations channels-last
  doppel_int8_nchw  the same calibration converted without the channels-last pass (activations
                [N, C, H, W] between the int8 kernels, each convolution reordering to oneDNN's nhwc
                and back): the layout before that pass, for a before/after in one run
  ort_f32       onnxruntime on doppel.onnx.export(model) (CPUExecutionProvider, all graph
                optimizations, intra/inter-op threads 1)
  ort_int8      onnxruntime on onnxruntime.quantization.quantize_static of that ONNX file: QDQ,
                per-channel int8 weights, uint8 activations, after quant_pre_process (ONNX shape
                inference and optimization; its symbolic shape inference needs sympy)
Calibration: 8 batches of 8, the timed input the next batch of the same data (Fashion-MNIST test
images for the CNN where the dataset is installed, standard normal inputs otherwise; the weights
are seeded, not trained, so the error column says how each engine rounds, not how accurate a
trained model stays: docs/bf16.md and docs/quantization.md have those). Each row's error column is ||y - y_f32|| / ||y_f32||
against the float model run eagerly on the timed input (float engines must be below 1e-4).

Processes and timing as bench/peers_bench.py (its helpers): every engine in its own process pinned
to core 0 (taskset -c 0, 1 thread), interleaved A B C ... A B C ... for --rounds rounds; each
reports the medians over --reps repetitions of wall and process CPU time per call; a row shows
the median over processes, the speed-up over doppel_f32 (wall and CPU time) and the load average
before and after the row (above ~1 the figures are noise). Runs with the project .venv (onnxruntime is
there) and <build>/python; results go to build/bench/quant-<time>.json.

    tools/bench.sh --quant [--rounds 3] [--reps 5] [--rows cnn_1,resnet18_64] [--engines doppel_bf16,ort_int8]
"""
import argparse
import gzip
import json
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))

import peers_bench  # noqa: E402  (bench/: the timing and process helpers)

ROWS = {"cnn_1": ("cnn", 1), "cnn_64": ("cnn", 64), "resnet18_1": ("resnet18", 1), "resnet18_64": ("resnet18", 64)}
ENGINES = ("doppel_f32", "doppel_bf16", "doppel_int8", "doppel_int8_nchw", "ort_f32", "ort_int8")
FASHION = Path("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz")


def inputs(name, shape, n):
    """n inputs: Fashion-MNIST test images for the CNN where installed (normalized as the main job
    does), N(0, 1) otherwise. The first 64 calibrate, the next `batch` are timed."""
    if name == "cnn" and FASHION.exists():
        data = gzip.open(FASHION, "rb").read()
        images = np.frombuffer(data, np.uint8, offset=16).reshape(-1, 1, 28, 28)[:n]
        return (images.astype(np.float32) / 255.0 - 0.2860) / 0.3530
    return np.random.default_rng(1).standard_normal((n, *shape), dtype=np.float32)


def prepare(row, folder):
    """Writes every engine's model file for `row` into `folder`, with the timed input and the float
    model's answer; returns {engine: file or "unavailable: why"}."""
    import doppel
    import peers_models

    name, batch = ROWS[row]
    doppel.manual_seed(0)
    model = peers_models.MODELS[name](doppel).eval()
    shape = peers_models.INPUT[name]
    data = inputs(name, shape, 64 + batch)
    batches, x = [data[i:i + 8] for i in range(0, 64, 8)], np.ascontiguousarray(data[64:])
    with doppel.no_grad():
        want = model(doppel.from_numpy(x)).numpy()
    np.save(folder / "x.npy", x)
    np.save(folder / "want.npy", want)
    example = [doppel.from_numpy(x)]
    files = {"doppel_f32": folder / "f32.dpl", "doppel_bf16": folder / "bf16.dpl", "ort_f32": folder / "f32.onnx"}
    doppel.export(model, example, files["doppel_f32"], parity_samples=0)
    doppel.export(model, example, files["doppel_bf16"], parity_samples=0, precision="bf16")
    # A dynamic batch (traced at 8: a batch of 1 cannot be told from the model's other 1s), so that
    # onnxruntime calibrates on batches of 8 and runs the timed batch.
    doppel.onnx.export(model, (doppel.from_numpy(batches[0]),), files["ort_f32"], input_names=["x"],
                       output_names=["y"], dynamic_axes={"x": {0: "batch"}, "y": {0: "batch"}})
    try:
        from doppel.quantization import quantize_static
    except ImportError as e:
        files["doppel_int8"] = files["doppel_int8_nchw"] = f"unavailable: {e}"
    else:
        try:  # the API of issue 18's item 5 (doppel.quantization, docs/quantization.md)
            # Traced at a batch of 8 with the batch dynamic (as the ONNX file), run at the row's batch.
            q = quantize_static(model, [[doppel.from_numpy(b)] for b in batches], [doppel.from_numpy(batches[0])])
            files["doppel_int8"] = folder / "int8.dpl"
            q.export(files["doppel_int8"])
            files["doppel_int8_nchw"] = folder / "int8_nchw.dpl"
            # The same calibrated observers converted without the channels-last pass.
            doppel._C.quantization.GraphRunner(q._prepared.convert(channels_last=False)).export(
                str(files["doppel_int8_nchw"]))
        except Exception as e:  # reported in the table as the row's failure, never timed
            for k in ("doppel_int8", "doppel_int8_nchw"):
                files[k] = f"unavailable: quantize_static failed: {type(e).__name__}: {e}"[:200]
    files["ort_int8"] = ort_quantize(files["ort_f32"], folder, batches)
    return {k: str(v) for k, v in files.items()}


def ort_quantize(f32, folder, batches):
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quant_pre_process
    from onnxruntime.quantization import quantize_static

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.it = iter([{"x": b} for b in batches])

        def get_next(self):
            return next(self.it, None)

    pre, out = folder / "f32_pre.onnx", folder / "int8.onnx"
    quant_pre_process(str(f32), str(pre), skip_symbolic_shape=True)  # ONNX shape inference (no sympy)
    quantize_static(str(pre), str(out), Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                    activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)
    return out


def child(engine, folder, reps):
    x, want = np.load(folder / "x.npy"), np.load(folder / "want.npy")
    path = json.loads((folder / "files.json").read_text())[engine]
    if engine.startswith("doppel"):
        import doppel

        doppel.set_num_threads(1)
        model, xt = doppel.runtime.load(path), doppel.from_numpy(x)

        def run():
            return model.run(xt)[0]
    else:
        import onnxruntime as ort

        so = ort.SessionOptions()
        so.intra_op_num_threads = so.inter_op_num_threads = 1
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        session = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])

        def run():
            return session.run(None, {"x": x})[0]
    y = np.asarray(run() if engine.startswith("ort") else run().numpy(), dtype=np.float64)
    error = float(np.linalg.norm(y - want) / np.linalg.norm(want))
    if engine.endswith("f32") and not error < 1e-4:
        raise SystemExit(f"{engine}: output differs from the eager float model (relative error {error:.2e}): no figure")
    figures = peers_bench.time_calls(run, reps)
    print(json.dumps({"engine": engine, "rel_error": error, **figures}))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--build-dir", default="build/release")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--rows", default=",".join(ROWS))
    p.add_argument("--engines", default=",".join(ENGINES))
    p.add_argument("--child")
    p.add_argument("--prepare")
    p.add_argument("--folder")
    args = p.parse_args()
    if args.prepare:
        files = prepare(args.prepare, Path(args.folder))
        (Path(args.folder) / "files.json").write_text(json.dumps(files))
        print(json.dumps(files))
        return
    if args.child:
        child(args.child, Path(args.folder), args.reps)
        return
    rows, engines = args.rows.split(","), args.engines.split(",")
    unknown = [r for r in rows if r not in ROWS] + [e for e in engines if e not in ENGINES]
    if unknown:
        raise SystemExit(f"quant_bench: unknown rows/engines {unknown}; rows: {list(ROWS)}; engines: {list(ENGINES)}")
    build = Path(args.build_dir) if Path(args.build_dir).is_absolute() else REPO / args.build_dir
    python, env = REPO / ".venv" / "bin" / "python", {"PYTHONPATH": str(build / "python")}
    results = []
    with tempfile.TemporaryDirectory(prefix="doppel_quant_bench_") as tmp:
        for row in rows:
            folder = Path(tmp) / row
            folder.mkdir()
            print(f"  {row}: exporting and quantizing", file=sys.stderr, flush=True)
            files = peers_bench.run_pinned(python, [__file__, "--prepare", row, "--folder", folder], 1, env, "prepare")
            if "error" in files and "doppel_f32" not in files:
                raise SystemExit(f"quant_bench: preparing {row} failed: {files['error']}")
            errors = {e: files[e] for e in engines if str(files[e]).startswith("unavailable")}
            load_before = os.getloadavg()[0]
            got = peers_bench.interleave(engines, args.rounds, errors, row, lambda e: peers_bench.run_pinned(
                python, [__file__, "--child", e, "--folder", folder, "--reps", args.reps], 1, env, e))
            summary = {e: dict(peers_bench.summarize(runs), rel_error=runs[0]["rel_error"])
                       for e, runs in got.items() if runs}
            sizes = {e: Path(files[e]).stat().st_size for e in summary}
            results.append({"row": row, "engines": summary, "errors": errors, "file_bytes": sizes,
                            "load_before": load_before, "load_after": os.getloadavg()[0]})
    print("\n| row | engine | wall ms | CPU ms | speed-up vs doppel_f32 (wall / CPU) | rel. error vs f32 | file MB "
          "| spread | load before/after |")
    print("|---|---|---|---|---|---|---|---|---|")
    for res in results:
        base = res["engines"].get("doppel_f32")
        for e, s in res["engines"].items():
            speedup = (f"{peers_bench.ratio(base['wall_ms'], s['wall_ms'])} / "
                       f"{peers_bench.ratio(base['cpu_ms'], s['cpu_ms'])}" if base else "-")
            print(f"| {res['row']} | {e} | {s['wall_ms']:.3f} | {s['cpu_ms']:.3f} | {speedup} | {s['rel_error']:.2e} | "
                  f"{res['file_bytes'][e] / 1e6:.2f} | {s['spread']:.0%}{' *' if s['spread'] > 0.1 else ''} | "
                  f"{res['load_before']:.2f}/{res['load_after']:.2f} |")
        for e, msg in res["errors"].items():
            print(f"| {res['row']} | {e} | {msg} | | | | | | |")
    peers_bench.save_results("quant", args, results)


if __name__ == "__main__":
    main()
