#!/usr/bin/env bash
# The GPU suite in one command: build the release preset (it compiles the CUDA backend wherever
# the CUDA toolkit is found), run every [gpu] test case on cuda:0, then bench/gpu_bench.py
# (doppel against PyTorch CUDA) when PyTorch is importable.
#   tools/test_gpu.sh [--build-dir DIR] [--tags "[op_spec]"] [--no-bench]
# --build-dir: build and use an already configured build directory instead of the release preset.
# --tags: more Catch2 tags that the [gpu] cases must also have ("[gpu][op_spec]").
# On a machine without a CUDA device every [gpu] case SKIPs with the reason and the script says
# so and exits 0. Exits non-zero when the build or a GPU test fails.
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO"

build_dir=""
bench=1
tags=""
while [ $# -gt 0 ]; do
  case "$1" in
    --build-dir) build_dir=$2; shift 2 ;;
    --tags) tags=$2; shift 2 ;;
    --no-bench) bench=0; shift ;;
    *) echo "test_gpu.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done

if [ -z "$build_dir" ]; then
  tools/build.sh release
  build_dir=build/release
else
  targets=(--target doppel_tests)
  # doppel_gpu_bench exists in builds with the CUDA backend and the benchmarks.
  if [ "$bench" = 1 ] && cmake --build "$build_dir" --target help | grep -q '^doppel_gpu_bench:'; then
    targets+=(--target doppel_gpu_bench)
  fi
  cmake --build "$build_dir" "${targets[@]}"
fi

# Catch2 exits 4 when every selected test case was skipped: no GPU here.
status=0
rc=0
"$build_dir/tests/doppel_tests" "[gpu]$tags" || rc=$?
if [ "$rc" -eq 4 ]; then
  echo "test_gpu.sh: no usable CUDA device here: every [gpu] test was skipped (not run, not passed)"
  exit 0
elif [ "$rc" -ne 0 ]; then
  status=1
fi

if [ "$bench" = 1 ]; then
  py=python3
  if [ -x .venv/bin/python ] && .venv/bin/python -c 'import torch' 2> /dev/null; then py=.venv/bin/python; fi
  if "$py" -c 'import torch' 2> /dev/null; then
    "$py" bench/gpu_bench.py --build-dir "$build_dir" || status=1
  else
    echo "test_gpu.sh: PyTorch is not importable: bench/gpu_bench.py skipped"
  fi
fi

if [ "$status" -ne 0 ]; then echo "test_gpu.sh: FAILED" >&2; fi
exit "$status"
