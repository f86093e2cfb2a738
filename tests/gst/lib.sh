# shellcheck shell=bash
# tests/gst/lib.sh: sourced by the GStreamer tests (tests/gst/*.sh, ctest label gst).
#
# Environment (tests/CMakeLists.txt sets it): SHMFRAME_GST_PLUGIN_DIR (the build's plugin folder,
# holding libgstshmframe.so alone), SHMFRAME_PRODUCER, SHMFRAME_CONSUMER, SHMFRAME_GST_CHECK
# (tests/gst/gst_check.cpp), SHMFRAME_GST_WORK (scratch space; a test's directory is kept there
# for inspection after a failure).
#
#   gst_init NAME          scratch dir `work`, a private plugin registry, the EXIT trap; checks
#                          that gst-inspect-1.0 finds the plugin of this build, not an installed one
#   new_stream VAR         sets VAR to a unique stream name, removed with its lock at exit (not
#                          `$(new_stream)`: a subshell could not record it for the EXIT trap)
#   bg LOG CMD...          runs CMD (bounded by `timeout`) in the background, stdout+stderr to
#                          LOG; its pid is stopped and reaped at exit. Sets `last_pid`
#   wait_for REGEX LOG [S] waits until a line of LOG matches REGEX (tail -F: inotify, no sleep
#                          loop), at most S seconds (default bound_s); fails otherwise
#   crash PID              SIGKILL to a process started by bg: to its process group, since
#                          `timeout` (whose pid bg knows) would not pass SIGKILL on
#   signal_cmd SIG PID     SIG to the command that bg started under `timeout` (not to timeout:
#                          it would pass SIG on to its whole process group, so the command could
#                          get it twice; gst-launch-1.0 -e ends with EOS on the first SIGINT and
#                          dies on the second)
#   reap PID               waits for PID; sets `rc` to its exit status (not in a $(...):
#                          a subshell cannot wait for its parent's children)
#   fail MESSAGE           prints the message (and the logs) and exits 1
#
# Every process runs under `timeout`; the EXIT trap kills what still runs (TERM, then KILL after
# the bound), reaps it, and unlinks every stream the test named, whether the test passed or not.
set -euo pipefail

bound_s="${SHMFRAME_GST_BOUND_S:-60}"
: "${SHMFRAME_GST_PLUGIN_DIR:?set by ctest (tests/CMakeLists.txt)}"
: "${SHMFRAME_PRODUCER:?}" "${SHMFRAME_CONSUMER:?}" "${SHMFRAME_GST_CHECK:?}"
producer="$SHMFRAME_PRODUCER"
consumer="$SHMFRAME_CONSUMER"
check="$SHMFRAME_GST_CHECK"

_gst_pids=()
_gst_streams=()

gst_init() {
  local name="$1"
  work="${SHMFRAME_GST_WORK:-${TMPDIR:-/tmp}}/$name"
  rm -rf "$work"
  mkdir -p "$work"
  # Only this build's plugin folder, and a registry of our own: never an installed copy.
  export GST_PLUGIN_PATH="$SHMFRAME_GST_PLUGIN_DIR"
  export GST_REGISTRY="$work/registry.bin"
  export GST_REGISTRY_FORK=no
  unset GST_DEBUG
  trap _gst_exit EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  # Builds the registry once (the first scan is the slow part), and checks which file it found.
  local found
  found="$(timeout "$bound_s" gst-inspect-1.0 shmframe | awk '/Filename/ {print $2}')" ||
    fail "gst-inspect-1.0 shmframe failed: is $SHMFRAME_GST_PLUGIN_DIR/libgstshmframe.so built?"
  [[ "$found" == "$SHMFRAME_GST_PLUGIN_DIR/libgstshmframe.so" ]] ||
    fail "gst-inspect-1.0 found the shmframe plugin at '$found', not in $SHMFRAME_GST_PLUGIN_DIR"
}

new_stream() {
  local _name="gsttest-$$-${RANDOM}-${#_gst_streams[@]}"
  _gst_streams+=("$_name")
  printf -v "$1" '%s' "$_name"
}

bg() {
  local log="$1"
  shift
  timeout --kill-after=5 "$bound_s" "$@" >"$log" 2>&1 &
  last_pid=$!
  _gst_pids+=("$last_pid")
}

wait_for() {
  local regex="$1" log="$2" secs="${3:-$bound_s}" fd pid line
  exec {fd}< <(exec timeout "$secs" tail -n +1 -F "$log" 2>/dev/null)
  pid=$!
  local found=1
  while IFS= read -r line <&"$fd"; do
    if [[ "$line" =~ $regex ]]; then
      found=0
      break
    fi
  done
  kill "$pid" 2>/dev/null || true
  exec {fd}<&-
  ((found == 0)) || fail "no line matching '$regex' in $log within ${secs} s"
}

crash() {
  kill -KILL -- "-$1"  # timeout runs in a process group of its own, with its command
}

signal_cmd() {
  local child
  read -r child _ <"/proc/$2/task/$2/children" || true
  [[ -n "$child" ]] || fail "process $2 has no command running under it"
  kill "-$1" "$child"
}

reap() {
  rc=0
  wait "$1" || rc=$?
}

fail() {
  echo "FAIL: $*" >&2
  local f
  for f in "$work"/*.log; do
    [[ -f "$f" ]] || continue
    echo "---- $f (last 30 lines)" >&2
    tail -n 30 "$f" >&2
  done
  exit 1
}

_gst_exit() {
  local rc=$?
  local pid s
  for pid in "${_gst_pids[@]}"; do
    kill -TERM "$pid" 2>/dev/null || true
  done
  for pid in "${_gst_pids[@]}"; do
    wait "$pid" 2>/dev/null || true  # each runs under timeout --kill-after, so this ends
  done
  for s in "${_gst_streams[@]}"; do
    rm -f "/dev/shm/shmframe.$s" "/dev/shm/shmframe-lock.$s"
  done
  if ((rc == 0)); then
    rm -rf "$work"
    echo "PASS"
  fi
  exit "$rc"
}

# probe_crcs JSONL: "seq crc" per frame line of shmframe-consumer --processor probe output.
probe_crcs() {
  sed -nE 's/.*"event":"frame".*"seq":([0-9]+).*"crc32":"([0-9a-f]{8})".*/\1 \2/p' "$1"
}
