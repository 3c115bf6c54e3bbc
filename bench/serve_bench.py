#!/usr/bin/env python3
"""Serving throughput of doppel-serve over loopback, against doppel-run --bench as the ceiling.

An MLP (default 784 -> 2048 -> 2048 -> 10, `doppel-make-test-model --layers`) is exported and
served; C concurrent keep-alive clients (C in --clients, default 1, 8, 64) each send one-row
:predict requests back to back for --seconds. For batching off and on (--enable-batching
--max-batch-size B --batch-timeout-micros U) it prints requests/s (one row each, so samples/s),
p50/p99 latency and errors, next to the in-process throughput of the same model from
`doppel-run --bench` (samples/s, the best of 1 caller and one caller per CPU): at batch 1 for
batching off, at batch B for batching on. The fraction is server samples/s / that ceiling.

The load generator is this process (asyncio, standard library only), on the same machine as
the server: on a 2-core machine it takes CPU from the server, so the fractions are a lower bound.

    python3 bench/serve_bench.py [--build-dir build/release] [--layers 784,2048,2048,10]
        [--clients 1,8,64] [--seconds 5] [--max-batch-size 64] [--batch-timeout-micros 2000]
        [--num-batch-threads N (CPUs)] [--omp-threads N]

--num-batch-threads defaults to the number of CPUs, like the ceiling's callers.
--omp-threads sets OMP_NUM_THREADS for the server and doppel-run alike (on a busy shared
machine, OpenMP teams that spin at barriers can slow both down by several times).
"""
import argparse
import asyncio
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def ceiling(run_bin, model, batch, iterations):
    """samples/s of doppel-run --bench at `batch`: the best of 1 caller and one per CPU."""
    best = 0.0
    for callers in sorted({1, os.cpu_count() or 1}):
        r = subprocess.run([run_bin, model, "--bench", "--batch", str(batch), "--iterations", str(iterations),
                            "--warmup", "20", "--threads", str(callers)], capture_output=True, text=True, timeout=600)
        if r.returncode != 0:
            sys.exit(f"doppel-run --bench failed: {r.stderr}")
        best = max(best, float(re.search(r"throughput: ([0-9.]+) samples/s", r.stdout).group(1)))
    return best


def start_server(serve_bin, model, extra):
    proc = subprocess.Popen([serve_bin, model, "--port", "0", *extra], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)
    while True:
        line = proc.stdout.readline()
        if not line:
            sys.exit("doppel-serve did not start")
        if "serving model" in line:
            return proc, int(line.split("http://", 1)[1].split("/", 1)[0].rsplit(":", 1)[1])


async def client(port, body, seconds, latencies, errors):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    request = (f"POST /v1/models/mlp:predict HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\n"
               f"Content-Length: {len(body)}\r\n\r\n").encode() + body
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        t0 = time.perf_counter()
        writer.write(request)
        head = await reader.readuntil(b"\r\n\r\n")
        length = int(re.search(rb"(?i)content-length: *(\d+)", head).group(1))
        await reader.readexactly(length)
        latencies.append(time.perf_counter() - t0)
        if not head.startswith(b"HTTP/1.1 200"):
            errors.append(head.split(b"\r\n", 1)[0])
    writer.close()


async def load(port, bodies, clients, seconds):
    latencies, errors = [], []
    t0 = time.perf_counter()
    await asyncio.gather(*(client(port, bodies[k % len(bodies)], seconds, latencies, errors) for k in range(clients)))
    elapsed = time.perf_counter() - t0
    latencies.sort()
    return {"rps": len(latencies) / elapsed, "p50": latencies[len(latencies) // 2] * 1e3,
            "p99": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1e3, "errors": len(errors)}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build-dir", default=str(REPO / "build/release"))
    ap.add_argument("--layers", default="784,2048,2048,10")
    ap.add_argument("--clients", default="1,8,64")
    ap.add_argument("--seconds", type=float, default=5)
    ap.add_argument("--max-batch-size", type=int, default=64)
    ap.add_argument("--batch-timeout-micros", type=int, default=2000)
    ap.add_argument("--num-batch-threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--omp-threads", type=int)
    args = ap.parse_args()
    if args.omp_threads:
        os.environ["OMP_NUM_THREADS"] = str(args.omp_threads)  # inherited by every child process
    serve_dir = Path(args.build_dir) / "serve"
    clients = [int(c) for c in args.clients.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        r = subprocess.run([str(serve_dir / "doppel-make-test-model"), tmp, "--layers", args.layers],
                           capture_output=True, text=True)
        if r.returncode != 0:
            sys.exit(f"doppel-make-test-model failed: {r.stderr}")
        model = str(Path(tmp) / "mlp.dpl")
        width = int(args.layers.split(",")[0])
        rng = random.Random(0)
        bodies = [json.dumps({"instances": [[round(rng.gauss(0, 1), 6) for _ in range(width)]]}).encode()
                  for _ in range(16)]
        run_bin = str(serve_dir / "doppel-run")
        ceil1 = ceiling(run_bin, model, 1, 500)
        ceil_b = ceiling(run_bin, model, args.max_batch_size, max(50, 20000 // args.max_batch_size))
        print(f"model: MLP {args.layers.replace(',', ' -> ')}, one row per request; {args.seconds:g} s per row")
        print(f"ceiling (doppel-run --bench, best of 1 and {os.cpu_count()} callers): batch 1: {ceil1:.0f} "
              f"samples/s; "
              f"batch {args.max_batch_size}: {ceil_b:.0f} samples/s\n")
        print(f"{'batching':<10}{'clients':>8}{'req/s':>10}{'p50 ms':>9}{'p99 ms':>9}{'errors':>8}"
              f"{'ceiling':>10}{'fraction':>10}")
        for batching in (False, True):
            extra = []
            if batching:
                extra = ["--enable-batching", "--max-batch-size", str(args.max_batch_size), "--batch-timeout-micros",
                         str(args.batch_timeout_micros), "--num-batch-threads", str(args.num_batch_threads)]
            proc, port = start_server(str(serve_dir / "doppel-serve"), model, extra)
            try:
                asyncio.run(load(port, bodies, 4, 1.0))  # warm-up
                for c in clients:
                    res = asyncio.run(load(port, bodies, c, args.seconds))
                    ceil = ceil_b if batching else ceil1
                    print(f"{'on' if batching else 'off':<10}{c:>8}{res['rps']:>10.0f}{res['p50']:>9.2f}"
                          f"{res['p99']:>9.2f}{res['errors']:>8}{ceil:>10.0f}{res['rps'] / ceil:>10.2f}",
                          flush=True)
            finally:
                proc.terminate()
                proc.wait(timeout=30)


if __name__ == "__main__":
    main()
