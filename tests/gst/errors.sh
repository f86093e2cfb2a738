#!/usr/bin/env bash
# gst test 6: bad properties and a missing stream give clear GStreamer errors: gst-launch-1.0
# exits with an error (1, or 255 when the state change fails; not a crash: 128+signal, not a
# hang: 124 from timeout) and its first error message names the problem and the fix.
source "$(dirname "$0")/lib.sh"
gst_init errors

expect_error() {  # $1: case, $2: regex the output must match; the rest: the pipeline
  local name="$1" regex="$2"
  shift 2
  local rc=0
  timeout "$bound_s" gst-launch-1.0 "$@" >"$work/$name.log" 2>&1 || rc=$?
  ((rc == 1 || rc == 255)) || fail "$name: gst-launch-1.0 exited with $rc, expected 1 or 255 (an error)"
  grep -qE "$regex" "$work/$name.log" || fail "$name: no message matching '$regex'"
  echo "$name: $(grep -m1 -E "$regex" "$work/$name.log")"
}

new_stream s
test_src="videotestsrc num-buffers=3 ! video/x-raw,format=BGR,width=64,height=48"
expect_error sink-slash "stream='a/b' is not a valid stream name" $test_src ! shmframesink stream=a/b
expect_error sink-no-stream "no stream name: set the 'stream' property" $test_src ! shmframesink
expect_error sink-slots-0 "slots=0 is out of range: use 1..64" $test_src ! shmframesink stream="$s" slots=0
expect_error sink-slots-65 "slots=65 is out of range" $test_src ! shmframesink stream="$s" slots=65
expect_error sink-consumers-0 "max-consumers=0 is out of range" $test_src ! shmframesink stream="$s" max-consumers=0
expect_error sink-mode "mode=0400 is not a permission set that includes owner read\+write" $test_src ! shmframesink stream="$s" mode=0400
expect_error sink-caps "could not link|not-negotiated|not negotiated" videotestsrc num-buffers=3 ! video/x-raw,format=Y444 ! shmframesink stream="$s"
expect_error src-dotdot "stream='\.\.' is not a valid stream name" shmframesrc stream=.. ! fakesink
expect_error src-no-stream "no stream name: set the 'stream' property" shmframesrc ! fakesink
new_stream missing
expect_error src-missing "stream '$missing' did not appear within timeout=300 ms" shmframesrc stream="$missing" timeout=300 ! fakesink
expect_error src-mode "could not set property \"mode\"|mode" shmframesrc stream="$s" mode=sometimes ! fakesink
expect_error src-readonly-lossless "lossless delivery needs .*write access" \
  shmframesrc stream="$s" access=read-only mode=lossless ! fakesink

# A source waiting for a stream that never comes must still stop when asked: gst-launch-1.0 sets
# the pipeline to NULL on SIGINT, which unlocks the source's wait (unlock(): Reader::interrupt()).
# A source that ignored it would hang until `timeout` (rc 124). How fast: tests/gst/unlock.sh.
new_stream waiting
bg "$work/src-unlock.log" gst-launch-1.0 shmframesrc stream="$waiting" ! fakesink
unlock_pid=$last_pid
wait_for "Setting pipeline to PLAYING" "$work/src-unlock.log"
signal_cmd INT "$unlock_pid"
reap "$unlock_pid"
((rc == 0)) || fail "src-unlock: gst-launch-1.0 exited with $rc after SIGINT, expected 0 (the wait interrupted)"
echo "src-unlock: a source waiting for a missing stream stopped on SIGINT"

# A stream another producer owns: the sink names the owner; a reader that wants another format
# than the stream has is told to convert.
bg "$work/producer.log" "$producer" --name "$s" --width 64 --height 48 --format bgr8 --fps 30 --frames 3000
producer_pid=$last_pid
wait_for "stream '$s' generation [0-9]*:" "$work/producer.log"
expect_error sink-owned "cannot create stream '$s'.*(owned|owner)" $test_src ! shmframesink stream="$s"
expect_error src-caps "downstream does not accept stream '$s' as video/x-raw, format=\(string\)BGR.*videoconvert" \
  shmframesrc stream="$s" ! video/x-raw,format=GRAY8 ! fakesink
# Read-only: it holds no frame, so every buffer is a copy (never a view the producer may overwrite).
bg "$work/src-ro.log" env GST_DEBUG=shmframesrc:INFO gst-launch-1.0 shmframesrc stream="$s" access=read-only \
  num-buffers=5 ! fakesink
ro_pid=$last_pid
reap "$ro_pid"
((rc == 0)) || fail "src-read-only: gst-launch-1.0 exited with $rc"
grep -qE "stopped: 0 frames pushed zero-copy, 5 copied" "$work/src-ro.log" ||
  fail "src-read-only: expected 5 copied buffers: $(grep -o 'stopped: .*' "$work/src-ro.log")"
echo "src-read-only: 5 buffers, all copies"
# Another owner expected than the stream's: an error naming both.
expect_error src-owner "owned by uid $(id -u), not by the expected uid 4242" shmframesrc stream="$s" expect-owner=4242 ! fakesink
kill -TERM "$producer_pid"
reap "$producer_pid"

# An error that waiting cures (Event::fatal() false) is reported and survived: an object at the
# name that never becomes READY (no creator: init_timeout after 2 s) posts 'shmframe-error' and
# the source goes on waiting; the producer that replaces the object is followed. A fatal error
# (above: a stream that is not there in time, read-only lossless) ends the pipeline instead.
new_stream z
head -c 4096 /dev/zero >"/dev/shm/shmframe.$z"
chmod 600 "/dev/shm/shmframe.$z"
bg "$work/src-transient.log" gst-launch-1.0 -m shmframesrc stream="$z" num-buffers=3 ! fakesink
transient_pid=$last_pid
wait_for "shmframe-error.*initializing" "$work/src-transient.log"
bg "$work/producer-z.log" "$producer" --name "$z" --width 64 --height 48 --fps 30 --frames 3000
z_pid=$last_pid
wait_for "shmframe-attached" "$work/src-transient.log"
# The attached message carries the stream's fields, named as shmframe-consumer --status names them.
grep -E "shmframe-attached.*width=\(guint64\)64.*producer_pid=\(gint64\)[1-9][0-9]*" "$work/src-transient.log" >/dev/null ||
  fail "src-transient: the attached message lacks width / producer_pid: $(grep -m1 shmframe-attached "$work/src-transient.log")"
reap "$transient_pid"
((rc == 0)) || fail "src-transient: gst-launch-1.0 exited with $rc, expected 0 (3 buffers after the error)"
echo "src-transient: 'still initializing' reported, then the new producer's frames"
kill -TERM "$z_pid"
reap "$z_pid"
