#!/usr/bin/env bash
# gst test 8 (issue 22): a zero-copy buffer never changes while downstream holds it, whoever else
# holds frames of the stream. A 60 fps producer with 4 slots; a Python reader holding 3 frames at
# all times (its hold limit); a second pipeline keeping buffers ~50 ms behind a queue; and the
# pipeline under test: 40 buffers through a queue and 60 ms of identity each, dumped to a file
# with each buffer's offset (its seq). Each dumped buffer must hold the test pattern of its own
# seq. Before pins, the producer overwrote held slots (every slot held) under the queued buffers:
# 27 of 40 held another frame's pixels.
source "$(dirname "$0")/lib.sh"
gst_init pinned
: "${SHMFRAME_PYTHONPATH:?set by ctest when the Python binding is built}"

frames=40
new_stream s
bg "$work/producer.log" "$producer" --name "$s" --width 320 --height 240 --format bgr8 --fps 60 --slots 4 --frames 100000
producer_pid=$last_pid
cat >"$work/holder.py" <<'PY'
import collections, sys
import shmframe
held = collections.deque()
told = False
with shmframe.Reader(sys.argv[1], delivery="every-frame") as r:
    for frame in r.frames(timeout=30):
        held.append(frame)
        while len(held) > r.hold_limit:
            held.popleft().release()
        if len(held) == r.hold_limit and not told:
            told = True
            print("holding", len(held), "held:", all(f.held for f in held), flush=True)
PY
PYTHONPATH="$SHMFRAME_PYTHONPATH" bg "$work/holder.log" "${SHMFRAME_PYTHON:-python3}" "$work/holder.py" "$s"
wait_for '^holding 3 held: True' "$work/holder.log"
bg "$work/other.log" gst-launch-1.0 shmframesrc stream="$s" ! queue ! identity sleep-time=50000 ! fakesink
GST_DEBUG=shmframesrc:INFO timeout "$bound_s" gst-launch-1.0 -v shmframesrc stream="$s" num-buffers=$frames \
  ! queue ! identity sleep-time=60000 silent=false ! filesink location="$work/dump.raw" >"$work/src.log" 2>&1 ||
  fail "the pipeline failed"
grep -o 'chain.*offset: [0-9]*' "$work/src.log" | grep -o '[0-9]*$' >"$work/offsets" || true
(($(wc -l <"$work/offsets") == frames)) || fail "expected $frames offsets from identity, got $(wc -l <"$work/offsets")"
"$check" crc "$work/dump.raw" 320 240 bgr8 >"$work/dump.crc" || fail "bad dump"
(($(wc -l <"$work/dump.crc") == frames)) || fail "the dump has $(wc -l <"$work/dump.crc") frames, not $frames"
"$check" pattern 320 240 bgr8 "$(sort -n "$work/offsets" | tail -1)" >"$work/pattern.crc"
wrong=0
while read -r seq crc; do
  [ "$(sed -n "$((seq + 1))p" "$work/pattern.crc")" = "$crc" ] || wrong=$((wrong + 1))
done < <(paste -d' ' "$work/offsets" "$work/dump.crc")
stats="$(grep -o 'stopped: .*' "$work/src.log" || true)"
((wrong == 0)) || fail "$wrong of $frames buffers held another frame's pixels when they reached the sink ($stats)"
[[ "$stats" =~ stopped:\ ([0-9]+)\ frames\ pushed\ zero-copy ]] || fail "no counters from the source: $stats"
((BASH_REMATCH[1] > 0)) || fail "no buffer went zero-copy: the test proved nothing ($stats)"
kill -TERM "$producer_pid"
reap "$producer_pid"
echo "$frames buffers, each its own seq's pixels at the sink, next to a Python holder and a second pipeline; $stats"
