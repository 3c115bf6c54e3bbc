#!/usr/bin/env bash
# The lean runtime build (cmake option DOPPEL_LEAN_RUNTIME, preset runtime-lean; serve/README.md
# "Lean runtime build"): builds doppel-run and doppel-serve in build/runtime-lean (ccache), runs
# doppel-run on fuzz/corpus_model/cnn.dpl (conv + relu + pool + flatten) with seeded inputs, and
# prints the sizes that ship: each stripped program and the oneDNN library it loads, and what
# the programs link dynamically. Run by `tools/bench.sh --lean` (not CI: the first build compiles
# core, kernels and the runtime with the lean flags, ~150 files).
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO"
export CCACHE_DIR="${CCACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/doppel-ccache}" CCACHE_BASEDIR="$REPO" CCACHE_NOHASHDIR=true
cmake --preset runtime-lean > /dev/null
cmake --build --preset runtime-lean
BIN=build/runtime-lean/serve
"$BIN/doppel-run" fuzz/corpus_model/cnn.dpl --bench --batch 8 --iterations 20 --warmup 2
dnnl=$(ldd "$BIN/doppel-run" | awk '/libdnnl/ {print $3}')
dnnl=$(readlink -f "$dnnl")
echo
echo "| file | bytes | MB |"
echo "|---|---|---|"
for f in "$BIN/doppel-run" "$BIN/doppel-serve" "$dnnl"; do
  b=$(stat -c %s "$f")
  echo "| $(basename "$f") | $b | $(awk -v b="$b" 'BEGIN {printf "%.1f", b / 1e6}') |"
done
echo
echo "doppel-run links dynamically:"
ldd "$BIN/doppel-run" | awk '{print "  " $1}'
