#!/bin/bash
# The written contract, checked: tests/interop/docreader.py is a read-only consumer written from
# docs/ABI.md, docs/PROTOCOL.md and docs/RELIABILITY.md alone (no shmframe code). Against the real
# producer, next to the C++ probe, it must see every frame whole (the test pattern), agree with the
# probe's crc32 on every frame both took, see seqs increase, see a clean close, and follow a
# producer that was SIGKILLed and replaced (producer_lost, then a new generation).
#
# Environment: SHMFRAME_PRODUCER, SHMFRAME_CONSUMER (the binaries; ctest passes them),
# SHMFRAME_DOCREADER_PYTHON (default /usr/bin/python3: standard library only).
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
PRODUCER=${SHMFRAME_PRODUCER:?set SHMFRAME_PRODUCER to shmframe-producer}
CONSUMER=${SHMFRAME_CONSUMER:?set SHMFRAME_CONSUMER to shmframe-consumer}
PY=${SHMFRAME_DOCREADER_PYTHON:-/usr/bin/python3}
READER="$HERE/docreader.py"
PREFIX="docreader-$$"
WORK=$(mktemp -d /tmp/shmframe-docreader.XXXXXX)
PIDS=()
FAILED=0
pub=""

cleanup() {
  local p
  for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
  rm -f /dev/shm/shmframe."$PREFIX"-* /dev/shm/shmframe-lock."$PREFIX"-*
  [ -n "$pub" ] && rm -rf "$pub"
  if [ "$FAILED" = 0 ]; then rm -rf "$WORK"; else echo "logs kept in $WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

fail() { echo "FAIL: $*"; FAILED=1; exit 1; }

# wait_exit PID SECONDS: bounded wait for a child to end; prints nothing, returns its status (or 124).
wait_exit() {
  local pid=$1 deadline=$((SECONDS + $2))
  while kill -0 "$pid" 2>/dev/null; do
    if ! ps -o stat= -p "$pid" 2>/dev/null | grep -qv Z; then break; fi   # a zombie: done
    [ $SECONDS -ge $deadline ] && return 124
    sleep 0.05
  done
  wait "$pid"
}

# wait_for SECONDS CMD...: poll a condition (bounded)
wait_for() {
  local deadline=$((SECONDS + $1)); shift
  until "$@"; do
    [ $SECONDS -ge $deadline ] && return 1
    sleep 0.05
  done
}

count() { grep -c "\"event\":\"$2\"" "$1" 2>/dev/null || true; }
has_at_least() { [ "$(count "$1" "$2")" -ge "$3" ]; }

# compare DOC PROBE MIN_COMMON [any]: pattern_ok (not with "any": pictures other than the test
# pattern), increasing seqs, crc and origin parity on common seqs
compare() {
  "$PY" - "$@" <<'EOF'
import json, sys
doc, probe, min_common = sys.argv[1], sys.argv[2], int(sys.argv[3])
any_picture = len(sys.argv) > 4 and sys.argv[4] == "any"
def lines(p):
    out = []
    for l in open(p):
        l = l.strip()
        if l.startswith("{"):
            out.append(json.loads(l))
    return out
d = [o for o in lines(doc) if o.get("event") == "frame"]
p = {o["seq"]: o for o in lines(probe) if o.get("event") == "frame"}
errs = []
if not d: errs.append("docreader saw no frame")
bad = [o for o in lines(doc) if o.get("event") in ("corrupt", "error")]
if bad: errs.append(f"docreader reported {bad[:3]}")
for o in d:
    # jpeg: the docreader cannot decode (standard library only): its crc must match the probe's,
    # whose --verify decodes and checks the picture.
    if o.get("valid") and o.get("pattern_ok") is not True and o.get("format") != "jpeg" and not any_picture:
        errs.append(f"seq {o['seq']}: pattern_ok {o.get('pattern_ok')} {o.get('mismatch')}")
key = [(o["generation"], o["seq"]) for o in d]
if any(b <= a for a, b in zip(key, key[1:])):
    errs.append(f"docreader's (generation, seq) do not increase: {key}")
common = [o for o in d if o["seq"] in p]
for o in common:
    if o["crc32"] != p[o["seq"]]["crc32"]:
        errs.append(f"seq {o['seq']}: crc32 docreader {o['crc32']} != probe {p[o['seq']]['crc32']}")
    for k in ("origin_stream", "origin_seq", "origin_generation", "hops"):
        if k in o and o[k] != p[o["seq"]].get(k):
            errs.append(f"seq {o['seq']}: {k} docreader {o[k]} != probe {p[o['seq']].get(k)}")
if len(common) < min_common:
    errs.append(f"only {len(common)} frames in common with the probe (want >= {min_common})")
print(f"  docreader {len(d)} frames, probe {len(p)}, common {len(common)}, crc mismatches "
      f"{sum(1 for e in errs if 'crc32' in e)}")
for e in errs[:20]: print("  " + e)
sys.exit(1 if errs else 0)
EOF
}

# ---- 1. parity with the C++ probe, four formats and a padded stride
run_format() {  # NAME-SUFFIX FORMAT [extra producer args]
  local s="$PREFIX-$1" fmt=$2; shift 2
  local dir="$WORK/$s"; mkdir -p "$dir"
  # An odd size where the format allows it (it exercises every rounding); even for 4:2:x.
  local size=(--width 321 --height 67)
  case $fmt in yuyv|uyvy|nv12|i420) size=(--width 320 --height 66) ;; esac
  echo "case $s: --format $fmt ${size[*]} $*"
  "$PRODUCER" --name "$s" --fps 100 "${size[@]}" --format "$fmt" "$@" >"$dir/producer.log" 2>&1 &
  local prod=$!; PIDS+=("$prod")
  "$CONSUMER" --name "$s" --processor probe --verify --every-frame --frames 80 --timeout-ms 15000 \
    >"$dir/probe.jsonl" 2>"$dir/probe.log" &
  local probe=$!; PIDS+=("$probe")
  "$PY" "$READER" --name "$s" --frames 60 --timeout 15 --verify --every-frame \
    >"$dir/doc.jsonl" 2>"$dir/doc.log" &
  local doc=$!; PIDS+=("$doc")
  wait_exit "$doc" 40; local rc=$?
  [ $rc = 0 ] || { cat "$dir/doc.log"; tail -3 "$dir/doc.jsonl"; fail "$s: docreader exited $rc"; }
  wait_exit "$probe" 40; rc=$?
  [ $rc = 0 ] || { cat "$dir/probe.log"; fail "$s: probe exited $rc"; }
  kill -TERM "$prod"; wait_exit "$prod" 10; rc=$?
  [ $rc = 0 ] || { cat "$dir/producer.log"; fail "$s: producer exited $rc on SIGTERM"; }
  grep -q '"event":"attached"' "$dir/doc.jsonl" || fail "$s: no attached event"
  grep -q "\"format\":\"$fmt\"" "$dir/doc.jsonl" || fail "$s: docreader did not report format $fmt"
  compare "$dir/doc.jsonl" "$dir/probe.jsonl" 20 || fail "$s: docreader and probe disagree"
}

run_format bgr8 bgr8
run_format rgb8 rgb8
run_format bgra8 bgra8
run_format gray8 gray8
# Camera-native formats (ABI.md "Pixel formats"): planes, strides, payload_bytes, each format's
# storage rule of the pattern; jpeg by crc parity with the probe, which decodes and verifies it.
for fmt in rgba8 gray16 yuyv uyvy nv12 i420 bayer_rggb8 bayer_bggr8 bayer_grbg8 bayer_gbrg8 jpeg; do
  run_format "$fmt" "$fmt"
done
run_format nv12-a128 nv12 --stride-align 128
run_format i420-a128 i420 --stride-align 128
grep -q '"planes":\[\[0,384,320,66\],\[25344,384,320,33\]\]' "$WORK/$PREFIX-nv12-a128/doc.jsonl" ||
  fail "nv12 --stride-align 128: planes are not (0, 384) and (384 * 66, 384): $(grep -m1 attached "$WORK/$PREFIX-nv12-a128/doc.jsonl")"
grep -q '"planes":\[\[0,384,320,66\],\[25344,256,160,33\],\[33792,256,160,33\]\]' "$WORK/$PREFIX-i420-a128/doc.jsonl" ||
  fail "i420 --stride-align 128: planes: $(grep -m1 attached "$WORK/$PREFIX-i420-a128/doc.jsonl")"
if "$PRODUCER" --help 2>&1 | grep -q -- --stride-align; then
  run_format rgb8-a64 rgb8 --stride-align 64
  run_format gray8-a64 gray8 --stride-align 64
  grep -q '"stride":1024' "$WORK/$PREFIX-rgb8-a64/doc.jsonl" || fail "--stride-align 64: stride is not 1024"
fi

# ---- 1b. a stage's output carries an origin record (ABI.md "Origin record", slot flags bit 0):
# the docreader reads it from the documents and must agree with the probe on every frame
s="$PREFIX-stage"; out="$PREFIX-stage-out"; dir="$WORK/$s"; mkdir -p "$dir"
echo "case $s: a stage's output (edge plugin), origin records"
"$PRODUCER" --name "$s" --fps 100 --width 320 --height 240 >"$dir/producer.log" 2>&1 &
prod=$!; PIDS+=("$prod")
"$CONSUMER" --name "$s" --plugin "${SHMFRAME_EDGE_PLUGIN:?set SHMFRAME_EDGE_PLUGIN to shmframe-edge.so}" \
  --output "$out" >"$dir/stage.log" 2>&1 &
stage=$!; PIDS+=("$stage")
"$CONSUMER" --name "$out" --processor probe --every-frame --frames 80 --timeout-ms 15000 \
  >"$dir/probe.jsonl" 2>"$dir/probe.log" &
probe=$!; PIDS+=("$probe")
"$PY" "$READER" --name "$out" --frames 60 --timeout 15 --every-frame >"$dir/doc.jsonl" 2>"$dir/doc.log" &
doc=$!; PIDS+=("$doc")
wait_exit "$doc" 40 || { cat "$dir/doc.log"; fail "$s: docreader failed"; }
wait_exit "$probe" 40 || { cat "$dir/probe.log"; fail "$s: probe failed"; }
kill -TERM "$stage" "$prod"; wait_exit "$stage" 10; wait_exit "$prod" 10
compare "$dir/doc.jsonl" "$dir/probe.jsonl" 20 any || fail "$s: docreader and probe disagree"
grep -q "\"origin_stream\":\"$s\",.*\"hops\":1" "$dir/doc.jsonl" ||
  fail "$s: the docreader found no origin record naming $s with hops 1: $(grep -m1 '"frame"' "$dir/doc.jsonl")"

# ---- 2. a clean close (SIGTERM) is reported as closed
s="$PREFIX-close"; dir="$WORK/$s"; mkdir -p "$dir"
echo "case $s: SIGTERM -> closed"
"$PRODUCER" --name "$s" --fps 100 --width 321 --height 67 >"$dir/producer.log" 2>&1 &
prod=$!; PIDS+=("$prod")
"$PY" "$READER" --name "$s" --frames 1000000 --timeout 15 --verify --exit-on-close >"$dir/doc.jsonl" 2>"$dir/doc.log" &
doc=$!; PIDS+=("$doc")
wait_for 20 has_at_least "$dir/doc.jsonl" frame 10 || fail "$s: docreader took no 10 frames"
kill -TERM "$prod"; wait_exit "$prod" 10 || fail "$s: producer did not exit 0 on SIGTERM"
wait_exit "$doc" 10; rc=$?
[ $rc = 0 ] || { cat "$dir/doc.log"; fail "$s: docreader exited $rc after the close"; }
grep -q '"event":"closed"' "$dir/doc.jsonl" || fail "$s: no closed event"
compare "$dir/doc.jsonl" /dev/null 0 || fail "$s"

# ---- 3. SIGKILL + a new producer: producer_lost, then the new generation
s="$PREFIX-restart"; dir="$WORK/$s"; mkdir -p "$dir"
echo "case $s: SIGKILL, lost, new producer -> new generation"
"$PRODUCER" --name "$s" --fps 100 --width 321 --height 67 --heartbeat-ms 50 >"$dir/producer1.log" 2>&1 &
prod=$!; PIDS+=("$prod")
"$PY" "$READER" --name "$s" --frames 1000000 --timeout 15 --verify --exit-on-close >"$dir/doc.jsonl" 2>"$dir/doc.log" &
doc=$!; PIDS+=("$doc")
wait_for 20 has_at_least "$dir/doc.jsonl" frame 10 || fail "$s: docreader took no 10 frames"
kill -KILL "$prod"; wait "$prod" 2>/dev/null     # reaped at once: the pid is gone, not a zombie
wait_for 10 has_at_least "$dir/doc.jsonl" producer_lost 1 || fail "$s: no producer_lost event"
"$PRODUCER" --name "$s" --fps 100 --width 200 --height 50 --format bgra8 >"$dir/producer2.log" 2>&1 &
prod=$!; PIDS+=("$prod")
wait_for 20 has_at_least "$dir/doc.jsonl" attached 2 || fail "$s: docreader did not attach the new producer"
n=$(count "$dir/doc.jsonl" frame)
wait_for 20 has_at_least "$dir/doc.jsonl" frame $((n + 10)) || fail "$s: no frames from the new producer"
kill -TERM "$prod"; wait_exit "$prod" 10 || fail "$s: second producer did not exit 0 on SIGTERM"
wait_exit "$doc" 10; rc=$?
[ $rc = 0 ] || { cat "$dir/doc.log"; fail "$s: docreader exited $rc"; }
"$PY" - "$dir/doc.jsonl" <<'EOF' || fail "$s: generations"
import json, sys
ev = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
att = [e for e in ev if e["event"] == "attached"]
assert len(att) == 2 and att[0]["generation"] != att[1]["generation"], att
assert att[1]["format"] == "bgra8" and att[1]["width"] == 200, att[1]
fr = [e for e in ev if e["event"] == "frame"]
assert {e["generation"] for e in fr} == {a["generation"] for a in att}, "frames of both generations"
assert ev[-1]["event"] == "closed" and ev[-1]["generation"] == att[1]["generation"], ev[-1]
print(f"  generations {att[0]['generation']} -> {att[1]['generation']}, {len(fr)} frames")
EOF
compare "$dir/doc.jsonl" /dev/null 0 || fail "$s"

# ---- 3b. the case read-only consumers exist for: another user, a 0644 stream (as root only)
if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null && id nobody >/dev/null 2>&1; then
  s="$PREFIX-other-user"; dir="$WORK/$s"; mkdir -p "$dir"
  echo "case $s: --mode 0644, docreader as nobody"
  pub=$(mktemp -d /tmp/shmframe-docreader-pub.XXXXXX); chmod 755 "$pub"; cp "$READER" "$pub/"; chmod 644 "$pub/docreader.py"
  "$PRODUCER" --name "$s" --fps 100 --width 321 --height 67 --format rgb8 --mode 0644 >"$dir/producer.log" 2>&1 &
  prod=$!; PIDS+=("$prod")
  setpriv --reuid=nobody --regid=nogroup --clear-groups "$PY" "$pub/docreader.py" --name "$s" --frames 20 \
    --timeout 15 --verify >"$dir/doc.jsonl" 2>"$dir/doc.log" &
  doc=$!; PIDS+=("$doc")
  wait_exit "$doc" 40; rc=$?
  rm -rf "$pub"; pub=""
  [ $rc = 0 ] || { cat "$dir/doc.log"; fail "$s: docreader as nobody exited $rc"; }
  kill -TERM "$prod"; wait_exit "$prod" 10 || fail "$s: producer did not exit 0 on SIGTERM"
  compare "$dir/doc.jsonl" /dev/null 0 || fail "$s"
fi

# ---- 4. errors: no stream (bounded), a stream that is not shmframe, an ABI mismatch
s="$PREFIX-missing"
echo "case errors"
"$PY" "$READER" --name "$s" --frames 1 --timeout 0.5 >"$WORK/missing.jsonl" 2>&1; rc=$?
[ $rc = 3 ] || fail "missing stream: exit $rc, expected 3"
s="$PREFIX-abi"
"$PY" - "/dev/shm/shmframe.$s" <<'EOF'
import struct, sys
h = bytearray(4096)
struct.pack_into("<QIII", h, 0, 0x454D4152464D4853, 99, 512, 2)
open(sys.argv[1], "wb").write(h)
EOF
"$PY" "$READER" --name "$s" --frames 1 --timeout 2 >"$WORK/abi.jsonl" 2>&1; rc=$?
[ $rc = 5 ] || { cat "$WORK/abi.jsonl"; fail "ABI mismatch: exit $rc, expected 5"; }
grep -q "version 99" "$WORK/abi.jsonl" && grep -q "version 7" "$WORK/abi.jsonl" || fail "ABI mismatch: message does not name both versions"
s="$PREFIX-junk"
head -c 4096 /dev/zero | tr '\0' 'x' >"/dev/shm/shmframe.$s"
"$PY" "$READER" --name "$s" --frames 1 --timeout 2 >"$WORK/junk.jsonl" 2>&1; rc=$?
[ $rc = 6 ] || { cat "$WORK/junk.jsonl"; fail "not a shmframe segment: exit $rc, expected 6"; }

s="$PREFIX-sparse"   # a valid header on a sparse object: refused before its holes are touched
"$PY" - "/dev/shm/shmframe.$s" <<'EOF2'
import struct, sys
h = bytearray(512)
struct.pack_into("<QIIIIQQiIQQ", h, 0, 0x454D4152464D4853, 7, 512, 2, 0, 12288, 1, 1, 0, 0, 0)
struct.pack_into("<IIIIIIIIQQQQQQQ", h, 128, 4, 2, 4, 1, 1, 1, 1, 0, 8, 4096, 8192, 4096, 512, 128, 100_000_000)
struct.pack_into("<II", h, 216, 1, 0)                  # plane_count 1
struct.pack_into("<QIIII", h, 224, 0, 4, 4, 2, 0)     # plane 0: 2 rows of 4 bytes
with open(sys.argv[1], "wb") as f:
    f.write(h)
    f.truncate(12288)
EOF2
"$PY" "$READER" --name "$s" --frames 1 --timeout 2 >"$WORK/sparse.jsonl" 2>&1; rc=$?
[ $rc = 7 ] && grep -q "not fully backed" "$WORK/sparse.jsonl" || { cat "$WORK/sparse.jsonl"; fail "sparse object: exit $rc, expected 7"; }
s="$PREFIX-link"
ln -s "/dev/shm/shmframe.$PREFIX-sparse" "/dev/shm/shmframe.$s"
"$PY" "$READER" --name "$s" --frames 1 --timeout 2 >"$WORK/link.jsonl" 2>&1; rc=$?
[ $rc = 6 ] || { cat "$WORK/link.jsonl"; fail "a symbolic link at the name: exit $rc, expected 6"; }
"$PY" "$READER" --name "../etc" --frames 1 --timeout 1 >"$WORK/badname.jsonl" 2>&1; rc=$?
[ $rc = 2 ] || { cat "$WORK/badname.jsonl"; fail "an invalid name: exit $rc, expected 2"; }

echo "PASS"
