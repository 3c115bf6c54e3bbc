#!/usr/bin/env bash
# Build the release preset and run the main job (build/release/examples/fashion_mnist): eager
# training through doppel::Trainer with all arguments passed through (TensorBoard logs in
# runs/fashion_mnist/version_<N> unless --no-tensorboard; --logdir DIR moves them), then the
# trained checkpoint evaluated eagerly and as a doppel::compile'd graph, exported to one model
# file and evaluated by the standalone runtime loading that file (`--eval-only --mode graph`; it
# fails when the accuracies disagree). Build output goes to stderr so stdout is the demo's alone.
# A whole graph-mode training run: build/release/examples/fashion_mnist --mode graph.
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO"
tools/build.sh release >&2
BIN=build/release/examples/fashion_mnist
# The evaluation reads the checkpoint the training wrote and uses the same threads.
EVAL_ARGS=()
args=("$@")
for ((i = 0; i < ${#args[@]}; ++i)); do
  case "${args[i]}" in
    --checkpoint | --threads) EVAL_ARGS+=("${args[i]}" "${args[i + 1]:-}") ;;
    -h | --help) exec "$BIN" --help ;;
  esac
done
"$BIN" "$@"
echo
exec "$BIN" --eval-only --mode graph "${EVAL_ARGS[@]}"
