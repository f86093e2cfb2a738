# shellcheck shell=bash
# tests/package/streams.sh: sourced by the package tests (run.sh, deb.sh). Runs a reader of a
# stream against a real producer, bounded, and leaves no process and no /dev/shm object behind.
#
#   work_init [DIR]          the scratch directory `work` (DIR, or a temporary one removed at exit)
#   stream_init              picks a unique stream name (SHMFRAME_TEST_STREAM), installs the
#                            EXIT trap that stops what is still running and unlinks the segment
#                            and lock, then runs stream_cleanup_extra if the caller defined it
#   run_reader_against_producer PRODUCER OUT -- READER...
#                            starts READER (stdout to OUT, stderr to OUT.err) first, in the
#                            background, then PRODUCER --name SHMFRAME_TEST_STREAM; waits for the
#                            reader to exit, then stops the producer (SIGTERM: it closes the
#                            stream and exits 0). Fails unless both exit 0.
#
# Why the producer is stopped rather than given a few frames: a producer that sends
# `--frames 5 --fps 0` closes and removes its stream within a millisecond, before a reader that
# started first has necessarily attached; the reader would then wait for a stream that is gone.
# Waiting for the reader's exit instead needs no sleep and no guess at how fast it attaches.
# Bounds: every process runs under `timeout` (SHMFRAME_TEST_BOUND_S, default 30 s).

stream_bound_s="${SHMFRAME_TEST_BOUND_S:-30}"

# work_init [DIR]: sets `work` to DIR (emptied first, left in place for inspection) or to a new
# temporary directory removed at exit (through stream_cleanup_extra). Call before stream_init.
work_init() {
  if [[ -n "${1:-}" ]]; then
    work="$1"
    rm -rf "$work"
    mkdir -p "$work"
  else
    work="$(mktemp -d)"
    stream_cleanup_extra() { rm -rf "$work"; }
  fi
}
_stream_pids=()

stream_init() {
  SHMFRAME_TEST_STREAM="pkgtest-$$-${RANDOM}"
  trap _stream_exit EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
}

_stream_exit() {
  local rc=$?
  local pid
  for pid in "${_stream_pids[@]}"; do
    kill -TERM "$pid" 2>/dev/null || true
  done
  for pid in "${_stream_pids[@]}"; do
    wait "$pid" 2>/dev/null || true  # each one runs under `timeout`, so this wait ends
  done
  if [[ -n "${SHMFRAME_TEST_STREAM:-}" ]]; then
    rm -f "/dev/shm/shmframe.$SHMFRAME_TEST_STREAM" "/dev/shm/shmframe-lock.$SHMFRAME_TEST_STREAM"
  fi
  if declare -F stream_cleanup_extra >/dev/null; then
    stream_cleanup_extra || true
  fi
  exit "$rc"
}

# $1: producer binary; $2: reader's stdout file; $3: --; the rest: the reader's command line.
run_reader_against_producer() {
  local producer="$1" out="$2"
  shift 3
  local name="$SHMFRAME_TEST_STREAM"
  timeout "$stream_bound_s" "$@" >"$out" 2>"$out.err" &
  local reader=$!
  _stream_pids+=("$reader")
  # Small frames at a modest rate: the reader is never short of frames, the CPU is shared.
  timeout "$stream_bound_s" "$producer" --name "$name" --width 320 --height 240 --fps 100 \
    --frames $((stream_bound_s * 100)) >"$out.producer" 2>&1 &
  local producer_pid=$!
  _stream_pids+=("$producer_pid")

  local reader_rc=0 producer_rc=0
  wait "$reader" || reader_rc=$?
  kill -TERM "$producer_pid" 2>/dev/null || true  # it may have finished its frames already
  wait "$producer_pid" || producer_rc=$?
  _stream_pids=()

  if ((reader_rc != 0)); then
    echo "FAIL: reader exited $reader_rc$( ((reader_rc == 124)) && echo " (killed after ${stream_bound_s} s)"): $*" >&2
    echo "--- its stdout:" >&2; cat "$out" >&2
    echo "--- its stderr:" >&2; cat "$out.err" >&2
    echo "--- the producer's output:" >&2; cat "$out.producer" >&2
    return 1
  fi
  if ((producer_rc != 0)); then
    echo "FAIL: producer exited $producer_rc: $producer --name $name" >&2
    cat "$out.producer" >&2
    return 1
  fi
  if [[ -e "/dev/shm/shmframe.$name" ]]; then
    echo "FAIL: /dev/shm/shmframe.$name is left after the producer closed the stream" >&2
    return 1
  fi
}
