#!/usr/bin/env bash
# Installs the Debian 12 packages shmframe needs to build and test, if any is missing.
# Usage: scripts/install-deps.sh [--bench] [--plots] [--lint] [--arm64] [--fuzz]   (as root, or with sudo available)
set -euo pipefail

# dpkg-dev (dpkg-shlibdeps) and file: what `cpack -G DEB` needs to compute the package's
# Depends, and so the package test (tests/package/deb.sh) too.
packages=(
  build-essential cmake ninja-build pkg-config git
  libopencv-dev libspdlog-dev libcli11-dev nlohmann-json3-dev zlib1g-dev libgtest-dev relacy-dev
  # JPEG in the apps (the jpeg test pattern, its verification): libjpeg-turbo's TurboJPEG API.
  libturbojpeg0-dev
  dpkg-dev file
  # shmframe-viewer's window test: an X server of its own (Xvfb), xwd to read the screen back,
  # xwininfo for the window's geometry.
  xvfb x11-apps x11-utils
  # The Python module (python/) and its tests: pybind11 and the interpreter's headers to build
  # it, numpy at run time, pytest for tests/python, cv2 for samples/python.
  python3-dev pybind11-dev python3-numpy python3-pytest python3-opencv
  # The GStreamer plugin (gst/) and its tests (tests/gst): headers, gst-launch-1.0 /
  # gst-inspect-1.0, videotestsrc/videoconvert/appsink (base), jpegenc/jpegdec/rtpjpegpay/udpsrc/v4l2src
  # (good), rgb2bayer (bad: the Bayer caps in tests/gst/formats.sh).
  libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev gstreamer1.0-tools
  gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad
  # shmframe-web (viewer/web): Boost.Beast/Asio (header-only). Its tests read it with clients
  # nobody here wrote: ffprobe (ffmpeg), souphttpsrc (plugins-good, above), promtool
  # (prometheus), headless Chromium.
  libboost-dev ffmpeg prometheus chromium curl
)
# --bench: the baselines shmframe-bench compares against; --plots: what bench/plot.py needs;
# --lint: what scripts/lint.sh runs (version 14: .clang-format is tuned to it).
for arg in "$@"; do
  case "$arg" in
    # gstreamer1.0-plugins-bad: shmsink/shmsrc, the baseline of shmframe-gst-bench.
    --bench) packages+=(libzmq3-dev iceoryx libiceoryx-posh-dev gstreamer1.0-plugins-bad) ;;
    --plots) packages+=(python3-matplotlib) ;;
    --lint) packages+=(clang-format-14 clang-tidy-14 python3) ;;  # python3: scripts/check-sync.py
    # --arm64: cross-build and run the tests for 64-bit ARM (CMakePresets.json: aarch64).
    --arm64) packages+=(g++-aarch64-linux-gnu qemu-user-static libgtest-dev:arm64) ;;
    # --fuzz: the libFuzzer targets (tests/fuzz, preset fuzz): clang and its runtime (libFuzzer).
    --fuzz) packages+=(clang-14 libclang-rt-14-dev) ;;
    *) echo "usage: $0 [--bench] [--plots] [--lint] [--arm64] [--fuzz]" >&2; exit 2 ;;
  esac
done

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]} == 0)); then
  exit 0
fi
echo "shmframe: installing ${missing[*]}" >&2
SUDO=""
if [[ $(id -u) -ne 0 ]]; then
  command -v sudo >/dev/null || { echo "shmframe: run as root (or install sudo) to install: ${missing[*]}" >&2; exit 1; }
  SUDO=sudo
fi
export DEBIAN_FRONTEND=noninteractive
# Packages of another architecture (name:arch) need it enabled before the update.
for p in "${missing[@]}"; do
  if [[ $p == *:* ]] && ! dpkg --print-foreign-architectures | grep -qx "${p##*:}"; then
    $SUDO dpkg --add-architecture "${p##*:}"
  fi
done
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
