#!/usr/bin/env bash
# gst test 3: shmframesrc follows a producer restart with another size and format.
# A first producer (320x240 bgr8) is killed (SIGKILL: a crash, the stream left behind); a
# second one takes the stream over as a new generation at 480x270 gray8. The one running
# pipeline must renegotiate: caps BGR 320x240, then GRAY8 480x270, and every buffer has the
# size of the caps it follows (identity prints each buffer with gst-launch -v). The frames of
# each part of the dump are intact frames of that producer's test pattern.
source "$(dirname "$0")/lib.sh"
gst_init renegotiate

new_stream s
bg "$work/src.log" gst-launch-1.0 -v -e shmframesrc stream="$s" ! identity silent=false \
  ! filesink location="$work/dump.raw"
src_pid=$last_pid
bg "$work/producer1.log" "$producer" --name "$s" --width 320 --height 240 --format bgr8 --fps 30 --frames 3000
p1=$last_pid
# identity's last-message, one per buffer: "chain ... (230400 bytes, ...". Three of them.
wait_for 'ShmframeSrc:.*caps = video/x-raw, format=\(string\)BGR, width=\(int\)320, height=\(int\)240' "$work/src.log"
wait_for '\(230400 bytes,.*offset: ([3-9]|[1-9][0-9]+),' "$work/src.log"
crash "$p1"
reap "$p1"
bg "$work/producer2.log" "$producer" --name "$s" --width 480 --height 270 --format gray8 --fps 30 --frames 3000
p2=$last_pid
wait_for 'ShmframeSrc:.*caps = video/x-raw, format=\(string\)GRAY8, width=\(int\)480, height=\(int\)270' "$work/src.log"
wait_for '\(129600 bytes,.*offset: ([5-9]|[1-9][0-9]+),' "$work/src.log"
signal_cmd INT "$src_pid"  # -e: EOS first, so filesink writes everything out
reap "$src_pid"
((rc == 0)) || fail "gst-launch exited with $rc after SIGINT (-e should end it cleanly)"
kill -TERM "$p2"
reap "$p2"

# Buffer sizes in push order: all 230400 (320*240*3) first, then all 129600 (480*270).
grep -oE 'identity0:sink\) \([0-9]+ bytes' "$work/src.log" | grep -oE '[0-9]+ bytes' | awk '{print $1}' >"$work/sizes"
a="$(grep -c '^230400$' "$work/sizes" || true)"
b="$(grep -c '^129600$' "$work/sizes" || true)"
((a >= 3 && b >= 5 && a + b == $(wc -l <"$work/sizes"))) || fail "unexpected buffer sizes: $(sort "$work/sizes" | uniq -c | tr '\n' ' ')"
[[ "$(uniq "$work/sizes" | tr '\n' ' ')" == "230400 129600 " ]] || fail "the sizes interleave: $(uniq -c "$work/sizes" | tr '\n' ' ')"
size="$(stat -c %s "$work/dump.raw")"
((size == a * 230400 + b * 129600)) || fail "the dump has $size bytes, not $a * 230400 + $b * 129600"
head -c $((a * 230400)) "$work/dump.raw" >"$work/part1.raw"
tail -c $((b * 129600)) "$work/dump.raw" >"$work/part2.raw"
"$check" crc "$work/part1.raw" 320 240 bgr8 >"$work/part1.crc"
"$check" crc "$work/part2.raw" 480 270 gray8 >"$work/part2.crc"
"$check" pattern 320 240 bgr8 3000 >"$work/pattern1.crc"
"$check" pattern 480 270 gray8 3000 >"$work/pattern2.crc"
"$check" subseq "$work/part1.crc" "$work/pattern1.crc" || fail "the first producer's frames are not intact"
"$check" subseq "$work/part2.crc" "$work/pattern2.crc" || fail "the second producer's frames are not intact"
echo "renegotiated: $a buffers of 320x240 bgr8, then $b of 480x270 gray8"
