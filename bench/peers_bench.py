#!/usr/bin/env python3
"""doppel from Python against its peers from Python, in one interleaved run (never in CI).

Rows (bench/peers_models.py has the models):
  mlp_train_sgd, mlp_train_adam   MLP 784-512-512-10 training step, batch 64: zero_grad, forward,
                                  cross-entropy, backward, SGD(lr 0.01, momentum 0.9) / Adam(lr 1e-3)
                                  step, loss.item() (the loss must go down over the process' run)
  cnn_train_sgd, cnn_train_adam   the small CNN's step, batch 64, SGD / Adam (dropout on)
  cnn_infer_1, cnn_infer_64       the small CNN in eval mode without autograd, batch 1 and 64
  resnet18_infer_1, _8            ResNet-18 inference at 224x224, batch 1 and 8
  gemm_fwd1 ... gemm_dw1          the eight GEMMs of the MLP step (GEMMS below: forward X·Wᵀ as
                                  linear, backward dY·W and dYᵀ·X as matmul of transposed views),
                                  one per row, engines doppel_eager, torch_eager (MKL) and jax_jit;
                                  a second table gives each engine's GFLOP/s by CPU time. doppel
                                  writes one element of the weight-like operand before each call,
                                  as a training step changes its weights, so nothing is prepacked.
Engines (each row runs the ones that apply):
  doppel_eager     doppel's eager Python API
  doppel_graph     doppel.compile: the whole training step, or the forward with inference=True
  doppel_runtime   doppel.export + doppel.runtime.load(...).run (inference rows)
  doppel_runtime_untiled  the same with batch_tiling=False (every step on the whole batch: the
                   baseline of the executor's batch tiling)
  torch_eager      PyPI PyTorch, eager
  torch_compile    torch.compile(model) (inductor; training: forward+backward compiled, the
                   optimizer step eager)
  torch_freeze     torch.jit.freeze(torch.jit.trace(model)) under inference_mode (inference rows)
  jax_jit          jax.jit of the whole step (SGD/Adam written out) or of the forward, NHWC
  onnxruntime      onnxruntime (CPUExecutionProvider, intra-op threads = T, inter-op 1, all graph
                   optimizations) on torch.onnx.export of the PyTorch model (inference rows)
Graph and compiled engines check their output against their own eager side before timing.
With --base-build-dir DIR, every doppel engine also runs from that build (a baseline, e.g. main's
build/release) as ENGINE@base, interleaved with the rest: before/after in one run.

Every engine runs in its own process, pinned with taskset to T cores (T = 1: core 0; 2: cores
0-1) with OMP/MKL/OpenBLAS threads and the library's own setting at T (JAX: XLA's Eigen pool
off at T = 1), interleaved A B C ... A B C ... for --rounds rounds. A process warms up, sizes
a repetition to ~0.1 s of calls (at least one), and reports the medians over --reps repetitions
of the wall time and of the process CPU time per call, and its peak RSS. A row shows the median
over processes of each engine, the ratio of each figure to the best peer's (the fastest peer
engine by that figure; below 1: faster than every peer), and the load average before and after
the row (above ~1 the figures are noise).

doppel runs in the project venv (.venv, PYTHONPATH=<build>/python); the peers in a separate venv
(--peers-venv, default build/peers-venv) that `tools/bench.sh --peers` creates with PyPI's torch,
jax[cpu], onnxruntime, onnx and numpy. Results go to build/bench/peers-<time>.json.

    tools/bench.sh --peers [--rounds 3] [--reps 5] [--threads 1,2] [--rows cnn_infer_1,mlp_train_sgd]
                           [--engines doppel_graph,onnxruntime]
"""
import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))

# row -> (model, batch, optimizer or None for inference)
ROWS = {
    "mlp_train_sgd": ("mlp", 64, "sgd"),
    "mlp_train_adam": ("mlp", 64, "adam"),
    "cnn_train_sgd": ("cnn", 64, "sgd"),
    "cnn_train_adam": ("cnn", 64, "adam"),
    "cnn_infer_1": ("cnn", 1, None),
    "cnn_infer_64": ("cnn", 64, None),
    "resnet18_infer_1": ("resnet18", 1, None),
    "resnet18_infer_8": ("resnet18", 8, None),
}
# The MLP 784-512-512-10 step's GEMMs at batch 64: row -> (transposes of A and B, M, N, K); A is
# stored [M, K] (N) or [K, M] (T), B [K, N] (N) or [N, K] (T).
GEMMS = {
    "gemm_fwd1": ("NT", 64, 512, 784),  # X·W1ᵀ
    "gemm_fwd2": ("NT", 64, 512, 512),  # H1·W2ᵀ
    "gemm_fwd3": ("NT", 64, 10, 512),  # H2·W3ᵀ
    "gemm_dx3": ("NN", 64, 512, 10),  # dY3·W3
    "gemm_dw3": ("TN", 10, 512, 64),  # dY3ᵀ·H2
    "gemm_dx2": ("NN", 64, 512, 512),  # dY2·W2
    "gemm_dw2": ("TN", 512, 512, 64),  # dY2ᵀ·H1
    "gemm_dw1": ("TN", 512, 784, 64),  # dY1ᵀ·X
}
ROWS.update({row: ("gemm", 64, None) for row in GEMMS})
GEMM_ENGINES = ("doppel_eager", "torch_eager", "jax_jit")
DOPPEL = ("doppel_eager", "doppel_graph", "doppel_runtime", "doppel_runtime_untiled")
PEERS = ("torch_eager", "torch_compile", "torch_freeze", "jax_jit", "onnxruntime")
INFERENCE_ONLY = ("doppel_runtime", "doppel_runtime_untiled", "torch_freeze", "onnxruntime")


def engines_of(row):
    if row in GEMMS:
        return list(GEMM_ENGINES)
    train = ROWS[row][2] is not None
    return [e for e in DOPPEL + PEERS if not (train and e in INFERENCE_ONLY)]


# --- child side: build one engine's callable --------------------------------------------------------

def close(got, want, what):
    import numpy as np

    got, want = np.asarray(got, dtype=np.float64), np.asarray(want, dtype=np.float64)
    if got.shape != want.shape or not np.allclose(got, want, rtol=1e-3, atol=1e-4):
        err = np.max(np.abs(got - want)) if got.shape == want.shape else f"shape {got.shape} vs {want.shape}"
        raise SystemExit(f"{what}: output differs from eager ({err}): no figure")


def inference_runner(forward, x, want, mode, what, checks):
    """forward(x) under `mode` (a no-autograd context), after `checks` calls compared with `want`."""
    with mode():
        for _ in range(checks):
            close(forward(x).numpy(), want, what)

    def run():
        with mode():
            return forward(x)
    return run


def lib_step(lib, model, opt_kind, forward=None):
    """An eager-style training step step(x, y) over `forward` (default: the model)."""
    forward = forward or model
    opt = (lib.optim.SGD(model.parameters(), lr=0.01, momentum=0.9) if opt_kind == "sgd"
           else lib.optim.Adam(model.parameters(), lr=1e-3))

    def step(x, y):
        opt.zero_grad(set_to_none=True)
        loss = lib.nn.functional.cross_entropy(forward(x), y)
        loss.backward()
        opt.step()
        return loss
    return step


def seeded_model(lib, name, batch, train):
    """The model `name` built by `lib` (doppel or torch) after seeding, in training or eval mode, with
    a random input batch and labels."""
    import peers_models

    lib.manual_seed(0)
    model = peers_models.MODELS[name](lib)
    if train:
        model.train()
    else:
        model.eval()
    return model, lib.randn(batch, *peers_models.INPUT[name]), lib.randint(0, 10, (batch,))


def doppel_engine(engine, name, batch, opt_kind):
    import doppel

    model, x, y = seeded_model(doppel, name, batch, opt_kind is not None)
    if opt_kind:
        step = lib_step(doppel, model, opt_kind)
        if engine == "doppel_graph":
            step = doppel.compile(step, state=model)
        return lambda: step(x, y).item()
    with doppel.no_grad():
        want = model(x).numpy()
    if engine == "doppel_eager":
        return inference_runner(model, x, want, doppel.no_grad, engine, 0)
    if engine == "doppel_graph":  # 3 checks: eager warm-up, trace, replay
        return inference_runner(doppel.compile(model, inference=True), x, want, doppel.no_grad, engine, 3)
    path = Path(tempfile.mkdtemp()) / f"{name}.dpl"
    doppel.export(model, [x], path)
    m = doppel.runtime.load(path, batch_tiling=engine == "doppel_runtime")
    close(m.run([x])[0].numpy(), want, engine)
    return lambda: m.run([x])


def torch_engine(engine, name, batch, opt_kind, threads):
    import torch

    model, x, y = seeded_model(torch, name, batch, opt_kind is not None)
    if opt_kind:
        forward = torch.compile(model) if engine == "torch_compile" else model
        step = lib_step(torch, model, opt_kind, forward)
        return lambda: step(x, y).item()
    with torch.inference_mode():
        want = model(x).numpy()
    if engine == "torch_eager":
        return inference_runner(model, x, want, torch.inference_mode, engine, 0)
    if engine == "torch_compile":
        return inference_runner(torch.compile(model), x, want, torch.inference_mode, engine, 1)
    if engine == "torch_freeze":
        with torch.no_grad():
            f = torch.jit.freeze(torch.jit.trace(model, x))
        # 3 checks: the profiling executor specializes on the first runs.
        return inference_runner(f, x, want, torch.inference_mode, engine, 3)
    from onnx_runtime_bench import ort_session

    path = str(Path(tempfile.mkdtemp()) / f"{name}.onnx")
    # The TorchScript-based exporter: the default (torch.export-based) one needs onnxscript.
    torch.onnx.export(model, (x,), path, input_names=["x"], output_names=["y"], dynamo=False)
    sess = ort_session(path, threads)
    feed = {"x": x.numpy()}
    close(sess.run(None, feed)[0], want, engine)
    return lambda: sess.run(None, feed)


def jax_engine(name, batch, opt_kind):
    import jax
    import jax.numpy as jnp
    import peers_models

    key = jax.random.PRNGKey(0)
    params, apply = peers_models.jax_model(name, key)
    c, h, w = peers_models.INPUT[name]
    x = jax.random.normal(key, (batch, h, w, c), jnp.float32)
    if not opt_kind:
        f = jax.jit(lambda p, x: apply(p, x, False, None))
        return lambda: f(params, x).block_until_ready()
    y = jax.random.randint(key, (batch,), 0, 10)

    def loss_fn(p, k):
        logits = apply(p, x, True, k)
        return -jnp.mean(jnp.take_along_axis(jax.nn.log_softmax(logits), y[:, None], axis=1))

    lr, momentum, b1, b2, eps = (0.01, 0.9, 0.9, 0.999, 1e-8) if opt_kind == "sgd" else (1e-3, 0, 0.9, 0.999, 1e-8)
    zeros = jax.tree_util.tree_map(jnp.zeros_like, params)

    @jax.jit
    def sgd(p, v, t, k):  # PyTorch's SGD with momentum: v = m v + g (v = g at the first step); p -= lr v
        loss, g = jax.value_and_grad(loss_fn)(p, k)
        v = jax.tree_util.tree_map(lambda v, g: jnp.where(t == 0, g, momentum * v + g), v, g)
        return loss, jax.tree_util.tree_map(lambda p, v: p - lr * v, p, v), v, zeros, t + 1

    @jax.jit
    def adam(p, m, v, t, k):
        loss, g = jax.value_and_grad(loss_fn)(p, k)
        t = t + 1
        m = jax.tree_util.tree_map(lambda m, g: b1 * m + (1 - b1) * g, m, g)
        v = jax.tree_util.tree_map(lambda v, g: b2 * v + (1 - b2) * g * g, v, g)
        c1, c2 = 1 - b1 ** t, 1 - b2 ** t
        p = jax.tree_util.tree_map(lambda p, m, v: p - lr * (m / c1) / (jnp.sqrt(v / c2) + eps), p, m, v)
        return loss, p, m, v, t

    state = {"p": params, "m": zeros, "v": zeros, "t": jnp.zeros((), jnp.int32), "key": key}

    def step():
        state["key"], k = jax.random.split(state["key"])
        if opt_kind == "sgd":
            loss, state["p"], state["m"], _, state["t"] = sgd(state["p"], state["m"], state["t"], k)
        else:
            loss, state["p"], state["m"], state["v"], state["t"] = adam(state["p"], state["m"], state["v"],
                                                                         state["t"], k)
        return float(loss)
    return step


def gemm_operands(row, lib):
    """The stored A and B of the GEMM row (lib.randn, seeded) and the product as an expression of
    them: linear(A, B) for NT (B is the [N, K] weight), A.t() @ B for TN, A @ B for NN."""
    trans, m, n, k = GEMMS[row]
    lib.manual_seed(0)
    a = lib.randn(*((k, m) if trans[0] == "T" else (m, k)))
    b = lib.randn(*((n, k) if trans[1] == "T" else (k, n)))
    if trans == "NT":
        return a, b, lambda: lib.nn.functional.linear(a, b)
    if trans == "TN":
        return a, b, lambda: lib.matmul(a.t(), b)
    return a, b, lambda: lib.matmul(a, b)


def gemm_engine(engine, row):
    if engine == "jax_jit":
        import jax
        import jax.numpy as jnp

        trans, m, n, k = GEMMS[row]
        ka, kb = jax.random.split(jax.random.PRNGKey(0))
        a = jax.random.normal(ka, (k, m) if trans[0] == "T" else (m, k), jnp.float32)
        b = jax.random.normal(kb, (n, k) if trans[1] == "T" else (k, n), jnp.float32)
        f = jax.jit({"NT": lambda a, b: a @ b.T, "TN": lambda a, b: a.T @ b, "NN": lambda a, b: a @ b}[trans])
        return lambda: f(a, b).block_until_ready()
    if engine == "torch_eager":
        import torch

        _, _, product = gemm_operands(row, torch)
        return product
    import doppel

    _, b, product = gemm_operands(row, doppel)
    one = b.view(-1)[:1]

    def run():
        one.add_(0.0)  # a new version of the weight-like operand: read as a training step reads it
        return product()
    return run


def child(engine, row, threads, reps):
    name, batch, opt_kind = ROWS[row]
    if name == "gemm":
        if engine.startswith("doppel"):
            import doppel

            doppel.set_num_threads(threads)
        elif engine == "torch_eager":
            import torch

            torch.set_num_threads(threads)
            torch.set_num_interop_threads(1)
        run = gemm_engine(engine, row)
    elif engine.startswith("doppel"):
        import doppel

        doppel.set_num_threads(threads)
        run = doppel_engine(engine, name, batch, opt_kind)
    elif engine == "jax_jit":
        run = jax_engine(name, batch, opt_kind)
    else:
        import torch

        torch.set_num_threads(threads)
        torch.set_num_interop_threads(1)
        run = torch_engine(engine, name, batch, opt_kind, threads)
    losses = []

    def call():
        out = run()
        if opt_kind:
            losses.append(out)

    figures = time_calls(call, reps)
    if opt_kind and not losses[-1] < losses[0]:
        raise SystemExit(f"{engine} {row}: the loss did not go down ({losses[0]} -> {losses[-1]}): no figure")
    print(json.dumps({"engine": engine, "row": row, "threads": threads, **figures}))


def time_calls(call, reps):
    """Warms `call` up (5 calls: traces, compilation, primitive caches, optimizer state), sizes a
    repetition to ~0.1 s of calls (at least one), and returns the medians over `reps` repetitions
    of the wall and process CPU time per call (ms), with the process's peak RSS."""
    def timed(calls):
        w0, c0 = time.perf_counter(), time.process_time()
        for _ in range(calls):
            call()
        return time.perf_counter() - w0, time.process_time() - c0

    timed(5)
    one = max(timed(2)[0] / 2, 1e-7)
    calls = max(1, int(0.1 / one))
    wall, cpu = [], []
    for _ in range(reps):
        w, c = timed(calls)
        wall.append(w / calls * 1e3)
        cpu.append(c / calls * 1e3)
    return {"wall_ms": statistics.median(wall), "cpu_ms": statistics.median(cpu), "calls": calls, "reps": reps,
            "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


# --- driver side ---------------------------------------------------------------------------------------

BASE = "@base"  # suffix of a doppel engine run from --base-build-dir


def spawn(engine, row, threads, reps, build_dir, peers_venv, base_dir=None):
    env = {}
    if engine.startswith("doppel"):
        python = str(REPO / ".venv" / "bin" / "python")
        env["PYTHONPATH"] = str((base_dir if engine.endswith(BASE) else build_dir) / "python")
    else:
        python = str(peers_venv / "bin" / "python")
        if threads == 1:
            env["XLA_FLAGS"] = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
    return run_pinned(python, [__file__, "--child", engine.removesuffix(BASE), "--rows", row, "--threads", str(threads),
                               "--reps", str(reps)], threads, env, engine)


def run_pinned(python, args, threads, env, engine):
    """`python args` pinned with taskset to `threads` cores (0, or 0..threads-1) with the OpenMP/MKL/
    OpenBLAS thread counts at `threads` and `env` added (PYTHONPATH only where `env` sets it); its
    last stdout line parsed as JSON, or {"engine", "error": its last output line}."""
    full = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads),
                OPENBLAS_NUM_THREADS=str(threads))
    full.pop("PYTHONPATH", None)
    full.update(env)
    cores = "0" if threads == 1 else f"0-{threads - 1}"
    out = subprocess.run(["taskset", "-c", cores, python, *map(str, args)], env=full, capture_output=True, text=True,
                         check=False)
    if out.returncode != 0:
        lines = (out.stderr.strip() or out.stdout.strip() or "no output").splitlines()
        return {"engine": engine, "error": lines[-1][:200]}
    return json.loads(out.stdout.strip().splitlines()[-1])


def interleave(engines, rounds, errors, label, spawn_one, each_round=None):
    """spawn_one(engine) for every engine not in `errors`, A B C ... A B C ... for `rounds` rounds (a
    drift hits every engine alike), each_round() first in every round where given; a failure goes to
    errors[engine]. Returns {engine: [results]}."""
    got = {e: [] for e in engines}
    for r in range(rounds):
        if each_round:
            each_round()
        for e in engines:
            if e in errors:
                continue
            print(f"  {label} round {r + 1}/{rounds} {e}", file=sys.stderr, flush=True)
            res = spawn_one(e)
            if "error" in res:
                errors[e] = res["error"]
            else:
                got[e].append(res)
    return got


def fma_peak(build_dir, threads):
    """The FMA peak in GFLOP/s (bench/peak_fma, 3 repetitions, median), pinned as the engines are;
    None where this build has no peak_fma or the CPU no FMA."""
    exe = build_dir / "bench" / "peak_fma"
    if not exe.exists():
        return None
    cores = "0" if threads == 1 else f"0-{threads - 1}"
    out = subprocess.run(["taskset", "-c", cores, str(exe), str(threads), "3"], capture_output=True, text=True,
                         check=False)
    return json.loads(out.stdout.strip().splitlines()[-1])["median"] if out.returncode == 0 else None


def summarize(runs):
    """The medians over processes of one engine's figures, its peak RSS and the wall time's spread."""
    wall = [x["wall_ms"] for x in runs]
    return {"wall_ms": statistics.median(wall), "cpu_ms": statistics.median(x["cpu_ms"] for x in runs),
            "peak_rss_mib": max(x["peak_rss_mib"] for x in runs),
            "spread": (max(wall) - min(wall)) / statistics.median(wall), "runs": runs}


def ratio(x, best):
    return f"{x / best:.2f}" if best else "-"


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--build-dir", default="build/release")
    p.add_argument("--base-build-dir", help="also run the doppel engines from this build, as ENGINE@base")
    p.add_argument("--peers-venv", default="build/peers-venv")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--threads", default="1,2")
    p.add_argument("--rows", default=",".join(ROWS))
    p.add_argument("--engines", default=",".join(DOPPEL + PEERS))
    p.add_argument("--child")
    args = p.parse_args()
    rows = args.rows.split(",")
    if args.child:
        child(args.child, rows[0], int(args.threads), args.reps)
        return
    unknown = [r for r in rows if r not in ROWS] + [e for e in args.engines.split(",") if e not in DOPPEL + PEERS]
    if unknown:
        raise SystemExit(f"peers_bench: unknown rows/engines {unknown}; rows: {list(ROWS)}; engines: "
                         f"{list(DOPPEL + PEERS)}")
    build_dir, peers_venv = (Path(d) if Path(d).is_absolute() else REPO / d for d in (args.build_dir, args.peers_venv))
    base_dir = Path(args.base_build_dir).resolve() if args.base_build_dir else None
    results = []
    for threads in (int(t) for t in args.threads.split(",")):
        for row in rows:
            engines = [e for e in engines_of(row) if e in args.engines.split(",")]
            if base_dir:
                engines += [e + BASE for e in engines if e in DOPPEL]
            errors = {}
            load_before = os.getloadavg()[0]
            peaks = []  # the GEMM rows: the FMA peak once a round, among the engines' processes
            got = interleave(engines, args.rounds, errors, f"{row} threads={threads}",
                             lambda e: spawn(e, row, threads, args.reps, build_dir, peers_venv, base_dir),
                             (lambda: peaks.append(fma_peak(build_dir, threads))) if row in GEMMS else None)
            peaks = [x for x in peaks if x]
            summary = {e: summarize(runs) for e, runs in got.items() if runs}
            peers = {e: s for e, s in summary.items() if e in PEERS}
            best = {k: min(peers, key=lambda e: peers[e][k]) if peers else None for k in ("wall_ms", "cpu_ms")}
            results.append({"row": row, "threads": threads, "engines": summary, "errors": errors, "best_peer": best,
                            "load_before": load_before, "load_after": os.getloadavg()[0],
                            "peak_gflops": statistics.median(peaks) if peaks else None})
    print("\n| row | threads | engine | wall ms | CPU ms | / best peer (wall) | / best peer (CPU) | peak RSS MiB "
          "| spread | load before/after |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for res in results:
        best = {k: res["engines"][e][k] if e else None for k, e in res["best_peer"].items()}
        for e, s in res["engines"].items():
            mark = "".join(f" (best peer, {k[:-3]})" for k, b in res["best_peer"].items() if b == e)
            print(f"| {res['row']} | {res['threads']} | {e}{mark} | {s['wall_ms']:.3f} | {s['cpu_ms']:.3f} | "
                  f"{ratio(s['wall_ms'], best['wall_ms'])} | {ratio(s['cpu_ms'], best['cpu_ms'])} | "
                  f"{s['peak_rss_mib']:.0f} | {s['spread']:.0%}{' *' if s['spread'] > 0.1 else ''} | "
                  f"{res['load_before']:.2f}/{res['load_after']:.2f} |")
        for e, msg in res["errors"].items():
            print(f"| {res['row']} | {res['threads']} | {e} | failed: {msg} | | | | | | |")
    gemm_table(results)
    save_results("peers", args, results)


def gemm_table(results):
    """GFLOP/s (2·M·N·K over the median CPU time per call) of every engine on the GEMM rows, each
    over the FMA peak measured among that row's rounds (bench/peak_fma) where there is one, and the
    sum of each engine's times over the rows it ran."""
    gemm = [r for r in results if r["row"] in GEMMS]
    if not gemm:
        return
    print("\n| GEMM | threads | shape (MxNxK) | FMA peak GFLOP/s | "
          + " | ".join(f"{e} GFLOP/s (CPU), / peak" for e in GEMM_ENGINES) + " |")
    print("|---|---|---|---|" + "---|" * len(GEMM_ENGINES))
    totals = {}
    for res in gemm:
        trans, m, n, k = GEMMS[res["row"]]
        cells, peak = [], res.get("peak_gflops")
        for e in GEMM_ENGINES:
            s = res["engines"].get(e)
            rate = 2 * m * n * k / (s["cpu_ms"] * 1e-3) * 1e-9 if s else None
            cells.append("-" if not s else f"{rate:.1f}" + (f", {rate / peak:.2f}" if peak else ""))
            if s:
                ms, flop = totals.get((res["threads"], e), (0.0, 0.0))
                totals[(res["threads"], e)] = (ms + s["cpu_ms"], flop + 2 * m * n * k)
        print(f"| {res['row']} {trans} | {res['threads']} | {m}x{n}x{k} | {f'{peak:.1f}' if peak else '-'} | "
              + " | ".join(cells) + " |")
    for (threads, e), (ms, flop) in sorted(totals.items()):
        print(f"sum over the GEMM rows, {threads} thread(s), {e}: {ms:.3f} ms CPU, {flop / (ms * 1e-3) * 1e-9:.1f} GFLOP/s")


def save_results(kind, args, results):
    """Writes build/bench/<kind>-<time>.json (rounds, reps, results) and prints its path."""
    out = REPO / "build" / "bench" / f"{kind}-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"rounds": args.rounds, "reps": args.reps, "results": results}, indent=1))
    print(f"\nresults: {out}")


if __name__ == "__main__":
    main()
