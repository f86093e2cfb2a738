#!/usr/bin/env bash
# gst test 1: videotestsrc ! shmframesink, read by shmframe-consumer --processor probe.
# Every frame the probe reports (seq, CRC-32 of its pixels) must be the same frame that a
# filesink got from the same source: frame seq k of the stream = buffer k - 1 of the dump (seq is
# gapless within a generation and starts at 1). Two ways into the sink:
#   pool: videotestsrc draws into the sink's slots (the allocation proposal), checked against a
#         second, deterministic run of the same videotestsrc into a filesink;
#   copy: a tee in front (tee offers no pool upstream for two branches), the other branch a
#         filesink of the very same buffers; odd width 318x200 RGB, so rows are padded to 4.
# The sink's own counters (GST_DEBUG=shmframesink:INFO, at stop) must say which path ran.
source "$(dirname "$0")/lib.sh"
gst_init sink_probe

frames=40
run_case() {  # $1: case name, $2: caps, $3: shmframe format, $4 width, $5 height, $6: "pool" | "copy"
  local name="$1" caps="$2" format="$3" width="$4" height="$5" path="$6"
  local s
  new_stream s
  # The probe first: it waits for the stream and leaves when the sink closes it (EOS).
  bg "$work/$name-probe.log" "$consumer" --name "$s" --processor probe --every-frame --exit-on-close
  local probe_pid=$last_pid
  local src="videotestsrc pattern=ball num-buffers=$frames ! $caps"
  if [[ "$path" == pool ]]; then
    timeout "$bound_s" gst-launch-1.0 -q $src ! filesink location="$work/$name.raw" >"$work/$name-ref.log" 2>&1 ||
      fail "$name: the reference run failed"
    GST_DEBUG=shmframesink:INFO timeout "$bound_s" gst-launch-1.0 $src ! shmframesink stream="$s" \
      >"$work/$name-sink.log" 2>&1 || fail "$name: the shmframesink pipeline failed"
  else
    GST_DEBUG=shmframesink:INFO timeout "$bound_s" gst-launch-1.0 $src ! tee name=t \
      t. ! queue ! shmframesink stream="$s" t. ! queue ! filesink location="$work/$name.raw" \
      >"$work/$name-sink.log" 2>&1 || fail "$name: the shmframesink pipeline failed"
  fi
  reap "$probe_pid"
  ((rc == 0)) || fail "$name: the probe exited with $rc (it should leave when the sink closes the stream)"

  "$check" crc "$work/$name.raw" "$width" "$height" "$format" >"$work/$name.crc" || fail "$name: bad dump"
  (($(wc -l <"$work/$name.crc") == frames)) || fail "$name: the dump has $(wc -l <"$work/$name.crc") frames, not $frames"
  probe_crcs "$work/$name-probe.log" >"$work/$name-probe.crc"
  local seen
  seen="$(wc -l <"$work/$name-probe.crc")"
  # The probe attaches when the stream appears, so it may miss the first frames, never most.
  ((seen >= frames / 2)) || fail "$name: the probe saw $seen of $frames frames"
  awk -v name="$name" 'NR == FNR { ref[NR] = $1; next }
       { if (ref[$1] != $2) { printf "%s: frame seq %d has CRC %s, the dump has %s\n", name, $1, $2, ref[$1]; bad = 1 } }
       END { exit bad }' "$work/$name.crc" "$work/$name-probe.crc" || fail "$name: CRCs differ"
  grep -q '"width":'"$width"',"height":'"$height" "$work/$name-probe.log" || fail "$name: the probe saw another size"
  local stats
  stats="$(grep -o 'stopped: .*' "$work/$name-sink.log" || true)"
  if [[ "$path" == pool ]]; then
    [[ "$stats" =~ stopped:\ ([0-9]+)\ frames\ committed\ in\ place,\ 0\ copied ]] && ((BASH_REMATCH[1] == frames)) ||
      fail "$name: expected all $frames frames committed in place (the pool), the sink says: $stats"
  else
    [[ "$stats" =~ stopped:\ 0\ frames\ committed\ in\ place,\ ([0-9]+)\ copied ]] && ((BASH_REMATCH[1] == frames)) ||
      fail "$name: expected all $frames frames copied, the sink says: $stats"
  fi
  echo "$name: $seen frames of the probe match the dump ($stats)"
}

run_case pool "video/x-raw,format=BGR,width=320,height=240,framerate=30/1" bgr8 320 240 pool
run_case copy "video/x-raw,format=RGB,width=318,height=200,framerate=30/1" rgb8 318 200 copy
run_case gray "video/x-raw,format=GRAY8,width=160,height=120,framerate=30/1" gray8 160 120 pool
