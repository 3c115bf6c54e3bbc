#!/usr/bin/env bash
# Build the libFuzzer targets in fuzz/ with clang (ASan + UBSan) into build/fuzz and fuzz the
# safetensors reader for a while, starting from the seed corpus fuzz/corpus/.
#
#   tools/fuzz.sh [--seconds N]   fuzz for N seconds (default 30)
#   tools/fuzz.sh --total N       build + fuzz in about N seconds all told (tools/test.sh: 60):
#                                 the fuzzing gets what the build left (at least 5 s)
#
# New interesting inputs accumulate in build/fuzz/corpus (not in the repository). On a crash
# the input is saved under build/fuzz/artifacts/ and the script fails: add the file to
# fuzz/regressions/ (replayed by the C++ test suite) and fix the reader.
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
cmake --build "$BUILD" --target safetensors_fuzzer -- -j"$(nproc)" > "$BUILD/build.log" 2>&1 ||
  { cat "$BUILD/build.log" >&2; echo "fuzz.sh: build failed" >&2; exit 1; }

if [ -n "$TOTAL" ]; then
  SECS=$((TOTAL - ($(date +%s) - START) - 2))
  [ "$SECS" -ge 5 ] || SECS=5
fi
mkdir -p "$BUILD/corpus" "$BUILD/artifacts"
log="$BUILD/fuzz.log"
if ! "$BUILD/safetensors_fuzzer" -max_total_time="$SECS" -max_len=4096 -timeout=10 -rss_limit_mb=2048 \
  -dict=fuzz/safetensors.dict -artifact_prefix="$BUILD/artifacts/" -print_final_stats=1 \
  "$BUILD/corpus" fuzz/corpus $([ -d fuzz/regressions ] && echo fuzz/regressions) > "$log" 2>&1; then
  tail -n 60 "$log" >&2
  echo "fuzz.sh: the fuzzer found a failing input (see $BUILD/artifacts/); copy it to fuzz/regressions/" >&2
  exit 1
fi
runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo '?')
echo "fuzz.sh: safetensors_fuzzer ran ${SECS}s ($runs inputs, no failures); $(($(date +%s) - START))s with the build"
