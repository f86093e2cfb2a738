#!/usr/bin/env bash
# Longer fuzzing runs than the test command's (20 s per target): builds the fuzz preset (clang
# 14, libFuzzer, ASan + UBSan) and runs each target for MINUTES, growing a corpus kept in
# build/fuzz/corpus/<target> between runs (seeded from tests/fuzz/corpus). Findings land in
# build/fuzz/artifacts/ and fail the script; replay one with `build/fuzz/tests/fuzz/shmframe_fuzz_<target> <file>`.
# Usage: scripts/fuzz.sh [--minutes N (default 10)] [TARGET...]   (targets: header attach reader)
set -euo pipefail
cd "$(dirname "$0")/.."
minutes=10
targets=()
while (($#)); do
  case "$1" in
    --minutes) minutes="${2:?--minutes needs a number}"; shift 2 ;;
    header | attach | reader) targets+=("$1"); shift ;;
    *) echo "usage: $0 [--minutes N] [header|attach|reader ...]" >&2; exit 2 ;;
  esac
done
((${#targets[@]})) || targets=(header attach reader)
scripts/install-deps.sh --fuzz
cmake --preset fuzz >/dev/null
cmake --build --preset fuzz
status=0
for t in "${targets[@]}"; do
  corpus="build/fuzz/corpus/$t"
  mkdir -p "$corpus" build/fuzz/artifacts
  cp -rn "tests/fuzz/corpus/$t/." "$corpus/"
  echo "== fuzz $t for $minutes min (corpus $corpus)"
  "build/fuzz/tests/fuzz/shmframe_fuzz_$t" -max_total_time=$((minutes * 60)) -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix=build/fuzz/artifacts/ "$corpus" || status=1
done
exit "$status"
