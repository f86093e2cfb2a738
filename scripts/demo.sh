#!/usr/bin/env bash
# The main job: install what is missing, build (release), then run a producer on the built-in
# test pattern and shmframe-viewer on it (a window if $DISPLAY is set, else its statistics
# once a second), until Ctrl-C or the viewer's q.
# Usage: scripts/demo.sh [extra producer options, e.g. --width 1920 --height 1080 --fps 60]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
# Configure only a fresh tree: re-running the preset would reset options scripts/test.sh set
# on the same build/release (SHMFRAME_WERROR=ON) and so rebuild everything.
[[ -f build/release/CMakeCache.txt ]] || cmake --preset release >/dev/null  # CMakePresets.json: build/release
cmake --build build/release
stream="demo-$$"
build/release/producer/shmframe-producer --name "$stream" "$@" &
producer=$!
web=
cleanup() {
  [[ -n $web ]] && { kill -INT "$web" 2>/dev/null || true; wait "$web" 2>/dev/null || true; }
  kill -INT "$producer" 2>/dev/null || true
  wait "$producer" 2>/dev/null || true
}
trap cleanup EXIT
trap 'exit 0' INT TERM
viewer=(build/release/viewer/shmframe-viewer --name "$stream")
if [[ -z ${DISPLAY:-} ]]; then
  viewer+=(--headless)
  # No screen: the browser viewer too, on loopback (ssh -L 8080:127.0.0.1:8080 to see it from elsewhere).
  port="${SHMFRAME_WEB_PORT:-8080}"
  build/release/viewer/shmframe-web --bind "127.0.0.1:$port" &
  web=$!
  echo "shmframe: producer pid $producer on stream '$stream'; no \$DISPLAY, so the viewer prints its statistics," \
    "and the browser viewer serves http://127.0.0.1:$port/view/$stream (ssh -L $port:127.0.0.1:$port HOST to open it" \
    "from another machine). Ctrl-C stops all." >&2
else
  echo "shmframe: producer pid $producer on stream '$stream'; viewer window on $DISPLAY (q quits, space pauses, s saves, o overlay). Ctrl-C stops both." >&2
fi
"${viewer[@]}"
