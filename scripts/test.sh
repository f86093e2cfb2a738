#!/usr/bin/env bash
# Every test: install what is missing, build everything with AddressSanitizer + UBSan, run
# the unit, multi-process, stress and app tests with ctest. Also builds the release apps and
# samples warning-free (-Werror) so a warning cannot land.
# Environment: SHMFRAME_STRESS_FRAMES / SHMFRAME_STRESS_HD_FRAMES scale the torn-read stress.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
jobs=$(nproc)

cmake -S . -B build/release -G Ninja -DCMAKE_BUILD_TYPE=Release -DSHMFRAME_BUILD_TESTS=OFF \
  -DCMAKE_CXX_FLAGS="-Werror" >/dev/null
cmake --build build/release -j "$jobs"

cmake -S . -B build/asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DSHMFRAME_SANITIZE=ON \
  -DCMAKE_CXX_FLAGS="-O1 -Werror" >/dev/null
cmake --build build/asan -j "$jobs"

export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:halt_on_error=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
cd build/asan
ctest --output-on-failure -j "$jobs" --timeout 300
