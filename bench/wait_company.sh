#!/usr/bin/env bash
# bench/wait_company.sh: a predictive consumer beside a block consumer on one stream (issue 18):
# the predictive one must never be later than the block one. Runs the test-pattern producer at
# 1280x720, 30 fps, and two probes side by side, one --wait block and one --wait predictive, for
# FRAMES frames; prints each one's hand-off p50 / p90 / p99 (commit -> the probe has the frame) and
# the ratios predictive / block, from the same run.
# Usage: bench/wait_company.sh [BUILD_DIR] [FRAMES] [RUNS]   (default build/release, 300, 3)
set -euo pipefail
build="${1:-build/release}"
frames="${2:-300}"
runs="${3:-3}"
producer="$build/producer/shmframe-producer"
consumer="$build/consumer/shmframe-consumer"
for b in "$producer" "$consumer"; do [[ -x "$b" ]] || { echo "wait_company: no $b (build first)" >&2; exit 2; }; done
work="$(mktemp -d)"
name="waitco-$$"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -f "/dev/shm/shmframe.$name" "/dev/shm/shmframe-lock.$name"
  rm -rf "$work"
}
trap cleanup EXIT

# p50 p90 p99 of the handoff_ns of a probe's frame lines, in microseconds.
percentiles() {
  python3 - "$1" <<'PY'
import json, sys
v = sorted(json.loads(l)["handoff_ns"] for l in open(sys.argv[1]) if '"event":"frame"' in l)
if not v:
    print("nan nan nan 0"); sys.exit()
q = lambda p: v[min(len(v) - 1, int(p * len(v)))] / 1000
print(f"{q(0.5):.1f} {q(0.9):.1f} {q(0.99):.1f} {len(v)}")
PY
}

for run in $(seq 1 "$runs"); do
  timeout 120 "$consumer" --name "$name" --processor probe --wait block --frames "$frames" --timeout-ms 60000 >"$work/block.jsonl" 2>/dev/null &
  pids+=($!)
  block_pid=$!
  timeout 120 "$consumer" --name "$name" --processor probe --wait predictive --frames "$frames" --timeout-ms 60000 >"$work/pred.jsonl" 2>/dev/null &
  pids+=($!)
  pred_pid=$!
  timeout 120 "$producer" --name "$name" --width 1280 --height 720 --fps 30 --frames $((frames + 60)) >/dev/null 2>&1 &
  pids+=($!)
  prod_pid=$!
  wait "$block_pid" "$pred_pid" || { echo "wait_company: a probe failed" >&2; exit 1; }
  wait "$prod_pid" || true
  read -r b50 b90 b99 bn < <(percentiles "$work/block.jsonl")
  read -r p50 p90 p99 pn < <(percentiles "$work/pred.jsonl")
  python3 -c "
b50,b90,p50,p90=$b50,$b90,$p50,$p90
print(f'run $run: block p50 {b50:.1f} p90 {b90:.1f} p99 $b99 us ($bn frames) | predictive p50 {p50:.1f} p90 {p90:.1f} p99 $p99 us ($pn frames) | predictive/block p50 {p50/b50:.2f} p90 {p90/b90:.2f}')"
done
