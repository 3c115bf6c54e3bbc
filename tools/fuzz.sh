#!/usr/bin/env bash
# Build the libFuzzer targets in fuzz/ with clang (ASan + UBSan) into build/fuzz and fuzz the
# safetensors reader and the model file loader for a while each, starting from the seed corpora
# fuzz/corpus/ and fuzz/corpus_model/.
#
#   tools/fuzz.sh [--seconds N]   fuzz each target for N seconds (default 30)
#   tools/fuzz.sh --total N       build + fuzz in about N seconds all told (tools/test.sh: 75):
#                                 the targets share what the build left (at least 5 s each)
#
# New interesting inputs accumulate in build/fuzz/corpus* (not in the repository). On a crash
# the input is saved under build/fuzz/artifacts/ and the script fails: add the file to
# fuzz/regressions/ or fuzz/regressions_model/ (replayed by the C++ test suite) and fix the reader.
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO"
SECS=30
TOTAL=
START=$(date +%s)
while [ $# -gt 0 ]; do
  case $1 in
    --seconds) SECS=$2; shift 2 ;;
    --total) TOTAL=$2; shift 2 ;;
    -h | --help) sed -n '2,12p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "fuzz.sh: unknown argument '$1' (try --help)" >&2; exit 2 ;;
  esac
done

# clang 16: clang 14 (Debian's default) cannot compile std::source_location, which core uses.
CXX_FUZZ=${DOPPEL_FUZZ_CXX:-clang++-16}
command -v "$CXX_FUZZ" > /dev/null || { echo "fuzz.sh: $CXX_FUZZ not found; run tools/setup.sh" >&2; exit 1; }
export CCACHE_DIR=${CCACHE_DIR:-$HOME/.cache/doppel-ccache}
BUILD=build/fuzz
if [ ! -f "$BUILD/build.ninja" ]; then
  cmake -S fuzz -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE= -DCMAKE_CXX_COMPILER="$CXX_FUZZ" > /dev/null
fi
cmake --build "$BUILD" --target safetensors_fuzzer model_fuzzer -- -j"$(nproc)" > "$BUILD/build.log" 2>&1 ||
  { cat "$BUILD/build.log" >&2; echo "fuzz.sh: build failed" >&2; exit 1; }

if [ -n "$TOTAL" ]; then
  SECS=$(((TOTAL - ($(date +%s) - START) - 4) / 2))
  [ "$SECS" -ge 5 ] || SECS=5
fi
mkdir -p "$BUILD/artifacts"
# fuzz TARGET DICT CORPUS REGRESSIONS: one target for $SECS seconds.
fuzz() {
  local target=$1 dict=$2 seeds=$3 regressions=$4
  local log="$BUILD/$target.log"
  mkdir -p "$BUILD/corpus_$target"
  if ! "$BUILD/$target" -max_total_time="$SECS" -max_len=8192 -timeout=10 -rss_limit_mb=2048 \
    $([ -n "$dict" ] && echo "-dict=$dict") -artifact_prefix="$BUILD/artifacts/" -print_final_stats=1 \
    "$BUILD/corpus_$target" "$seeds" $([ -d "$regressions" ] && echo "$regressions") > "$log" 2>&1; then
    tail -n 60 "$log" >&2
    echo "fuzz.sh: $target found a failing input (see $BUILD/artifacts/); copy it to $regressions/" >&2
    exit 1
  fi
  local runs
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo '?')
  echo "fuzz.sh: $target ran ${SECS}s ($runs inputs, no failures)"
}
fuzz safetensors_fuzzer fuzz/safetensors.dict fuzz/corpus fuzz/regressions
fuzz model_fuzzer "" fuzz/corpus_model fuzz/regressions_model
echo "fuzz.sh: $(($(date +%s) - START))s with the build"
