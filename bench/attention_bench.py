#!/usr/bin/env python3
"""Fused scaled_dot_product_attention against the same attention composed of doppel ops
(matmul, scale, causal mask, softmax, matmul), in one process on the same inputs, at GPT-2-small
shapes: B=1, H=12, E=64, L=S=128 and 512 (prefill, causal) and L=1, S=512 (one decode step over
a cache), forward; and forward + backward (a training step's attention) at L=S=128 and 512.
float32, 1 thread by default; prints the fastest of --reps runs of each in microseconds (the
minimum: robust to a shared machine's preemptions) and composite / fused (above 1: the fused op
is faster).

    PYTHONPATH=build/release/python .venv/bin/python bench/attention_bench.py [--threads 1] [--reps 50]
"""
import argparse
import time

import doppel

SHAPES = [("prefill L=S=128", 128, 128, True), ("prefill L=S=512", 512, 512, True), ("decode L=1 S=512", 1, 512, False)]


def composite(q, k, v, mask):
    s = doppel.matmul(q, k.transpose(-1, -2)) * (1.0 / 8.0)
    if mask is not None:
        s = s.masked_fill(mask, float("-inf"))
    return doppel.matmul(doppel.softmax(s, -1), v)


def best_us(fn, reps):
    fn()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times) * 1e6


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--reps", type=int, default=50)
    args = ap.parse_args()
    doppel.set_num_threads(args.threads)
    doppel.manual_seed(0)
    print(f"{'shape':<20} {'fused us':>10} {'composite us':>14} {'composite/fused':>16}")
    with doppel.no_grad():
        for name, L, S, causal in SHAPES:
            # [B, L, H, E].transpose(1, 2): the heads layout a Hugging Face model hands over.
            q = doppel.randn(1, L, 12, 64).transpose(1, 2)
            k = doppel.randn(1, S, 12, 64).transpose(1, 2)
            v = doppel.randn(1, S, 12, 64).transpose(1, 2)
            mask = doppel.arange(0, S).unsqueeze(0) > doppel.arange(0, L).unsqueeze(1) if causal else None
            fused = best_us(lambda: doppel.scaled_dot_product_attention(q, k, v, is_causal=causal), args.reps)
            comp = best_us(lambda: composite(q, k, v, mask), args.reps)
            print(f"{name:<20} {fused:>10.1f} {comp:>14.1f} {comp / fused:>16.2f}")
    for L in (128, 512):
        q, k, v = (doppel.randn(1, L, 12, 64).transpose(1, 2).detach().requires_grad_(True) for _ in range(3))
        mask = doppel.arange(0, L).unsqueeze(0) > doppel.arange(0, L).unsqueeze(1)
        g = doppel.randn(1, 12, L, 64)

        def step(fn):
            return lambda: fn().backward(g)

        fused = best_us(step(lambda: doppel.scaled_dot_product_attention(q, k, v, is_causal=True)), args.reps)
        comp = best_us(step(lambda: composite(q, k, v, mask)), args.reps)
        print(f"{f'train L=S={L}':<20} {fused:>10.1f} {comp:>14.1f} {comp / fused:>16.2f}")


if __name__ == "__main__":
    main()
