#!/usr/bin/env bash
# The main job: install what is missing, build (release), then run a producer on the built-in
# test pattern and a consumer printing live stats, until Ctrl-C.
# Usage: scripts/demo.sh [extra producer options, e.g. --width 1920 --height 1080 --fps 60]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cmake --preset release >/dev/null  # CMakePresets.json: build/release
cmake --build --preset release
stream="demo-$$"
build/release/producer/shmframe-producer --name "$stream" "$@" &
producer=$!
cleanup() { kill -INT "$producer" 2>/dev/null || true; wait "$producer" 2>/dev/null || true; }
trap cleanup EXIT
trap 'exit 0' INT TERM
echo "shmframe: producer pid $producer on stream '$stream'; consumer stats below. Ctrl-C stops both." >&2
build/release/consumer/shmframe-consumer --name "$stream" --processor stats
