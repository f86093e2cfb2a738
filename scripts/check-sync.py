#!/usr/bin/env python3
"""Checks the library's ordering labels and the names its comments mention.

1. Every memory-ordering pair carries one label, SYNC(name), on both sides. A label must appear
   at two or more places, with at least one publishing side (release, store, fence, CAS) and
   one observing side (acquire, load, fence) named in the comment right after it.
2. A comment that names a function (`name()` or `Type::name()`) or a file (`x.cpp`, `x.hpp`,
   `x.md`) names one that exists: comments must not lie after a rename.
Usage: scripts/check-sync.py [ROOT]   (exit 1 with one line per finding)
"""
import pathlib
import re
import sys

root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else pathlib.Path(__file__).resolve().parent.parent)
# Every C++ directory of the project: the library, the apps, the viewer, the GStreamer elements,
# the Python binding, samples, benchmarks and tests (not build trees).
CODE_DIRS = ("shmframe", "producer", "consumer", "viewer", "common", "gst", "python", "samples", "bench", "tests")
sources = sorted(
    p
    for d in CODE_DIRS
    for p in (root / d).rglob("*")
    if p.suffix in (".cpp", ".hpp", ".h", ".c") and "build" not in p.relative_to(root).parts
)
repo_files = {p.name for p in root.rglob("*") if ".git" not in p.parts and "build" not in p.parts}

PUBLISH = re.compile(r"\b(release|store|fence|cas|compare-and-swap|fetch|rmw)\b", re.I)
OBSERVE = re.compile(r"\b(acquire|load|fence|re-load)\b", re.I)
SYNC = re.compile(r"SYNC\(([a-z_]+)\)\s*([^.;:]*)")
CALL = re.compile(r"\b((?:[A-Za-z_]\w*::)*[A-Za-z_]\w*)\(\)")
FILE = re.compile(r"\b([\w./-]+\.(?:cpp|hpp|md|py|sh))\b")

findings = []
labels = {}
code_text = []
comments = []  # (path, line, text)
for path in sources:
    rel = path.relative_to(root)
    for n, line in enumerate(path.read_text().splitlines(), 1):
        code, sep, comment = line.partition("//")
        code_text.append(code)
        if not sep:
            continue
        comments.append((rel, n, comment))
        for m in SYNC.finditer(comment):
            if m.group(1) == "x":  # the convention's own description
                continue
            labels.setdefault(m.group(1), []).append((rel, n, m.group(2)))

for name, sites in sorted(labels.items()):
    where = ", ".join(f"{p}:{n}" for p, n, _ in sites)
    if len(sites) < 2:
        findings.append(f"SYNC({name}) appears only once ({where}): name its other side")
        continue
    if not any(PUBLISH.search(s) for _, _, s in sites):
        findings.append(f"SYNC({name}) has no publishing side (release/store/fence) at {where}")
    if not any(OBSERVE.search(s) for _, _, s in sites):
        findings.append(f"SYNC({name}) has no observing side (acquire/load/fence) at {where}")

code = "\n".join(code_text)
defined = set(re.findall(r"\b([A-Za-z_]\w*)\s*\(", code))
for rel, n, text in comments:
    for m in CALL.finditer(text):
        ident = m.group(1).split("::")[-1]
        if ident not in defined:
            findings.append(f"{rel}:{n}: comment names {m.group(1)}(), which the library does not define")
    for m in FILE.finditer(text):
        if pathlib.PurePath(m.group(1)).name not in repo_files:
            findings.append(f"{rel}:{n}: comment names {m.group(1)}, which does not exist")

for f in findings:
    print(f)
print(f"check-sync: {len(labels)} labels, {len(comments)} comment lines, {len(findings)} findings")
sys.exit(1 if findings else 0)
