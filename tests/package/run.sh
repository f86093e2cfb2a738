#!/usr/bin/env bash
# The package test: installs a shmframe build tree into a scratch prefix, then builds and runs
# tests/package/main.cpp against it as a CMake project (find_package(shmframe)) and with plain
# g++ and `pkg-config shmframe`; when the build has the OpenCV adapter, once more each way
# through the `opencv` component and `shmframe-opencv.pc`. Then it builds samples/out-of-tree
# (the user's starting point) against the same install and, given a producer, runs it: it must
# print the frames it was asked for. The Python module, if built, must import from the install.
# Usage: tests/package/run.sh BUILD_DIR [CONFIG] [WORK_DIR]
#   CONFIG: the build's configuration (what $<CONFIG> says; may be empty); WORK_DIR: scratch space, emptied
#   first and left in place for inspection (default: a temporary directory, removed on exit).
# Environment: CXX (default g++), CMAKE_GENERATOR (default: CMake's), SHMFRAME_PRODUCER (the build
# tree's shmframe-producer; without it the out-of-tree sample is built but not run).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
build="$(cd "${1:?usage: $0 BUILD_DIR [CONFIG] [WORK_DIR]}" && pwd)"
config="${2:-}"
config_arg=()
[[ -n "$config" ]] && config_arg=(--config "$config")
# shellcheck source=streams.sh
source "$here/streams.sh"
work_init "${3:-}"
stream_init
cxx="${CXX:-g++}"
prefix="$work/prefix"

step() { echo "== package test: $*"; }

step "cmake --install $build --prefix $prefix"
cmake --install "$build" "${config_arg[@]}" --prefix "$prefix" >"$work/install.log" ||
  { cat "$work/install.log"; exit 1; }

# $1: a name for the build dir; the rest: extra configure arguments.
with_cmake() {
  local dir="$work/cmake-$1"
  shift
  cmake -S "$here" -B "$dir" -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_BUILD_TYPE="${config:-Release}" \
    -DCMAKE_CXX_COMPILER="$cxx" "$@"
  cmake --build "$dir" --config "${config:-Release}"
  local exe
  exe="$(find "$dir" -name package_test -type f -perm -u+x | head -n 1)"
  [[ -n "$exe" ]] || { echo "package test: package_test was not built in $dir" >&2; exit 1; }
  "$exe"
}

# $1: the pkg-config module.
with_pkg_config() {
  local flags
  flags="$(pkg-config --cflags --libs "$1")"
  echo "pkg-config --cflags --libs $1: $flags"
  # shellcheck disable=SC2086  # the flags are meant to split
  "$cxx" -std=c++20 "$here/main.cpp" -o "$work/package_test_$1" $flags
  "$work/package_test_$1"
}

step "find_package(shmframe REQUIRED) from a fresh CMake project"
with_cmake plain

# The build tree itself is a package (export(EXPORT ...)): no install needed. The install's
# headers must not be the ones found: the prefix is not on the path here (shmframe_DIR wins).
step "find_package(shmframe REQUIRED) against the build tree, shmframe_DIR=$build"
with_cmake buildtree -Dshmframe_DIR="$build" -DCMAKE_PREFIX_PATH=/nonexistent

# Only public headers are installed: detail/ is the library's own.
[[ -z "$(find "$prefix" -path '*/include/shmframe/detail*')" ]] ||
  { echo "package test: include/shmframe/detail was installed" >&2; exit 1; }

pc="$(find "$prefix" -name shmframe.pc | head -n 1)"
[[ -n "$pc" ]] || { echo "package test: no shmframe.pc under $prefix" >&2; exit 1; }
PKG_CONFIG_PATH="$(dirname "$pc")"
export PKG_CONFIG_PATH
step "g++ \$(pkg-config --cflags --libs shmframe), PKG_CONFIG_PATH=$PKG_CONFIG_PATH"
with_pkg_config shmframe

if [[ -n "$(find "$prefix" -name shmframeOpenCVTargets.cmake)" ]]; then
  step "find_package(shmframe REQUIRED COMPONENTS opencv), shmframe::opencv"
  with_cmake opencv -DWITH_OPENCV=ON
  step "g++ \$(pkg-config --cflags --libs shmframe-opencv)"
  with_pkg_config shmframe-opencv
else
  step "this build has no OpenCV adapter: component opencv not tried"
fi

# The Python module, when the build has one: importable from the install's site directory.
init="$(find "$prefix" -path '*/shmframe/__init__.py' | head -n 1)"
if [[ -n "$init" ]]; then
  site="$(dirname "$(dirname "$init")")"
  step "import shmframe from the install (PYTHONPATH=$site)"
  PYTHONPATH="$site" PYTHONDONTWRITEBYTECODE=1 "${SHMFRAME_PYTHON:-python3}" -c \
    'import shmframe, sys; assert shmframe.__file__.startswith(sys.argv[1]), shmframe.__file__; print(shmframe.__file__, shmframe.FORMATS)' \
    "$site"
fi

if [[ -n "$(find "$prefix" -name shmframeOpenCVTargets.cmake)" ]]; then
  oot="$work/out-of-tree"
  step "samples/out-of-tree: cmake -S samples/out-of-tree -B $oot -DCMAKE_PREFIX_PATH=$prefix"
  cmake -S "$here/../../samples/out-of-tree" -B "$oot" -DCMAKE_PREFIX_PATH="$prefix" \
    -DCMAKE_BUILD_TYPE="${config:-Release}" -DCMAKE_CXX_COMPILER="$cxx"
  cmake --build "$oot" --config "${config:-Release}"
  reader="$(find "$oot" -name frame-reader -type f -perm -u+x | head -n 1)"
  [[ -n "$reader" ]] || { echo "package test: frame-reader was not built in $oot" >&2; exit 1; }
  if [[ -n "${SHMFRAME_PRODUCER:-}" ]]; then
    step "frame-reader $SHMFRAME_TEST_STREAM 5 against $SHMFRAME_PRODUCER"
    run_reader_against_producer "$SHMFRAME_PRODUCER" "$work/frame-reader.out" -- \
      "$reader" "$SHMFRAME_TEST_STREAM" 5
    cat "$work/frame-reader.out"
    lines="$(grep -Ec '^seq [0-9]+ 320x240 mean [0-9.]+$' "$work/frame-reader.out" || true)"
    [[ "$lines" == 5 ]] ||
      { echo "package test: frame-reader printed $lines frame lines, not 5 (output above)" >&2; exit 1; }
  else
    step "no SHMFRAME_PRODUCER (apps not built): frame-reader built, not run"
  fi
else
  step "this build has no OpenCV adapter: samples/out-of-tree (COMPONENTS opencv) not built"
fi

step "passed"
