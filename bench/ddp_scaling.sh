#!/bin/sh
# Scaling of the CNN training step from 1 to 2 processes (1 thread each, per-rank batch fixed):
# runs bench/ddp_scaling_bench.cpp on 1 and 2 ranks and prints the table of bench/README.md.
#   bench/ddp_scaling.sh [build dir (default build/release)] [--batch 32] [--steps 40]
set -eu
here=$(dirname "$0")
build=${1:-build/release}
[ $# -gt 0 ] && shift
one=$("$here/../distributed/mpirun.sh" -np 1 "$build/bench/ddp_scaling_bench" "$@" | grep '^{')
two=$("$here/../distributed/mpirun.sh" -np 2 "$build/bench/ddp_scaling_bench" "$@" | grep '^{')
python3 - "$one" "$two" <<'PY'
import json, sys
one, two = json.loads(sys.argv[1]), json.loads(sys.argv[2])
print("| ranks | step ms | local step ms | all-reduce ms | buckets |")
print("|---|---|---|---|---|")
for r in (one, two):
    print(f"| {r['world']} | {r['step_ms']:.1f} | {r['local_step_ms']:.1f} | {r['allreduce_ms']:.2f} | {r['buckets']} |")
exposed = two["step_ms"] - two["local_step_ms"]
print(f"\nper-rank batch {two['batch_per_rank']}, {two['gradient_mb']:.2f} MiB of gradients per step")
print(f"scaling efficiency t1/t2 = {one['step_ms'] / two['step_ms']:.3f} "
      f"(throughput x{2 * one['step_ms'] / two['step_ms']:.2f} on 2 ranks)")
print(f"communication: {two['allreduce_ms']:.2f} ms of all-reduce, step increase over the local step "
      f"{exposed:.2f} ms: bucketing hides {100 * max(0.0, 1 - exposed / two['allreduce_ms']):.0f}%")
PY
