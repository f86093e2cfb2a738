#!/usr/bin/env bash
# gst test: every format GStreamer and shmframe share travels 1:1, bit-exact, with no conversion
# (issue 19). For each: `videotestsrc ! CAPS [! encoder] ! shmframesink` feeds the stream while
# `shmframesrc mode=lossless eos-on-close=true ! multifilesink` dumps every buffer; the same
# videotestsrc chain straight into multifilesink is the reference. Checks:
#   - no videoconvert anywhere: the caps reach the sink as they are, and leave the source as they were;
#   - every dumped buffer is byte-identical to the reference buffer of the same frame, in order,
#     with no gap (lossless), and at least most of the frames arrived;
#   - raw formats go zero-copy in both directions (the sink's pool and the source's pinned slots);
#   - caps the sink cannot carry (an odd NV12 size) fail naming the caps and the reason.
source "$(dirname "$0")/lib.sh"
gst_init formats

n=24
# NAME | what follows videotestsrc (no videoconvert) | raw (zero-copy expected)
cases=(
  "gray8|video/x-raw,format=GRAY8,width=322,height=240,framerate=60/1|raw"
  "gray16|video/x-raw,format=GRAY16_LE,width=320,height=240,framerate=60/1|raw"
  "bgr|video/x-raw,format=BGR,width=322,height=240,framerate=60/1|raw"
  "rgb|video/x-raw,format=RGB,width=320,height=240,framerate=60/1|raw"
  "bgra|video/x-raw,format=BGRA,width=320,height=240,framerate=60/1|raw"
  "bgrx|video/x-raw,format=BGRx,width=320,height=240,framerate=60/1|raw"
  "rgba|video/x-raw,format=RGBA,width=320,height=240,framerate=60/1|raw"
  "yuy2|video/x-raw,format=YUY2,width=322,height=240,framerate=60/1|raw"
  "uyvy|video/x-raw,format=UYVY,width=320,height=240,framerate=60/1|raw"
  "nv12|video/x-raw,format=NV12,width=322,height=242,framerate=60/1|raw"
  "i420|video/x-raw,format=I420,width=322,height=242,framerate=60/1|raw"
  "jpeg|video/x-raw,format=I420,width=320,height=240,framerate=60/1 ! jpegenc|bytes"
)
if gst-inspect-1.0 rgb2bayer >/dev/null 2>&1; then
  for b in rggb bggr grbg gbrg; do
    cases+=("bayer-$b|video/x-raw,format=ARGB,width=320,height=240,framerate=60/1 ! rgb2bayer ! video/x-bayer,format=$b|bytes")
  done
else
  echo "note: rgb2bayer (gstreamer1.0-plugins-bad) missing: Bayer caps not exercised"
fi

for c in "${cases[@]}"; do
  IFS='|' read -r name chain kind <<<"$c"
  new_stream s
  mkdir -p "$work/$name"
  # The reference: the same buffers straight to files (videotestsrc draws frame i the same each run).
  # shellcheck disable=SC2086  # the chain is words on purpose
  timeout "$bound_s" gst-launch-1.0 -q videotestsrc num-buffers=$n ! $chain ! multifilesink location="$work/$name/ref-%05d" \
    >"$work/$name/ref.log" 2>&1 || fail "$name: the reference pipeline failed"
  bg "$work/$name/src.log" env GST_DEBUG=shmframesrc:INFO,shmframesink:INFO gst-launch-1.0 shmframesrc stream="$s" \
    mode=lossless eos-on-close=true timeout=20000 ! multifilesink location="$work/$name/out-%05d"
  src_pid=$last_pid
  # shellcheck disable=SC2086
  bg "$work/$name/sink.log" env GST_DEBUG=shmframesink:INFO gst-launch-1.0 videotestsrc num-buffers=$n ! $chain \
    ! shmframesink stream="$s" slots=4
  sink_pid=$last_pid
  reap "$sink_pid"
  ((rc == 0)) || fail "$name: the sink pipeline exited with $rc"
  reap "$src_pid"
  ((rc == 0)) || fail "$name: the source pipeline exited with $rc (eos-on-close)"
  grep -q videoconvert "$work/$name/src.log" "$work/$name/sink.log" && fail "$name: a videoconvert was plugged"
  /usr/bin/python3 - "$work/$name" "$n" "$chain" <<'PY' || fail "$name: the dumped buffers are not the reference's"
import os, re, sys
d, n, chain = sys.argv[1], int(sys.argv[2]), sys.argv[3]
ru4 = lambda v: (v + 3) // 4 * 4
def visible(buf):
    """The pixel bytes of a buffer in GStreamer's default layout (row padding is undefined)."""
    caps = chain.split("!")[-1]
    fmt = re.search(r"format=(\w+)", caps)
    w = re.search(r"width=(\d+)", chain)
    h = re.search(r"height=(\d+)", chain)
    if "jpegenc" in chain or not fmt:
        return buf
    fmt, w, h = fmt.group(1), int(w.group(1)), int(h.group(1))
    bpp = {"GRAY8": 1, "GRAY16_LE": 2, "BGR": 3, "RGB": 3, "BGRA": 4, "BGRx": 4, "RGBA": 4, "YUY2": 2, "UYVY": 2}
    if fmt in bpp or "bayer" in caps:
        planes = [(0, ru4(w * bpp.get(fmt, 1)), w * bpp.get(fmt, 1), h)]
    elif fmt == "NV12":
        planes = [(0, ru4(w), w, h), (ru4(w) * h, ru4(w), w, h // 2)]
    else:  # I420
        cs = ru4(w // 2)
        planes = [(0, ru4(w), w, h), (ru4(w) * h, cs, w // 2, h // 2), (ru4(w) * h + cs * (h // 2), cs, w // 2, h // 2)]
    return b"".join(buf[o + y * s:o + y * s + rb] for o, s, rb, rows in planes for y in range(rows))
read = lambda p: visible(open(os.path.join(d, p), "rb").read())
ref = [read(f"ref-{i:05d}") for i in range(n)]
out = sorted(f for f in os.listdir(d) if f.startswith("out-"))
got = [read(f) for f in out]
assert len(got) >= n - 4, f"only {len(got)} of {n} frames arrived (lossless after the attach)"
first = ref.index(got[0]) if got[0] in ref else None
assert first is not None, f"buffer 0 ({len(got[0])} bytes) is no reference frame (sizes {sorted({len(r) for r in ref})})"
for i, g in enumerate(got):
    assert first + i < n and g == ref[first + i], f"buffer {i} is not reference frame {first + i}: torn, converted or out of order"
print(f"  {len(got)} buffers bit-exact (frames {first}..{first + len(got) - 1}), {len(got[0])} bytes each at first")
PY
  if [[ "$kind" == raw ]]; then
    sink_stats="$(grep -o 'stopped: [0-9]* frames committed in place' "$work/$name/sink.log" || true)"
    [[ "$sink_stats" =~ stopped:\ ([1-9][0-9]*)\ frames ]] || fail "$name: the sink committed nothing in place: $sink_stats"
    src_stats="$(grep -o 'stopped: [0-9]* frames pushed zero-copy' "$work/$name/src.log" || true)"
    [[ "$src_stats" =~ stopped:\ ([1-9][0-9]*)\ frames ]] || fail "$name: the source pushed nothing zero-copy: $src_stats"
  fi
  echo "$name: ok"
done

# shmframe-producer's gst: source publishes what its appsink gets, as it comes: NV12 and JPEG from
# videotestsrc arrive at the probe in that format, each frame's crc32 (every plane's visible
# bytes; a JPEG's bytes) one of the reference frames', in order.
for c in "nv12|video/x-raw,format=NV12,width=322,height=242,framerate=60/1" \
         "jpeg|video/x-raw,format=I420,width=320,height=240,framerate=60/1 ! jpegenc"; do
  IFS='|' read -r name chain <<<"$c"
  new_stream s
  mkdir -p "$work/producer-$name"
  # shellcheck disable=SC2086
  timeout "$bound_s" gst-launch-1.0 -q videotestsrc num-buffers=$n ! $chain \
    ! multifilesink location="$work/producer-$name/ref-%05d" >/dev/null 2>&1 || fail "producer-$name: reference failed"
  bg "$work/producer-$name/probe.log" "$consumer" --name "$s" --processor probe --lossless --frames 10 --timeout-ms 20000
  probe_pid=$last_pid
  bg "$work/producer-$name/producer.log" "$producer" --name "$s" --slots 4 \
    --source "gst:videotestsrc is-live=true num-buffers=$n ! $chain"
  producer_pid=$last_pid
  reap "$probe_pid"
  ((rc == 0)) || fail "producer-$name: the probe exited $rc: $(tail -3 "$work/producer-$name/probe.log")"
  reap "$producer_pid"
  ((rc == 0)) || fail "producer-$name: the producer exited $rc: $(tail -3 "$work/producer-$name/producer.log")"
  /usr/bin/python3 - "$work/producer-$name" "$n" "$name" <<'PY' || fail "producer-$name: the probe's frames are not videotestsrc's"
import json, os, sys, zlib
d, n, name = sys.argv[1], int(sys.argv[2]), sys.argv[3]
ru4 = lambda v: (v + 3) // 4 * 4
def visible(buf):  # NV12 322x242 in GStreamer's default layout; JPEG as is
    if name == "jpeg":
        return buf
    w, h, s = 322, 242, ru4(322)
    return b"".join(buf[y * s:y * s + w] for y in range(h)) + b"".join(buf[s * h + y * s:s * h + y * s + w] for y in range(h // 2))
ref = [zlib.crc32(visible(open(os.path.join(d, f"ref-{i:05d}"), "rb").read())) for i in range(n)]
frames = [json.loads(l) for l in open(os.path.join(d, "probe.log")) if l.startswith('{"event":"frame"')]
assert len(frames) == 10, f"{len(frames)} frames"
assert all(f["format"] == name for f in frames), {f["format"] for f in frames}
idx = [ref.index(int(f["crc32"], 16)) for f in frames]  # ValueError: not a reference frame
assert idx == list(range(idx[0], idx[0] + 10)), f"not consecutive: {idx}"
print(f"  shmframe-producer gst: {name}: 10 frames bit-exact, videotestsrc frames {idx[0]}..{idx[-1]}")
PY
done

# Caps no shmframe format carries as they are: an error naming the caps and why.
new_stream s
if timeout "$bound_s" gst-launch-1.0 videotestsrc num-buffers=2 ! video/x-raw,format=NV12,width=321,height=240 \
  ! shmframesink stream="$s" >"$work/odd.log" 2>&1; then
  fail "an odd-width NV12 stream was accepted"
fi
grep -q "cannot carry caps" "$work/odd.log" && grep -q "even width" "$work/odd.log" ||
  fail "the error does not name the caps and the reason: $(grep -i error "$work/odd.log" | head -3)"
echo "PASS"
