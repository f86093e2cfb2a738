#!/usr/bin/env bash
# gst test 7: shmframesrc leaves PLAYING at once while its streaming thread waits for a frame
# (unlock() interrupts the Reader's wait): under 20 ms, best of three runs, for a source waiting
# for a stream that does not exist yet, and for one attached to an idle stream, read-write and
# read-only. A source that waited in slices (100 ms before Reader::interrupt()) fails.
source "$(dirname "$0")/lib.sh"
gst_init unlock
: "${SHMFRAME_GST_UNLOCK:?set by ctest (tests/CMakeLists.txt)}"

new_stream missing
"$SHMFRAME_GST_UNLOCK" "$missing" 3 20 >"$work/missing.log" 2>&1 || { cat "$work/missing.log"; fail "missing stream: PLAYING -> NULL took 20 ms or more"; }
echo "waiting for a missing stream: $(tail -n1 "$work/missing.log")"

# An idle stream: attached, a frame a second at most.
new_stream idle
bg "$work/producer.log" "$producer" --name "$idle" --width 64 --height 48 --fps 1 --mode 0644
producer_pid=$last_pid
"$consumer" --name "$idle" --frames 1 --timeout-ms 10000 >"$work/first.log" 2>&1 || fail "the producer did not start"
for access in read-write read-only; do
  SHMFRAME_GST_UNLOCK_ATTACHED=1 "$SHMFRAME_GST_UNLOCK" "$idle" 3 20 access="$access" >"$work/$access.log" 2>&1 ||
    { cat "$work/$access.log"; fail "attached $access: PLAYING -> NULL took 20 ms or more"; }
  echo "attached $access: $(tail -n1 "$work/$access.log")"
done
signal_cmd INT "$producer_pid"
reap "$producer_pid"
