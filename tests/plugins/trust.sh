#!/usr/bin/env bash
# tests/plugins/trust.sh CONSUMER PLANTED_SO: `--plugin NAME` never loads code another user could
# have placed (issue 22, docs/RELIABILITY.md "Plugins"). Run as root, as the attack needs: a copy
# of shmframe-consumer in a scratch directory under /tmp, and a library owned by uid 65534 (nobody)
# whose constructor writes a marker file, so "loaded" is observed. Exit 77 (skipped) unless root.
set -euo pipefail
consumer="$1"
planted="$2"
[ "$(id -u)" = 0 ] || { echo "skipped: needs root (the attack is on a root consumer)"; exit 77; }
nobody=65534
work=$(mktemp -d /tmp/shmframe-trust.XXXXXX)
trap 'rm -rf "$work"' EXIT
marker="$work/marker"
export SHMFRAME_PLANTED_MARKER="$marker"
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

# place OWNER MODE PATH: a copy of the planted library (dirs created root 0755 unless made before)
place() {
  mkdir -p "$(dirname "$3")"
  cp "$planted" "$3"
  chown "$1" "$3"
  chmod "$2" "$3"
}
# try NAME [ENV...]: runs the copied consumer with --plugin NAME; sets out (its stderr+stdout)
try() {
  local name="$1"
  shift
  rm -f "$marker"
  out=$(env "$@" timeout 30 "$work/x/shmframe-consumer" --name shmframe-trust-none --plugin "$name" 2>&1) && {
    fail "--plugin $name: exit 0"
  }
  return 0
}
loaded() { [ -e "$marker" ]; }

mkdir -p "$work/x"
cp "$consumer" "$work/x/shmframe-consumer"
chmod 755 "$work" "$work/x"

# 1. The binary-relative directories of a copy in /tmp, planted by nobody: ../samples (the build
#    tree's) and ../lib/<triplet>/shmframe/plugins (an installed tree's).
mkdir -p "$work/samples"
chown "$nobody" "$work/samples"
place "$nobody" 644 "$work/samples/shmframe-evil.so"
# The relative directory is ../lib/shmframe/plugins or ../lib/<triplet>/shmframe/plugins, as the
# prefix was configured: plant all of them.
for d in "$work/lib" "$work/lib/x86_64-linux-gnu" "$work/lib/aarch64-linux-gnu"; do
  mkdir -p "$d/shmframe/plugins"
  chown -R "$nobody" "$d/shmframe"
  place "$nobody" 644 "$d/shmframe/plugins/shmframe-evil.so"
done
try evil SHMFRAME_PLUGIN_PATH=
loaded && fail "1: a library planted by uid $nobody next to a copy of the binary was loaded"
grep -q "not found" <<<"$out" || fail "1: expected 'not found', got: $out"
grep -q "$work/samples" <<<"$out" && fail "1: a copy outside its build tree searched ../samples: $out"
grep -q "owned by uid $nobody" <<<"$out" || fail "1: the message does not say what was skipped and why: $out"

# 2. SHMFRAME_PLUGIN_PATH: a directory nobody owns; a root directory holding nobody's file; a
#    world-writable root directory holding a root file; a link to nobody's file.
mkdir -p "$work/nobodydir" "$work/rootdir" "$work/open" "$work/links"
chown "$nobody" "$work/nobodydir"
chmod 777 "$work/open"
place "$nobody" 644 "$work/nobodydir/shmframe-evil.so"
place "$nobody" 644 "$work/rootdir/shmframe-evil.so"
place 0 644 "$work/open/shmframe-evil.so"
ln -s "$work/nobodydir/shmframe-evil.so" "$work/links/shmframe-evil.so"
for dir in nobodydir rootdir open links; do
  try evil "SHMFRAME_PLUGIN_PATH=$work/$dir"
  loaded && fail "2: SHMFRAME_PLUGIN_PATH=$work/$dir: loaded a library another user could have placed"
  grep -q "skipped" <<<"$out" || fail "2: $dir: the message names no skipped candidate: $out"
  [ "$dir" != open ] || grep -q "world-writable" <<<"$out" || fail "2: open: not named world-writable: $out"
done

# 3. A file named exactly NAME, without .so, is not a candidate.
mkdir -p "$work/good"
place 0 644 "$work/good/evil2"
try evil2 "SHMFRAME_PLUGIN_PATH=$work/good"
loaded && fail "3: a file named exactly 'evil2' (no .so) was loaded"

# 4. Controls. A trusted directory (root's, 0755) with root's file: loaded, then refused as not a
#    plugin: the planted library is real and the marker works. A path given explicitly is loaded
#    whoever owns it: the user named that file.
place 0 644 "$work/good/shmframe-evil.so"
try evil "SHMFRAME_PLUGIN_PATH=$work/good"
loaded || fail "4: a root-owned library in a root-owned directory was not loaded: $out"
grep -q "not a shmframe plugin" <<<"$out" || fail "4: expected 'not a shmframe plugin', got: $out"
try "$work/samples/shmframe-evil.so" SHMFRAME_PLUGIN_PATH=
loaded || fail "4: an explicit path was not loaded: $out"

[ "$failures" = 0 ] || exit 1
echo "plugin trust: all cases hold"
