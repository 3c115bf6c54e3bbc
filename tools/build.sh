#!/usr/bin/env bash
# Configure and build one CMake preset (default: release) after making sure the machine is set up.
#   tools/build.sh [preset] [extra `cmake --build` arguments, e.g. --target doppel_demo]
# Presets (CMakePresets.json): dev, release, asan -> build/<preset>, Ninja.
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO"
preset=${1:-release}
if [ $# -gt 0 ]; then shift; fi
tools/setup.sh
# ccache keeps its cache outside the checkout, so fresh clones (CI) on the same machine reuse it.
export CCACHE_DIR="${CCACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/doppel-ccache}"
# Paths under the checkout are hashed relative to it, so a clone in another folder (CI) hits.
export CCACHE_BASEDIR="$REPO" CCACHE_NOHASHDIR=true
cmake --preset "$preset"
cmake --build --preset "$preset" "$@"
