#!/usr/bin/env bash
# Lint: clang-format (.clang-format) over every C++ file git tracks, and clang-tidy (.clang-tidy)
# over shmframe/src/*.cpp and the library headers they include, with
# the compile commands of a configured build. Any finding fails (exit 1).
# Usage: scripts/lint.sh [BUILD_DIR]   (default build/release; configure it first, e.g.
#        `cmake --preset release`; CMAKE_EXPORT_COMPILE_COMMANDS is on in CMakeLists.txt)
# Environment: CLANG_FORMAT, CLANG_TIDY (default clang-format-14 / clang-tidy-14 when present),
#              LINT_JOBS (parallel clang-tidy runs, default nproc).
set -euo pipefail
cd "$(dirname "$0")/.."
build="${1:-build/release}"

pick() { command -v "$1" >/dev/null && echo "$1" || echo "$2"; }
clang_format="${CLANG_FORMAT:-$(pick clang-format-14 clang-format)}"
clang_tidy="${CLANG_TIDY:-$(pick clang-tidy-14 clang-tidy)}"
jobs="${LINT_JOBS:-$(nproc)}"
for tool in "$clang_format" "$clang_tidy"; do
  command -v "$tool" >/dev/null || { echo "lint: $tool not found (apt-get install clang-format clang-tidy)" >&2; exit 2; }
done

status=0

# clang-format: every C++ file of the project (the library, apps, viewer, gst, python/src,
# samples, bench, tests). clang-tidy below: the library only (the apps' and tests' code would need
# a profile of its own: GoogleTest macros, OpenCV and GLib idioms; their warnings are -Werror).
mapfile -t sources < <(git ls-files '*.cpp' '*.hpp' '*.h' '*.c' | sort)
echo "lint: $("$clang_format" --version | head -n 1) over ${#sources[@]} files"
if ! "$clang_format" --dry-run --Werror "${sources[@]}"; then
  echo "lint: clang-format findings above (fix: $clang_format -i <file>)" >&2
  status=1
fi

db="$build/compile_commands.json"
[[ -f "$db" ]] || { echo "lint: no $db: configure a build first (cmake --preset release)" >&2; exit 2; }
mapfile -t units < <(find shmframe/src -name '*.cpp' | sort)
for u in "${units[@]}"; do  # a file the build does not know would be checked with the wrong flags
  grep -q "\"file\": \"$PWD/$u\"" "$db" ||
    { echo "lint: $u is not in $db: re-configure $build (it builds other sources)" >&2; exit 2; }
done
echo "lint: $("$clang_tidy" --version | grep -m1 -o 'LLVM version [0-9.]*') over ${#units[@]} files, $jobs at a time"
# -Wno-unknown-warning-option: the build's flags are GCC's; a GCC-only -W flag is not a finding.
if ! printf '%s\n' "${units[@]}" |
  xargs -P "$jobs" -n 1 "$clang_tidy" -p "$build" --quiet --warnings-as-errors='*' \
    --extra-arg=-Wno-unknown-warning-option; then
  echo "lint: clang-tidy findings above" >&2
  status=1
fi

((status == 0)) && echo "lint: clean"
exit "$status"
