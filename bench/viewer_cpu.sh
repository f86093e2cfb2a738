#!/usr/bin/env bash
# How much of shmframe-viewer's CPU is shmframe's: runs a 1920x1080 30 fps test-pattern
# producer and the viewer on it for a while (in a window under xvfb-run when it is installed,
# else headless), then reports the viewer's total CPU from /proc/PID/stat (utime + stime,
# start-up included) and the viewer's own split (--stats-json): feed threads inside shmframe
# calls (wait, copy, validate) vs the display thread (convert, scale, render, show).
# Usage: bench/viewer_cpu.sh [BUILD_DIR (default build/release)] [SECONDS (default 10)]
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build/release}
seconds=${2:-10}
for b in producer/shmframe-producer viewer/shmframe-viewer; do
  [[ -x $build/$b ]] || { echo "viewer_cpu.sh: $build/$b is missing: build first (cmake --build $build)" >&2; exit 2; }
done
work=$(mktemp -d)
stream="viewercpu-$$"
producer=""
cleanup() {
  [[ -n $producer ]] && { kill -INT "$producer" 2>/dev/null || true; wait "$producer" 2>/dev/null || true; }
  rm -rf "$work"
}
trap cleanup EXIT

"$build/producer/shmframe-producer" --name "$stream" --width 1920 --height 1080 --fps 30 2>"$work/producer.log" &
producer=$!

# The viewer's run: --frames ends it after SECONDS of 30 fps frames.
frames=$((seconds * 30))
cat >"$work/run.sh" <<RUN
#!/usr/bin/env bash
"$(pwd)/$build/viewer/shmframe-viewer" --name "$stream" --frames $frames --timeout-ms 10000 --stats-json "$work/stats.json" \$VIEWER_MODE \
  >"$work/viewer.out" 2>"$work/viewer.err" &
pid=\$!
tick=\$(getconf CLK_TCK)
last=0
# Sampled every 0.1 s until it exits (bash reaps it at once, so its final numbers are gone):
# the total misses at most the last 0.1 s. A bench script's sampling loop, not synchronization.
while s=\$(awk '{print \$14 + \$15}' /proc/\$pid/stat 2>/dev/null) && [[ -n \$s ]]; do
  last=\$s
  sleep 0.1
done
wait \$pid || true
echo "\$last \$tick" >"$work/proc_cpu"
RUN
chmod +x "$work/run.sh"
if command -v xvfb-run >/dev/null; then
  mode="window under xvfb-run (1920x1080 frames scaled to the default --max-size 1280x720)"
  VIEWER_MODE="" xvfb-run -a -s "-screen 0 1920x1080x24 -nolisten tcp" "$work/run.sh"
else
  mode="headless (xvfb-run not installed)"
  VIEWER_MODE="--headless" "$work/run.sh"
fi
read -r ticks hz <"$work/proc_cpu"
python3 - "$work/stats.json" "$ticks" "$hz" "$mode" <<'PY'
import json, sys
stats = json.load(open(sys.argv[1]))
ticks, hz, mode = int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
total = ticks / hz
run = stats["duration_s"]
s = stats["streams"][0]
cpu = stats["cpu"]
print(f"viewer_cpu: 1920x1080 bgr8 at 30 fps, viewer in a {mode}, {run:.1f} s, {s['frames']} frames ({s['fps']:.1f} fps), "
      f"drops {s['drops']}, overruns {s['overruns']}")
print(f"viewer_cpu: e2e latency p50 {s['e2e_ms']['p50']:.2f} ms p99 {s['e2e_ms']['p99']:.2f} ms; "
      f"hand-off p50 {s['handoff_ms']['p50']:.3f} ms p99 {s['handoff_ms']['p99']:.3f} ms")
print(f"viewer_cpu: /proc total (utime+stime, start-up included) {total:.2f} s = {100 * total / run:.1f}% of one core")
print(f"viewer_cpu: split (after start-up): shmframe (wait, copy, validate) {cpu['shmframe_s']:.3f} s, "
      f"display (convert, scale, render, show) {cpu['display_s']:.3f} s, "
      f"rest (toolkit threads, logging) {max(0.0, cpu['process_s'] - cpu['shmframe_s'] - cpu['display_s']):.3f} s")
print(f"viewer_cpu: shmframe share of viewer CPU {100 * cpu['shmframe_s'] / total:.1f}% of the /proc total "
      f"({100 * cpu['shmframe_share']:.1f}% of the CPU after start-up)")
PY
