#!/usr/bin/env bash
# Build the release preset and run the demo (build/release/examples/fashion_mnist), passing
# all arguments through. Build output goes to stderr so stdout is the demo's alone.
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO"
tools/build.sh release >&2
exec build/release/examples/fashion_mnist "$@"
