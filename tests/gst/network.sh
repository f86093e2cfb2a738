#!/usr/bin/env bash
# gst test 5: a stream crosses "hosts" through GStreamer's stock network elements, on loopback.
#   host A: videotestsrc ! shmframesink stream=A                       (the local stream)
#           shmframesrc stream=A ! videoconvert ! I420 ! jpegenc ! rtpjpegpay ! udpsink
#           (I420: rtpjpegpay carries YUV JPEGs only)
#   host B: udpsrc ! rtpjpegdepay ! jpegdec ! videoconvert ! shmframesink stream=B
# On B the remote stream is an ordinary local one: the C++ Reader (shmframe-gst-check psnr) takes
# 20 frames of B and checks their size and format and their PSNR >= 30 dB against the source
# picture (the static "gamut" pattern, dumped once by videotestsrc into a file). The I420 in
# front of jpegenc is full range (colorimetry 1:4:0:0), as JPEG assumes: limited-range input
# comes back with the wrong levels (white as 235, not 255: about 22 dB). The pattern is
# smooth: sharp colour edges (SMPTE bars) lose about 28 dB to 4:2:0 chroma subsampling alone.
source "$(dirname "$0")/lib.sh"
gst_init network

new_stream a
new_stream b
w=320 h=240
caps="video/x-raw,format=BGR,width=$w,height=$h"
timeout "$bound_s" gst-launch-1.0 -q videotestsrc pattern=gamut num-buffers=1 ! "$caps" ! filesink location="$work/ref.raw" \
  >"$work/ref.log" 2>&1 || fail "could not dump the reference frame"
# A port of our own among many; a clash with another test run fails udpsrc loudly, not silently.
port=$((20000 + ($$ * 7 + RANDOM) % 40000))

bg "$work/a-sink.log" gst-launch-1.0 videotestsrc is-live=true pattern=gamut ! "$caps,framerate=30/1" ! shmframesink stream="$a"
bg "$work/b-receiver.log" gst-launch-1.0 udpsrc address=127.0.0.1 port=$port \
  caps="application/x-rtp,media=video,clock-rate=90000,encoding-name=JPEG,payload=26" \
  ! rtpjpegdepay ! jpegdec ! videoconvert ! video/x-raw,format=BGR ! shmframesink stream="$b"
bg "$work/a-sender.log" gst-launch-1.0 shmframesrc stream="$a" ! videoconvert ! "video/x-raw,format=I420,colorimetry=1:4:0:0" ! jpegenc quality=90 ! rtpjpegpay \
  ! udpsink host=127.0.0.1 port=$port
"$check" psnr "$b" "$work/ref.raw" $w $h bgr8 20 $((bound_s * 1000)) 30 >"$work/psnr.log" 2>&1 ||
  fail "the remote stream failed the check: $(tail -n 3 "$work/psnr.log")"
echo "remote stream: $(grep -c PSNR "$work/psnr.log") frames of ${w}x${h}; $(tail -n 1 "$work/psnr.log")"
