#!/usr/bin/env python3
"""Benchmark runner: doppel against its libtorch peer, measured in the same run.

Runs doppel_bench (doppel) and torch_bench (Debian's libtorch) as separate processes,
interleaved A B A B ... for every benchmark and thread count, takes the median of the
per-process medians, prints a table and writes everything to build/bench/results-<time>.json.
The fp32 FMA peak probe (peak_fma) runs once per thread count and gives sgemm's fraction of peak.
Training-step benchmarks (train_*) run fewer rounds and repetitions (--train-rounds, --train-reps):
a CNN step at batch 256 takes ~0.1 s, and the whole suite should stay under ~10 minutes.
Graph-mode rows (graph_*) are not in the default set (--bench graph selects them all): each
doppel process times the compiled graph and doppel's eager version of the same work, and the
table shows the graph against both doppel eager and the peer's eager; graph_mem_* rows are
doppel-only (peak allocator bytes) and run one process each.

Usually started by tools/bench.sh, which builds the three programs first. Standard library only.
    bench/run.py [--rounds 5] [--threads 1,2] [--bench add_8,sgemm_1024] [--reps 7]
                 [--train-rounds 3] [--train-reps 5]
"""
import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
OP_BENCHES = ["add_8", "matmul_8x8", "sgemm_256", "sgemm_1024", "sgemm_2048"]
TRAIN_BENCHES = [f"train_{m}_{b}_{o}" for m in ("mlp", "cnn") for b in (64, 256) for o in ("sgd", "adam")]
GRAPH_TRAIN_BENCHES = ["graph_" + b for b in TRAIN_BENCHES]
GRAPH_INFER_BENCHES = [f"graph_infer_{m}_{b}" for m in ("mlp", "cnn") for b in (64, 256)]
GRAPH_MEM_BENCHES = ["graph_mem_mlp_64_adam", "graph_mem_cnn_64_adam"]
GRAPH_BENCHES = GRAPH_TRAIN_BENCHES + GRAPH_INFER_BENCHES + ["graph_chain_200"] + GRAPH_MEM_BENCHES
BENCHES = OP_BENCHES + TRAIN_BENCHES
ALL_BENCHES = BENCHES + GRAPH_BENCHES
IMPLS = ["doppel", "libtorch"]
CHILD_TIMEOUT_S = 600
# Above this round-to-round spread a row is flagged: a quiet machine stays well within it.
NOISY_SPREAD_PCT = 10


def is_graph(bench):
    return bench.startswith("graph_")


def is_memory(bench):
    return bench.startswith("graph_mem_") or bench.startswith("graph_rss_")


def impls_of(bench):
    """graph_mem_* and graph_rss_* measure doppel's memory: there is no peer figure."""
    return ["doppel"] if is_memory(bench) else IMPLS


def is_train(bench):
    """Figures per model step (ms/step): training steps, graph-mode training and inference."""
    return bench.startswith("train_") or bench.startswith("graph_train_") or bench.startswith("graph_infer_")


def is_overhead(bench):
    return not bench.startswith("sgemm_") and not is_train(bench) and not is_memory(bench)


def is_time(bench):
    """Figures that are times (lower is better), as opposed to sgemm's GFLOP/s."""
    return not bench.startswith("sgemm_")


def unit_of(bench):
    if is_memory(bench):
        return "MiB"
    return "ms/step" if is_train(bench) else "ns/op" if is_overhead(bench) else "GFLOP/s"


def batch_of(bench):
    return int(bench.removeprefix("graph_").split("_")[2])


class Progress:
    """One status line (rewritten in place on a terminal): bench, round k/n, elapsed, ETA.

    The ETA sums, over the jobs still to run, the last duration seen for the same
    (bench, threads, impl), or the mean duration so far for kinds not yet seen."""

    def __init__(self, jobs):
        self.jobs = jobs
        self.t0 = time.monotonic()
        self.seen = {}
        self.tty = sys.stderr.isatty()
        self.width = 0

    def done(self, job, seconds):
        self.seen[job[:3]] = seconds

    def show(self, index, text):
        elapsed = time.monotonic() - self.t0
        if self.seen:
            mean = statistics.fmean(self.seen.values())
            eta = sum(self.seen.get(j[:3], mean) for j in self.jobs[index:])
            eta_s = f"{eta:4.0f}s"
        else:
            eta_s = "   ?"
        line = f"[{index + 1}/{len(self.jobs)}] {text} | elapsed {elapsed:4.0f}s | ETA {eta_s}"
        if self.tty:
            sys.stderr.write("\r" + line.ljust(self.width))
            self.width = len(line)
        else:
            sys.stderr.write(line + "\n")
        sys.stderr.flush()

    def finish(self):
        if self.tty and self.width:
            sys.stderr.write("\r" + " " * self.width + "\r")
            sys.stderr.flush()


def child_env(threads):
    env = dict(os.environ)
    # Both sides run on OpenMP pools (oneDNN's GNU OpenMP build for doppel, libtorch's
    # intra-op pool and OpenBLAS's OpenMP build for the peer); the programs also call
    # set_num_threads with the same number.
    env["OMP_NUM_THREADS"] = str(threads)
    env["OPENBLAS_NUM_THREADS"] = str(threads)
    return env


def run_child(cmd, threads):
    """Runs one benchmark process; returns its JSON records, or raises RuntimeError."""
    try:
        p = subprocess.run(cmd, env=child_env(threads), capture_output=True, text=True, timeout=CHILD_TIMEOUT_S)
    except subprocess.TimeoutExpired as e:
        raise RuntimeError(f"{' '.join(cmd)}: no result after {CHILD_TIMEOUT_S} s") from e
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited with {p.returncode}:\n{p.stderr.strip()}")
    records = [json.loads(line) for line in p.stdout.splitlines() if line.startswith("{")]
    if not records:
        raise RuntimeError(f"{' '.join(cmd)} printed no result:\n{p.stdout}{p.stderr}")
    return records


def machine_info():
    info = {"platform": platform.platform(), "cpus": os.cpu_count()}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        info["git_rev"] = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
                                         capture_output=True, text=True).stdout.strip()
    except OSError:
        pass
    return info


def loadavg():
    try:
        return float(Path("/proc/loadavg").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def fmt_value(bench, v):
    if v is None:
        return "-"
    if is_memory(bench):
        return f"{v:.1f} MiB"
    if is_train(bench):
        return f"{v:.2f} ms"
    return f"{v:.0f} ns" if is_overhead(bench) else f"{v:.1f} GF/s"


def spread(values):
    """(max - min) / median of the per-process medians, in percent."""
    if len(values) < 2:
        return None
    return (max(values) - min(values)) / statistics.median(values) * 100


def spread_cell(r):
    sd, st = r["doppel"]["spread_pct"], r["libtorch"]["spread_pct"]
    return (("-" if sd is None else f"{sd:.0f}%") + "/" + ("-" if st is None else f"{st:.0f}%")
            + (" *" if max(sd or 0, st or 0) > NOISY_SPREAD_PCT else ""))


def format_columns(head, lines):
    widths = [max(len(x) for x in col) for col in zip(head, *lines)]
    out = ["  ".join(h.ljust(w) if i == 0 else h.rjust(w) for i, (h, w) in enumerate(zip(head, widths)))]
    out.append("  ".join("-" * w for w in widths))
    for ln in lines:
        out.append("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(ln, widths))))
    return "\n".join(out)


def print_train_table(rows):
    """Training steps: ms/step on each side, the ratio, and samples/s."""
    head = ["training step", "threads", "doppel", "libtorch", "ratio", "doppel samp/s", "libtorch samp/s",
            "spread d/t"]
    lines = []
    for r in rows:
        d, t = r["doppel"]["median"], r["libtorch"]["median"]
        lines.append([r["bench"], str(r["threads"]), fmt_value(r["bench"], d), fmt_value(r["bench"], t),
                      f"{r['ratio']:.2f}", f"{r['doppel_samples_per_s']:.0f}", f"{r['libtorch_samples_per_s']:.0f}",
                      spread_cell(r)])
    print(format_columns(head, lines))
    wins = sum(1 for r in rows if r["ratio"] <= 1.0)
    print(f"ratio: doppel ms/step / libtorch ms/step (below 1: doppel is faster); doppel is at least as fast "
          f"on {wins} of {len(rows)} rows. samp/s: batch / median step time.")
    if any(ln[-1].endswith("*") for ln in lines):
        print(f"*: spread above {NOISY_SPREAD_PCT}%: other load disturbed some rounds; "
              "rerun on a quiet machine before trusting that row.")


def print_graph_table(rows):
    """Graph mode: the compiled figure against doppel eager (same process) and the peer's eager."""
    head = ["graph mode", "threads", "graph", "doppel eager", "libtorch", "graph/eager", "graph/libtorch",
            "steps", "spread g/t"]
    lines = []
    for r in rows:
        b = r["bench"]
        g, e = r["doppel"]["median"], r["doppel_eager_median"]
        t = r["libtorch"]["median"] if "libtorch" in r else None
        lines.append([b, str(r["threads"]), fmt_value(b, g), fmt_value(b, e), fmt_value(b, t),
                      f"{g / e:.2f}", "-" if t is None else f"{g / t:.2f}", str(r.get("steps", "-")),
                      spread_cell(r) if "libtorch" in r else "-"])
    print(format_columns(head, lines))
    print("graph/eager: doppel graph / doppel eager, measured in the same process; graph/libtorch: doppel graph / "
          "the peer's eager (below 1: the graph is faster or smaller). steps: kernel calls per graph run.")
    print("graph_chain_200: ns per kernel step of Executor::run_into (graph) against ns per eager op (doppel, "
          "libtorch) on 200 chained adds of float32 [8]; graph_mem_*: peak allocator MiB during one training "
          "step from an empty process state (model, optimizer state, arena, temporaries).")
    for r in rows:
        if is_memory(r["bench"]):
            x = r["memory"]
            print(f"  {r['bench']}: transient (above the bytes in use at the step's start) graph "
                  f"{x['graph_transient_mib']:.2f} MiB, eager {x['eager_transient_mib']:.2f} MiB; "
                  f"arena {x['arena_mib']:.2f} MiB (unshared {x['unshared_mib']:.2f} MiB)")
    if any(ln[-1].endswith("*") for ln in lines):
        print(f"*: spread above {NOISY_SPREAD_PCT}%: other load disturbed some rounds; "
              "rerun on a quiet machine before trusting that row.")


def print_table(rows, peaks):
    graph_rows = [r for r in rows if is_graph(r["bench"])]
    rows = [r for r in rows if not is_graph(r["bench"])]
    train_rows = [r for r in rows if is_train(r["bench"])]
    rows = [r for r in rows if not is_train(r["bench"])]
    if rows:
        print_op_table(rows, peaks)
    if train_rows:
        if rows:
            print()
        print_train_table(train_rows)
    if graph_rows:
        if rows or train_rows:
            print()
        print_graph_table(graph_rows)


def print_op_table(rows, peaks):
    head = ["benchmark", "threads", "doppel", "libtorch", "ratio", "of peak", "spread d/t"]
    lines = []
    for r in rows:
        d, t = r["doppel"]["median"], r["libtorch"]["median"]
        frac = r.get("doppel_fraction_of_peak")
        lines.append([
            r["bench"], str(r["threads"]), fmt_value(r["bench"], d), fmt_value(r["bench"], t),
            "-" if r["ratio"] is None else f"{r['ratio']:.2f}",
            "-" if frac is None else f"{frac * 100:.0f}%",
            spread_cell(r),
        ])
    print(format_columns(head, lines))
    print("ratio: add/matmul_8x8 = doppel ns / libtorch ns (below 1: doppel is faster); "
          "sgemm = doppel GFLOP/s / libtorch GFLOP/s (above 1: doppel is faster).")
    print("of peak: doppel's sgemm GFLOP/s / fp32 FMA peak at that thread count; spread: (max-min)/median "
          "of the per-process medians, doppel/libtorch.")
    if any(ln[-1].endswith("*") for ln in lines):
        print(f"*: spread above {NOISY_SPREAD_PCT}%: other load disturbed some rounds; "
              "rerun on a quiet machine before trusting that row.")
    for r in rows:
        if "doppel_profiler_on_median" in r:
            print(f"add_8, {r['threads']} thread(s): {r['doppel_profiler_on_median']:.0f} ns/op while a doppel profile "
                  f"records every call (the row's figure: the profiler compiled in and off)")
    for t, p in sorted(peaks.items()):
        print(f"fp32 peak, {t} thread(s): {p['gflops']:.1f} GFLOP/s ({p['isa']}, best of {p['reps']})")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--doppel-bin", default=str(REPO / "build/release/bench/doppel_bench"))
    ap.add_argument("--peak-bin", default=None, help="default: peak_fma next to doppel_bench")
    ap.add_argument("--peer-bin", default=str(REPO / "build/peer/torch_bench"))
    ap.add_argument("--threads", default="1,2", help="comma-separated thread counts (default 1,2)")
    ap.add_argument("--bench", default=",".join(BENCHES),
                    help="comma-separated subset of " + ",".join(ALL_BENCHES) + "; 'graph' adds every graph_* row")
    ap.add_argument("--rounds", type=int, default=5, help="processes per side, interleaved (default 5)")
    ap.add_argument("--reps", type=int, default=7, help="timed repetitions inside each process (default 7)")
    ap.add_argument("--train-rounds", type=int, default=3,
                    help="processes per side for the train_* benchmarks (default 3)")
    ap.add_argument("--train-reps", type=int, default=5,
                    help="timed repetitions inside each train_* process (default 5)")
    ap.add_argument("--out-dir", default=str(REPO / "build/bench"))
    args = ap.parse_args()

    threads = [int(x) for x in args.threads.split(",") if x]
    benches = []
    for b in args.bench.split(","):
        benches += GRAPH_BENCHES if b == "graph" else [b] if b else []
    for b in benches:
        if b not in ALL_BENCHES:
            ap.error(f"unknown benchmark {b!r}; choose from {', '.join(ALL_BENCHES)} or graph")
    if min(args.rounds, args.reps, args.train_rounds, args.train_reps) < 1 or not threads or min(threads) < 1:
        ap.error("--rounds, --reps, --train-rounds, --train-reps and every thread count must be >= 1")
    peak_bin = args.peak_bin or str(Path(args.doppel_bin).parent / "peak_fma")
    bins = {"doppel": args.doppel_bin, "libtorch": args.peer_bin}
    for what, path in [*bins.items(), ("peak", peak_bin)]:
        if not os.access(path, os.X_OK):
            sys.exit(f"run.py: {what} program {path} is missing; build it with tools/bench.sh")

    load_start = loadavg()
    if load_start is not None and load_start > 0.5:
        print(f"run.py: warning: load average is {load_start:.2f} before the run; other work on this machine "
              "will make the figures noisy", file=sys.stderr)

    # Job order: per thread count, per benchmark, rounds of doppel then libtorch (A B A B ...),
    # so that slow drifts (clock, other load) hit both sides alike.
    def rounds_of(b):
        # A memory figure is deterministic: one process.
        return 1 if is_memory(b) else args.train_rounds if is_train(b) else args.rounds

    def reps_of(b):
        return args.train_reps if is_train(b) else args.reps

    jobs = [(b, t, impl, k) for t in threads for b in benches for k in range(rounds_of(b)) for impl in impls_of(b)]
    progress = Progress(jobs)
    raw = []
    peaks = {}
    failures = {}
    started = datetime.datetime.now()
    for t in threads:
        sys.stderr.write(f"measuring the fp32 FMA peak on {t} thread(s)...\n")
        recs = run_child([peak_bin, str(t), str(max(args.reps, 5))], t)
        # The peak is a ceiling: the best repetition is the one least disturbed by other load.
        best = max(recs, key=lambda r: r["max"])
        peaks[t] = {"gflops": best["max"], "isa": best["isa"], "reps": best["reps"], "records": recs}
    for i, job in enumerate(jobs):
        b, t, impl, k = job
        if (b, t) in failures:
            continue
        progress.show(i, f"{b} t={t} {impl} round {k + 1}/{rounds_of(b)}")
        t0 = time.monotonic()
        try:
            recs = run_child([bins[impl], b, str(t), str(reps_of(b))], t)
        except RuntimeError as e:
            failures[(b, t)] = str(e)
            progress.finish()
            print(f"run.py: {b} on {t} thread(s) failed: {e}", file=sys.stderr)
            continue
        progress.done(job, time.monotonic() - t0)
        for r in recs:
            r["round"] = k + 1
            raw.append(r)
    progress.finish()

    rows = []
    for t in threads:
        for b in benches:
            if (b, t) in failures:
                continue
            row = {"bench": b, "threads": t, "unit": unit_of(b)}
            for impl in impls_of(b):
                meds = [r["median"] for r in raw if r["impl"] == impl and r["bench"] == b and r["threads"] == t]
                row[impl] = {"median": statistics.median(meds), "per_process_medians": meds,
                             "spread_pct": spread(meds),
                             "threads_actual": sorted({r["threads_actual"] for r in raw
                                                       if r["impl"] == impl and r["bench"] == b and r["threads"] == t})}
            if is_graph(b):
                recs = [r for r in raw if r["impl"] == "doppel" and r["bench"] == b and r["threads"] == t]
                row["doppel_eager_median"] = statistics.median(r["eager_median"] for r in recs)
                row["ratio_vs_doppel_eager"] = row["doppel"]["median"] / row["doppel_eager_median"]
                if "steps" in recs[0]:
                    row["steps"] = recs[0]["steps"]
                if is_memory(b):
                    row["memory"] = {k: recs[0][k] for k in ("graph_transient_mib", "eager_transient_mib",
                                                             "arena_mib", "unshared_mib")}
                    row["ratio"] = None
                    rows.append(row)
                    continue
            if b == "add_8":  # the same calls with a profile recording, in the same processes
                row["doppel_profiler_on_median"] = statistics.median(
                    r["profiler_on_median"] for r in raw if r["impl"] == "doppel" and r["bench"] == b and r["threads"] == t)
            d, p = row["doppel"]["median"], row["libtorch"]["median"]
            # Always "how doppel compares": time ratio for overhead and training steps, throughput
            # ratio for sgemm.
            row["ratio"] = d / p
            row["ratio_meaning"] = (f"doppel {unit_of(b)} / libtorch {unit_of(b)} (lower is better)" if is_time(b)
                                    else "doppel GFLOP/s / libtorch GFLOP/s (higher is better)")
            if is_train(b):
                row["batch"] = batch_of(b)
                row["doppel_samples_per_s"] = batch_of(b) / (d / 1e3)
                row["libtorch_samples_per_s"] = batch_of(b) / (p / 1e3)
            elif not is_overhead(b):
                row["doppel_fraction_of_peak"] = d / peaks[t]["gflops"]
                row["libtorch_fraction_of_peak"] = p / peaks[t]["gflops"]
            rows.append(row)

    print()
    print_table(rows, peaks)
    load_end = loadavg()
    out_dir = Path(args.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"results-{started.strftime('%Y%m%d-%H%M%S')}.json"
    doc = {
        "started": started.isoformat(timespec="seconds"),
        "seconds": round(time.monotonic() - progress.t0, 1),
        "machine": machine_info(),
        "load_average": {"start": load_start, "end": load_end},
        "config": {"threads": threads, "benches": benches, "rounds": args.rounds, "reps": args.reps,
                   "train_rounds": args.train_rounds, "train_reps": args.train_reps,
                   "programs": {**bins, "peak": peak_bin}},
        "peak_fma": {str(t): p for t, p in peaks.items()},
        "results": rows,
        "failures": [{"bench": b, "threads": t, "error": e} for (b, t), e in failures.items()],
        "raw": raw,
    }
    path.write_text(json.dumps(doc, indent=1) + "\n")
    print(f"results: {path}")
    if failures:
        sys.exit(f"run.py: {len(failures)} benchmark(s) failed (see above and the JSON)")


if __name__ == "__main__":
    main()
