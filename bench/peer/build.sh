#!/usr/bin/env bash
# Build the libtorch C++ peer programs into build/peer/ (needs `tools/setup.sh --bench`).
# Flags: see bench/peer/README.md. Only rebuilds what is out of date (a program is also rebuilt
# when bench/bench_util.h, which torch_bench.cpp shares with doppel_bench, is newer).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
OUT="$HERE/../../build/peer"
mkdir -p "$OUT"
TORCH_CXXFLAGS=(-std=c++17 -O2 -D_GLIBCXX_USE_CXX11_ABI=1 -I/usr/include/torch/csrc/api/include)
TORCH_LIBS=(-ltorch -ltorch_cpu -lc10 -lpthread)
for src in "$HERE"/*.cpp; do
  exe="$OUT/$(basename "${src%.cpp}")"
  if [ ! -x "$exe" ] || [ "$src" -nt "$exe" ] || [ "$HERE/../bench_util.h" -nt "$exe" ]; then
    echo "building $exe" >&2
    g++ "${TORCH_CXXFLAGS[@]}" "$src" -o "$exe" "${TORCH_LIBS[@]}"
  fi
done
