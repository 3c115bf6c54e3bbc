#!/usr/bin/env bash
# Run the benchmarks: doppel against its libtorch peer, measured in the same run.
#   tools/bench.sh [--build-dir DIR] [bench/run.py arguments, e.g. --rounds 3 --bench sgemm_1024]
#   tools/bench.sh --peers [bench/peers_bench.py arguments, e.g. --rounds 1 --rows cnn_infer_1]
#   tools/bench.sh --quant [bench/quant_bench.py arguments, e.g. --rounds 1 --rows cnn_64]
#   tools/bench.sh --lean   (the lean runtime build's sizes, bench/lean_runtime.sh)
# --peers: doppel from Python against PyPI PyTorch (eager, torch.compile, jit.freeze), JAX and
# onnxruntime instead (bench/peers_bench.py); creates build/peers-venv with them on first use.
# --quant: float32 vs bf16 vs int8 in the doppel runtime and onnxruntime's own int8 (bench/quant_bench.py).
# Installs and checks the peer (tools/setup.sh --bench), builds doppel_bench and peak_fma with
# the release preset (build/release) and the libtorch peer (bench/peer/build.sh -> build/peer),
# then runs bench/run.py, which prints a table and writes build/bench/results-<time>.json.
# --build-dir DIR builds the two doppel programs in an already configured build directory
# (configured with -DDOPPEL_BUILD_BENCH=ON) instead of build/release.
# See bench/README.md for what is measured and how to read it.
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO"
BUILD_DIR=""
if [ "${1:-}" = "--build-dir" ]; then
  [ $# -ge 2 ] || { echo "bench.sh: --build-dir needs a directory" >&2; exit 2; }
  BUILD_DIR=$2
  shift 2
fi
case "${1:-}" in -h | --help) sed -n '2,15p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;; esac

[ "${1:-}" = "--lean" ] && exec bench/lean_runtime.sh

# The Python extension the Python benches import: the release preset's, or --build-dir's.
build_python_module() {
  if [ -z "$BUILD_DIR" ]; then
    tools/build.sh release --target _C
    BUILD_DIR=build/release
  else
    CCACHE_DIR="${CCACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/doppel-ccache}" cmake --build "$BUILD_DIR" --target _C
  fi
}

if [ "${1:-}" = "--quant" ]; then
  shift
  build_python_module
  exec .venv/bin/python bench/quant_bench.py --build-dir "$BUILD_DIR" "$@"
fi

if [ "${1:-}" = "--peers" ]; then
  shift
  build_python_module
  PEERS_VENV=build/peers-venv
  if ! "$PEERS_VENV/bin/python" -c "import torch, jax, onnxruntime, onnx" 2>/dev/null; then
    # A venv of its own: PyPI's torch (with its CUDA libraries, ~6 GB) must not enter .venv.
    /usr/bin/python3 -m venv "$PEERS_VENV"
    "$PEERS_VENV/bin/pip" install --quiet torch "jax[cpu]" onnxruntime onnx numpy
  fi
  exec .venv/bin/python bench/peers_bench.py --build-dir "$BUILD_DIR" --peers-venv "$PEERS_VENV" "$@"
fi

tools/setup.sh --bench
if [ -z "$BUILD_DIR" ]; then
  # Only the benchmark programs (and what they link): the test suite is not needed here.
  tools/build.sh release --target doppel_bench peak_fma
  BUILD_DIR=build/release
else
  CCACHE_DIR="${CCACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/doppel-ccache}" cmake --build "$BUILD_DIR" --target doppel_bench peak_fma
fi
bench/peer/build.sh
# Debian's python: run.py needs only the standard library.
exec /usr/bin/python3 bench/run.py --doppel-bin "$BUILD_DIR/bench/doppel_bench" --peer-bin build/peer/torch_bench "$@"
