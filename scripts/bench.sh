#!/usr/bin/env bash
# The full benchmark: install what is missing (ZeroMQ, iceoryx, matplotlib), build release,
# run shmframe-bench (about 5 minutes on 2 cores; --quick: under a minute), write
# bench/results/latest.json and the plots in docs/img/.
# Usage: scripts/bench.sh [--quick]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh --bench --plots
cmake --preset release >/dev/null  # CMakePresets.json: build/release
cmake --build --preset release
mkdir -p bench/results docs/img
build/release/bench/shmframe-bench "$@" --json bench/results/latest.json | tee bench/results/latest.txt
/usr/bin/python3 bench/plot.py bench/results/latest.json docs/img
if [[ " $* " != *" --quick "* ]]; then  # the published report comes from full runs only
  /usr/bin/python3 bench/report.py bench/results/latest.json docs/PERFORMANCE.md.in docs/PERFORMANCE.md
  echo "report: docs/PERFORMANCE.md; plots: docs/img/latency_1080p.png docs/img/fanout_1080p.png"
fi
