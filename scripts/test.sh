#!/usr/bin/env bash
# Every test: install what is missing, build the release apps, samples and benchmark
# warning-free (-Werror), lint (scripts/lint.sh: clang-format over every C++ file, clang-tidy over
# the library; and scripts/check-sync.py over every C++ directory: every ordering label has both
# sides, comments name what exists), run
# the benchmark once in its quick form (it must complete), test the installed package
# (find_package and pkg-config), run the in-process tests under ThreadSanitizer, then build
# everything with AddressSanitizer + UBSan and run the unit, multi-process, stress and app
# tests with ctest (labels unit, multiprocess, stress, apps); the library-only tests also run
# cross-built for ARM64 under qemu (preset aarch64), and the protocol models (label model); the
# Python module's pytest suite (label python) and the libFuzzer targets (preset fuzz, 20 s each).
# Builds and test runs are the presets in CMakePresets.json (build/<preset>).
# Environment: SHMFRAME_STRESS_SECONDS (minimum run time per stress test), SHMFRAME_STRESS_FRAMES /
# SHMFRAME_STRESS_HD_FRAMES scale the stress tests (short by default; hours by hand).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh --bench --lint --arm64 --fuzz
jobs=$(nproc)

cmake --preset release -DSHMFRAME_WERROR=ON >/dev/null
cmake --build --preset release -j "$jobs"
scripts/lint.sh build/release
python3 scripts/check-sync.py

# The benchmark must run end to end (every transport, every case): a smoke test, not a speed
# test. Speed is judged only as ratios, by reading its report (docs/PERFORMANCE.md).
build/release/bench/shmframe-bench --quick --json build/release/bench-quick.json > build/release/bench-quick.txt ||
  { cat build/release/bench-quick.txt; echo "shmframe-bench --quick failed" >&2; exit 1; }
echo "shmframe-bench --quick: $(grep -c '"ok": true' build/release/bench-quick.json) cases ran"

# The release preset's tests: the package (install build/release into a scratch prefix and
# build a fresh project against it with find_package(shmframe) and with pkg-config), the
# protocol model checks (tests/model: Relacy, every interleaving of the claim/wake and reap races),
# and the GStreamer elements (tests/gst, label gst: gst-launch-1.0 against the real apps).
ctest --preset release

# One minute of chaos (scripts/soak.sh): producers, consumers and a stage killed, stopped and
# restarted at random under a consumer verifying every frame; fails on a torn or misrouted frame,
# a stale consumer entry, descriptor growth, generations not increasing, or /dev/shm leftovers.
scripts/soak.sh --minutes 1 --build build/release

# ThreadSanitizer over the in-process tests (the writer's heartbeat thread against the caller).
# Cross-process races are out of its sight: the multi-process and stress tests cover those.
# The tsan preset passes -Wno-tsan: TSan cannot model the two seqlock fences
# (std::atomic_thread_fence) and says so.
cmake --preset tsan -DSHMFRAME_WERROR=ON >/dev/null
cmake --build --preset tsan -j "$jobs"
ctest --preset tsan -j "$jobs"

# ARM64: the library and its library-only tests (unit, multi-process, stress) cross-built with
# g++-aarch64-linux-gnu and run under qemu-aarch64-static. qemu runs ARM code on this x86 host
# without ARM's timing or weak memory ordering: it catches build breaks, x86-only paths and
# layout differences; the ordering itself is what the model checks (label model) are for.
cmake --preset aarch64 >/dev/null
cmake --build --preset aarch64 -j "$jobs"
ctest --preset aarch64 -j "$jobs"

# libFuzzer (clang 14, ASan + UBSan): header validation, attaching to an object of the fuzzer's
# making, and a reader under a scribbling neighbour, each for 20 s over a scratch copy of its
# seed corpus (tests/fuzz/corpus). Longer runs: scripts/fuzz.sh --minutes N.
cmake --preset fuzz >/dev/null
cmake --build --preset fuzz -j "$jobs"
ctest --preset fuzz --output-on-failure

cmake --preset asan -DSHMFRAME_WERROR=ON >/dev/null
cmake --build --preset asan -j "$jobs"
# The asan test preset sets ASAN_OPTIONS / UBSAN_OPTIONS and a 300 s default timeout.
ctest --preset asan -j "$jobs"
