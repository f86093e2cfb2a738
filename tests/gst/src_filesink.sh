#!/usr/bin/env bash
# gst test 2: shmframe-producer read by `shmframesrc ! filesink` and by the C++ probe at once.
# Both are lossless readers, so each takes every frame from the one it attached at. Checks:
#   - every frame in the filesink dump is an intact frame of the producer's test pattern
#     (shmframe-gst-check pattern: the same drawing code), in order, with no gap (lossless);
#   - the dump and the probe agree: for every frame both took, the same CRC;
#   - the source pushed its buffers without copying (its counters, at stop).
# The readers leave after N frames (num-buffers, --frames); the producer is then stopped.
source "$(dirname "$0")/lib.sh"
gst_init src_filesink

frames=60
new_stream s
bg "$work/src.log" env GST_DEBUG=shmframesrc:INFO gst-launch-1.0 shmframesrc stream="$s" mode=lossless num-buffers=$frames \
  ! filesink location="$work/dump.raw"
src_pid=$last_pid
bg "$work/probe.log" "$consumer" --name "$s" --processor probe --lossless --frames $frames
probe_pid=$last_pid
bg "$work/producer.log" "$producer" --name "$s" --width 320 --height 240 --format bgr8 --fps 60 --slots 4 --frames 3000
producer_pid=$last_pid

reap "$src_pid"
((rc == 0)) || fail "gst-launch shmframesrc ! filesink exited with $rc"
reap "$probe_pid"
((rc == 0)) || fail "the probe exited with $rc"
kill -TERM "$producer_pid"
reap "$producer_pid"

"$check" crc "$work/dump.raw" 320 240 bgr8 >"$work/dump.crc" || fail "bad dump"
(($(wc -l <"$work/dump.crc") == frames)) || fail "the dump has $(wc -l <"$work/dump.crc") frames, not $frames"
"$check" pattern 320 240 bgr8 3000 >"$work/pattern.crc"
# The pattern index of each dumped frame (its line in pattern.crc): consecutive when lossless.
awk 'NR == FNR { if (!($1 in idx)) idx[$1] = NR - 1; next }
     { if (!($1 in idx)) { printf "dump frame %d (crc %s) is no frame of the test pattern: torn or corrupt\n", FNR - 1, $1; exit 1 }
       i = idx[$1]; if (FNR > 1 && i != prev + 1) { printf "dump frame %d is pattern frame %d after %d: a gap or reorder\n", FNR - 1, i, prev; exit 1 }
       prev = i }' "$work/pattern.crc" "$work/dump.crc" || fail "the dump is not the producer's frames in order"
probe_crcs "$work/probe.log" | awk '{print $2}' >"$work/probe.crc"
(($(wc -l <"$work/probe.crc") == frames)) || fail "the probe reported $(wc -l <"$work/probe.crc") frames, not $frames"
common="$(sort "$work/dump.crc" "$work/probe.crc" | uniq -d | wc -l)"
# Both attached to the same producer within a few frames of each other: most frames are shared,
# and a shared CRC is the same pattern frame (CRCs of different pattern frames differ).
((common >= frames / 2)) || fail "the dump and the probe share only $common frames"
"$check" subseq "$work/probe.crc" "$work/pattern.crc" >/dev/null || fail "the probe saw frames out of the pattern"
stats="$(grep -o 'stopped: .*' "$work/src.log" || true)"
[[ "$stats" =~ stopped:\ ([0-9]+)\ frames\ pushed\ zero-copy,\ 0\ copied ]] && ((BASH_REMATCH[1] == frames)) ||
  fail "expected $frames zero-copy buffers, the source says: $stats"
echo "$frames frames from shmframesrc match the pattern and the probe ($common shared); $stats"
