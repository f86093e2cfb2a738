#!/usr/bin/env bash
# Every test: install what is missing, build the release apps, samples and benchmark
# warning-free (-Werror), run the benchmark once in its quick form (it must complete), run
# the in-process tests under ThreadSanitizer, then build everything with AddressSanitizer +
# UBSan and run the unit, multi-process, stress and app tests with ctest.
# Environment: SHMFRAME_STRESS_FRAMES / SHMFRAME_STRESS_HD_FRAMES scale the torn-read stress.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh --bench
jobs=$(nproc)

cmake -S . -B build/release -G Ninja -DCMAKE_BUILD_TYPE=Release -DSHMFRAME_BUILD_TESTS=OFF \
  -DCMAKE_CXX_FLAGS="-Werror" >/dev/null
cmake --build build/release -j "$jobs"

# The benchmark must run end to end (every transport, every case): a smoke test, not a speed
# test. Speed is judged only as ratios, by reading its report (docs/PERFORMANCE.md).
build/release/bench/shmframe-bench --quick --json build/release/bench-quick.json > build/release/bench-quick.txt ||
  { cat build/release/bench-quick.txt; echo "shmframe-bench --quick failed" >&2; exit 1; }
echo "shmframe-bench --quick: $(grep -c '"ok": true' build/release/bench-quick.json) cases ran"

# ThreadSanitizer over the in-process tests (the writer's heartbeat thread against the caller).
# Cross-process races are out of its sight: the multi-process and stress tests cover those.
# -Wno-tsan: TSan cannot model the two seqlock fences (std::atomic_thread_fence) and says so.
cmake -S . -B build/tsan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DSHMFRAME_BUILD_BENCH=OFF \
  -DCMAKE_CXX_FLAGS="-O1 -g -fsanitize=thread -Wno-tsan -Werror" -DCMAKE_EXE_LINKER_FLAGS="-fsanitize=thread" >/dev/null
cmake --build build/tsan -j "$jobs" --target shmframe_unit_tests
TSAN_OPTIONS="halt_on_error=1" build/tsan/tests/shmframe_unit_tests --gtest_brief=1

cmake -S . -B build/asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DSHMFRAME_SANITIZE=ON -DSHMFRAME_BUILD_BENCH=OFF \
  -DCMAKE_CXX_FLAGS="-O1 -Werror" >/dev/null
cmake --build build/asan -j "$jobs"

export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:halt_on_error=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
cd build/asan
ctest --output-on-failure -j "$jobs" --timeout 300
