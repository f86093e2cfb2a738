#!/usr/bin/env bash
# Soak test (tests/soak/soak.py): producers, consumers and a chained stage killed, stopped and
# restarted at random (new sizes, formats, slot counts) for N minutes under a long-lived
# consumer that verifies every frame against the test pattern; then checks for torn or
# misrouted frames, stale consumer entries, file-descriptor growth, generations that do not
# increase, and leftovers in /dev/shm. The test command runs it for 1 minute; docs/RELIABILITY.md
# records long runs. Prints the seed: --seed N replays the same schedule.
# Usage: scripts/soak.sh [--minutes N (default 1)] [--seed N] [--build DIR (default build/release)]
set -euo pipefail
cd "$(dirname "$0")/.."
exec /usr/bin/python3 tests/soak/soak.py "$@"
