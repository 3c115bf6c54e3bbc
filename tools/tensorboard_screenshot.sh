#!/usr/bin/env bash
# The pictures of the main job for the docs (not in CI): TensorBoard's Scalars and Graphs
# dashboards showing the main job's latest run, screenshotted with headless Chromium (Debian's
# `chromium`, installed by `tools/setup.sh --screenshots`), and the main job's exported inference
# graph drawn by `doppel-run --graph` (Graphviz):
#
#   tools/main.sh --epochs 3 --limit 6000     # the run (runs/fashion_mnist/version_<N>) and cnn.dpl
#   tools/tensorboard_screenshot.sh [--logdir runs] [--run fashion_mnist/version_<N>] [--port P]
#
# writes docs/images/tensorboard_scalars.png, docs/images/tensorboard_graph.png and
# docs/images/fashion_mnist_graph.svg. TensorBoard listens on 127.0.0.1 only and is stopped on exit.
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO"
LOGDIR=runs
RUN=
PORT=6123
MODEL=build/fashion_mnist/cnn.dpl
while [ $# -gt 0 ]; do
  case $1 in
    --logdir) LOGDIR=$2; shift 2 ;;
    --run) RUN=$2; shift 2 ;;
    --port) PORT=$2; shift 2 ;;
    -h | --help) sed -n '2,11p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "tensorboard_screenshot.sh: unknown argument '$1' (try --help)" >&2; exit 2 ;;
  esac
done
die() { echo "tensorboard_screenshot.sh: $*" >&2; exit 1; }

tools/setup.sh --screenshots
if [ -z "$RUN" ]; then # the main job's newest version
  RUN=$(find "$LOGDIR/fashion_mnist" -mindepth 1 -maxdepth 1 -type d -name 'version_*' 2> /dev/null |
    sed 's/.*version_//' | sort -n | tail -1)
  [ -n "$RUN" ] || die "no run in $LOGDIR/fashion_mnist: run tools/main.sh first"
  RUN=fashion_mnist/version_$RUN
fi
[ -d "$LOGDIR/$RUN" ] || die "$LOGDIR/$RUN does not exist"
[ -f "$MODEL" ] || die "$MODEL does not exist: run tools/main.sh first (its --eval-only step exports it)"
OUT=docs/images
mkdir -p "$OUT"

build/release/serve/doppel-run "$MODEL" --graph "$OUT/fashion_mnist_graph.svg" > /dev/null
echo "wrote $OUT/fashion_mnist_graph.svg"

TMP=$(mktemp -d)
.venv/bin/tensorboard --logdir "$LOGDIR" --host 127.0.0.1 --port "$PORT" > "$TMP/tensorboard.log" 2>&1 &
TB=$!
trap 'kill "$TB" 2> /dev/null; wait "$TB" 2> /dev/null; rm -rf "$TMP"' EXIT
# Ready when the data API lists the run (TensorBoard loads the logdir in the background).
for _ in $(seq 120); do
  curl -sf "http://127.0.0.1:$PORT/data/runs" 2> /dev/null | grep -q "\"$RUN\"" && break
  kill -0 "$TB" 2> /dev/null || die "tensorboard exited: $(cat "$TMP/tensorboard.log")"
  sleep 0.5
done
curl -sf "http://127.0.0.1:$PORT/data/runs" | grep -q "\"$RUN\"" || die "tensorboard did not list $RUN within 60 s"

run_q=$(.venv/bin/python -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$RUN")
tag_q=$(.venv/bin/python -c 'import urllib.parse; print(urllib.parse.quote("^(train_loss_step|train_loss|val_loss|val_accuracy|lr-Adam)$", safe=""))')
shot() { # shot OUT.png URL-FRAGMENT
  chromium --headless=new --no-sandbox --disable-gpu --hide-scrollbars --window-size=1280,1000 \
    --virtual-time-budget=15000 --user-data-dir="$TMP/chromium" --screenshot="$1" \
    "http://127.0.0.1:$PORT/?runFilter=$run_q#$2" 2> "$TMP/chromium.log" ||
    die "chromium failed: $(cat "$TMP/chromium.log")"
  # 64 colours (Pillow, pinned in requirements.txt): a third of the size, no visible change.
  .venv/bin/python -c 'import sys; from PIL import Image
Image.open(sys.argv[1]).convert("RGB").quantize(64, Image.Quantize.MEDIANCUT).save(sys.argv[1], optimize=True)' "$1"
  echo "wrote $1"
}
# The training loss per step and per epoch, the validation loss and accuracy, the learning rate.
shot "$OUT/tensorboard_scalars.png" "scalars&_smoothingWeight=0&tagFilter=$tag_q"
shot "$OUT/tensorboard_graph.png" "graphs&run=$run_q"
