#!/usr/bin/env bash
# Runs one libFuzzer target for a bounded time over a scratch copy of its seed corpus (the seeds
# in the repository are never modified). A finding is saved under ARTIFACTS (crash-*, timeout-*,
# leak-*) and fails the run; replay it with `TARGET ARTIFACTS/crash-...`.
# Usage: tests/fuzz/run.sh TARGET SEED_DIR SECONDS ARTIFACTS [more libFuzzer flags...]
set -euo pipefail
target="$1" seeds="$2" seconds="$3" artifacts="$4"
shift 4
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$artifacts"
cp -r "$seeds"/. "$work/"
# -timeout: one input taking longer than 10 s is a hang; -rss_limit_mb: a memory blow-up.
exec "$target" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
  -artifact_prefix="$artifacts/" "$@" "$work"
