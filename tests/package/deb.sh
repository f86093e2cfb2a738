#!/usr/bin/env bash
# The .deb test: makes the Debian package of a build tree with `cpack -G DEB` and checks it
#   - its name (<name>_<version>_<arch>.deb) and control fields (Maintainer, Homepage,
#     Description, Depends);
#   - its contents: the apps, the headers, libshmframe.a, the CMake package, the pkg-config
#     file, the plugin directory, the GStreamer plugin (when built);
#   - its Depends: every shared library a binary in it needs directly is provided by a package
#     that Depends names (what a clean machine will install), and apt resolves them on this
#     machine (`apt-get install --simulate ./<deb>`);
#   - its programs, extracted into a scratch root (`dpkg-deb -x`): shmframe-consumer --processor
#     probe takes 3 frames from the packaged shmframe-producer and prints them as JSON; so does
#     the packaged Python module (when the build has one), imported from there.
# Usage: tests/package/deb.sh BUILD_DIR [WORK_DIR]
#   WORK_DIR: scratch space, emptied first and left in place for inspection (default: a temporary
#   directory, removed on exit).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
build="$(cd "${1:?usage: $0 BUILD_DIR [WORK_DIR]}" && pwd)"
# shellcheck source=streams.sh
source "$here/streams.sh"
work_init "${2:-}"
stream_init

step() { echo "== deb test: $*"; }
fail() { echo "FAIL: $*" >&2; exit 1; }

for tool in cpack dpkg-deb dpkg-shlibdeps file objdump apt-get; do
  command -v "$tool" >/dev/null ||
    fail "'$tool' is missing (scripts/install-deps.sh installs what the package tests need: dpkg-dev, file, binutils)"
done
[[ -f "$build/CPackConfig.cmake" ]] || fail "$build has no CPackConfig.cmake: configure it with SHMFRAME_INSTALL=ON"

step "cpack -G DEB in $build (output: $work/cpack)"
# -B: CPack's staging tree and the package go to the scratch dir, not into the build tree.
if ! cpack -G DEB --config "$build/CPackConfig.cmake" -B "$work/cpack" >"$work/cpack.log" 2>&1; then
  cat "$work/cpack.log" >&2
  fail "cpack -G DEB failed (log above)"
fi
mapfile -t debs < <(find "$work/cpack" -maxdepth 1 -name '*.deb')
((${#debs[@]} == 1)) || fail "expected one .deb in $work/cpack, found ${#debs[@]}: ${debs[*]:-none}"
deb="${debs[0]}"

step "dpkg-deb --info $(basename "$deb")"
dpkg-deb --info "$deb" | tee "$work/info.txt"
field() { dpkg-deb --field "$deb" "$1"; }
arch="$(dpkg --print-architecture)"
[[ "$(field Package)" == shmframe ]] || fail "Package is '$(field Package)', not shmframe"
[[ "$(field Architecture)" == "$arch" ]] || fail "Architecture is '$(field Architecture)', not $arch"
version="$(field Version)"
[[ "$(basename "$deb")" == "shmframe_${version}_${arch}.deb" ]] ||
  fail "the package is named $(basename "$deb"), not shmframe_${version}_${arch}.deb"
for f in Maintainer Homepage Description Depends; do
  [[ -n "$(field "$f")" ]] || fail "no $f field"
done
depends="$(field Depends)"
[[ "$depends" == *libc6* ]] || fail "Depends has no libc6 (did dpkg-shlibdeps run?): $depends"

step "dpkg-deb --contents"
dpkg-deb --contents "$deb" >"$work/contents.txt"
# Paths as dpkg-deb lists them: ./usr/..., directories with a trailing slash.
paths="$(awk '{print $6}' "$work/contents.txt")"
expect_path() {  # $1: an extended regex over the listed paths; $2: what it is
  grep -Eq "$1" <<<"$paths" || { cat "$work/contents.txt" >&2; fail "the package has no $2 ($1)"; }
}
expect_path '^\./usr/bin/shmframe-producer$' "producer"
expect_path '^\./usr/bin/shmframe-consumer$' "consumer"
expect_path '^\./usr/bin/shmframe-viewer$' "viewer"
expect_path '^\./usr/bin/shmframe-record$' "recorder sample"
expect_path '^\./usr/bin/shmframe-web$' "browser viewer"
expect_path '^\./usr/lib/systemd/system/shmframe-web@\.service$' "shmframe-web's systemd unit template"
expect_path '^\./usr/lib/([^/]+/)?shmframe/plugins/shmframe-edge\.so$' "edge plugin"
expect_path '^\./usr/lib/([^/]+/)?shmframe/plugins/shmframe-motion\.so$' "motion plugin"
expect_path '^\./usr/lib/([^/]+/)?shmframe/plugins/shmframe-stereo\.so$' "stereo plugin"
expect_path '^\./usr/include/shmframe/shmframe\.hpp$' "public header"
expect_path '^\./usr/lib/([^/]+/)?libshmframe\.a$' "static library"
expect_path '^\./usr/lib/([^/]+/)?cmake/shmframe/shmframeConfig\.cmake$' "CMake package config"
expect_path '^\./usr/lib/([^/]+/)?cmake/shmframe/shmframeConfigVersion\.cmake$' "CMake package version file"
expect_path '^\./usr/lib/([^/]+/)?pkgconfig/shmframe\.pc$' "pkg-config file"
expect_path '^\./usr/lib/([^/]+/)?shmframe/plugins/$' "plugin directory"
# The GStreamer plugin, when this build has it: in GStreamer's own plugin directory.
if [[ -f "$build/gst/plugins/libgstshmframe.so" ]]; then
  expect_path '^\./usr/lib/([^/]+/)?gstreamer-1\.0/libgstshmframe\.so$' "GStreamer plugin"
fi
grep -Eq '^\./usr/local/' <<<"$paths" && fail "the package installs under /usr/local"
# The Python module, when the build has one: where Debian's python3 finds it.
python_site=""
if [[ -d "$build/python/shmframe" ]]; then
  # /usr/lib/python3/dist-packages (a build for prefix /usr, like the release preset), or
  # python3.X/dist-packages (configured for /usr/local): both are on Debian's sys.path.
  site='\./usr/lib/python3(\.[0-9]+)?/dist-packages/shmframe'
  expect_path "^$site/__init__\\.py$" "Python package"
  expect_path "^$site/_shmframe\\..*\\.so$" "Python extension module"
  expect_path "^$site/__init__\\.pyi$" "Python type stubs"
  [[ "$depends" == *python3-numpy* ]] || fail "Depends has no python3-numpy (the module imports numpy): $depends"
  python_site="$(grep -Eo "^$site/__init__\\.py$" <<<"$paths" | head -n 1)"
  python_site="${python_site#./}"
  python_site="${python_site%/shmframe/__init__.py}"
fi

root="$work/root"
step "dpkg-deb -x into $root"
dpkg-deb -x "$deb" "$root"

# What dpkg-shlibdeps found, checked another way: for each library an ELF file of the package
# needs (its DT_NEEDED entries), the package this machine has it from must be in Depends.
step "every library the binaries need comes from a package in Depends"
depends_names=" $(tr ',|' '\n' <<<"$depends" | sed -E 's/\(.*\)//; s/:.*//; s/ //g' | tr '\n' ' ') "
declare -A owner_of=()
checked=0
# $1: a library's path as the loader resolves it; prints the package dpkg has it from.
owner_of_file() {
  local alt="${1#/usr}"
  [[ "$alt" == "$1" ]] && alt="/usr$1"
  # usrmerge: dpkg may know the file under /lib where the loader says /usr/lib, or the reverse.
  { dpkg -S "$1" 2>/dev/null || dpkg -S "$alt" 2>/dev/null || true; } | awk -F: 'NR == 1 {print $1}'
}
while IFS= read -r -d '' f; do
  [[ "$(head -c 4 "$f" | od -An -c | tr -d ' ')" == '177ELF' ]] || continue
  # ldd: where this machine's loader finds each library ("soname => path (address)").
  declare -A path_of=()
  while read -r soname _ path _; do
    [[ "$path" == /* ]] && path_of[$soname]="$path"
  done < <(ldd "$f")
  while read -r soname; do
    [[ -n "${path_of[$soname]:-}" ]] || fail "$(basename "$f") needs $soname, which the loader does not find"
    if [[ -z "${owner_of[$soname]:-}" ]]; then
      owner_of[$soname]="$(owner_of_file "${path_of[$soname]}")"
      [[ -n "${owner_of[$soname]}" ]] ||
        fail "$(basename "$f") needs $soname (${path_of[$soname]}), which no installed package provides"
    fi
    satisfied=""
    # The package itself, or a virtual package it provides (libspdlog1.10 provides libspdlog1.10-fmt9).
    for name in "${owner_of[$soname]}" $(dpkg-query -W -f='${Provides}' "${owner_of[$soname]}" |
                                         sed -E 's/\([^)]*\)//g' | tr ',' ' '); do
      [[ "$depends_names" == *" $name "* ]] && satisfied="$name" && break
    done
    [[ -n "$satisfied" ]] ||
      fail "$(basename "$f") needs $soname from ${owner_of[$soname]}, which Depends does not name: $depends"
    checked=$((checked + 1))
  done < <(objdump -p "$f" | awk '$1 == "NEEDED" {print $2}')
  unset path_of
done < <(find "$root" -type f -print0)
((checked > 0)) || fail "found no ELF binaries with shared-library needs in the package"
echo "$checked needed libraries, ${#owner_of[@]} distinct, all from packages in Depends"

step "apt-get install --simulate ./$(basename "$deb")"
# A simulation takes no lock and changes nothing; it fails when a dependency cannot be resolved.
if ! apt-get install --simulate --no-install-recommends "$deb" >"$work/apt.log" 2>&1; then
  cat "$work/apt.log" >&2
  fail "apt cannot install the package on this machine (log above)"
fi
grep -Eq '^Inst shmframe |shmframe is already the newest version' "$work/apt.log" ||
  { cat "$work/apt.log" >&2; fail "apt's simulation does not install shmframe (log above)"; }
grep -E '^Inst ' "$work/apt.log" || true

# This machine has the dependencies already; a clean one downloads them. Each must come from
# an archive apt knows (deb.debian.org for Debian 12), directly or through a package providing it.
step "every package Depends names is in an apt archive"
# $@: package names; prints "NAME CANDIDATE" for each that apt has from a repository (one
# `apt-cache policy` for all: each call reads every package list, a second or more).
from_archive() {
  apt-cache policy "$@" 2>/dev/null | awk '
    /^[^ ].*:$/ { name = substr($0, 1, length($0) - 1); next }
    /^ +Candidate:/ { candidate[name] = $2 }
    /^ +[0-9]+ (https?|file|cdrom|copy|mirror\+[a-z]+):/ { archive[name] = 1 }
    END { for (n in archive) print n, candidate[n] }'
}
if ! compgen -G '/var/lib/apt/lists/*_Packages*' >/dev/null; then
  echo "skipped: apt has no package lists (apt-get update)"
else
  # shellcheck disable=SC2086  # the names are meant to split
  found="$(from_archive $depends_names)"
  echo "$found"
  for name in $depends_names; do
    awk -v n="$name" '$1 == n {f = 1} END {exit !f}' <<<"$found" && continue
    # A virtual package (libspdlog1.10-fmt9): a package providing it, from an archive.
    mapfile -t providers < <(apt-cache showpkg "$name" | sed -n '/^Reverse Provides:/,$p' | tail -n +2 | cut -d' ' -f1)
    provider=""
    if ((${#providers[@]} > 0)); then
      provider="$(from_archive "${providers[@]}" | sed -n 1p)"
    fi
    [[ -n "$provider" ]] || fail "Depends names $name, which no apt archive has (apt-cache policy $name)"
    echo "$name: provided by $provider"
  done
fi

step "the packaged consumer reads 3 frames from the packaged producer (stream $SHMFRAME_TEST_STREAM)"
out="$work/consumer.out"
run_reader_against_producer "$root/usr/bin/shmframe-producer" "$out" -- \
  "$root/usr/bin/shmframe-consumer" --name "$SHMFRAME_TEST_STREAM" --processor probe --frames 3 --timeout-ms 10000
frames="$(grep -c '^{"event":"frame",.*}$' "$out" || true)"
if [[ "$frames" != 3 ]]; then
  cat "$out" >&2
  fail "the consumer printed $frames JSON frame lines, not 3"
fi
cat "$out"

step "the packaged shmframe-web runs, and its unit template starts it on the instance's address"
"$root/usr/bin/shmframe-web" --help >"$out" 2>&1 || { cat "$out" >&2; fail "shmframe-web --help failed"; }
unit="$root/usr/lib/systemd/system/shmframe-web@.service"
grep -q '^ExecStart=/.*/bin/shmframe-web --bind %I ' "$unit" || { cat "$unit" >&2; fail "the unit does not run shmframe-web --bind %I"; }

step "the packaged consumer loads the packaged edge plugin by name and runs it on 3 frames"
run_reader_against_producer "$root/usr/bin/shmframe-producer" "$out" -- \
  "$root/usr/bin/shmframe-consumer" --name "$SHMFRAME_TEST_STREAM" --plugin edge --frames 3 --timeout-ms 10000
grep -q "plugin 'edge' from $root/usr/.*shmframe/plugins/shmframe-edge.so" "$out.err" ||
  { cat "$out.err" >&2; fail "the consumer did not load the edge plugin from the package's plugin directory"; }

if [[ -n "$python_site" ]]; then
  step "the packaged Python module reads 3 frames from the packaged producer"
  run_reader_against_producer "$root/usr/bin/shmframe-producer" "$out" -- \
    env PYTHONPATH="$root/$python_site" PYTHONDONTWRITEBYTECODE=1 /usr/bin/python3 -c '
import sys, shmframe
assert shmframe.__file__.startswith(sys.argv[2]), shmframe.__file__
with shmframe.Reader(sys.argv[1], timeout=10.0) as r:
    for i, f in zip(range(3), r):
        print(f.seq, f.width, f.height, f.format, int(f.array.mean()))
' "$SHMFRAME_TEST_STREAM" "$root/$python_site"
  lines="$(grep -c ' 320 240 bgr8 ' "$out" || true)"
  [[ "$lines" == 3 ]] || { cat "$out" "$out.err" >&2; fail "the packaged Python module printed $lines frames, not 3"; }
  cat "$out"
fi

step "passed: $(basename "$deb"), Depends: $depends"
