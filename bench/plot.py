#!/usr/bin/python3
"""Plots for docs/PERFORMANCE.md from a shmframe-bench --json file.

usage: bench/plot.py RESULTS.json OUTDIR
  OUTDIR/latency_1080p.png   hand-off latency percentiles per transport, 1920x1080 at 30 fps
  OUTDIR/fanout_1080p.png    fps and CPU per frame against the number of consumers (shmframe)
"""
import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def main(path, outdir):
    data = json.load(open(path))
    cases = [c for c in data["cases"] if c.get("ok")]

    # 1. Latency distribution per transport at 1080p, 30 fps, 1 consumer.
    rows = [c for c in cases if c["width"] == 1920 and c["rate"] == 30 and c["consumers"] == 1]
    rows.sort(key=lambda c: c["latency_ns"]["p50"])
    labels = [f'{c["transport"]}\n{c["mode"]}' for c in rows]
    fig, ax = plt.subplots(figsize=(10, 5))
    width = 0.2
    for i, (key, name) in enumerate([("p50", "p50"), ("p99", "p99"), ("p999", "p99.9"), ("max", "max")]):
        xs = [x + (i - 1.5) * width for x in range(len(rows))]
        ax.bar(xs, [c["latency_ns"][key] / 1e3 for c in rows], width, label=name)
    wake = data["limits"]["wake_ns"]["p50"] / 1e3
    ax.axhline(wake, color="k", linestyle="--", linewidth=1, label=f"raw futex wake-up p50 ({wake:.0f} us)")
    ax.set_yscale("log")
    ax.set_ylabel("hand-off latency (us, log scale)")
    ax.set_xticks(range(len(rows)))
    ax.set_xticklabels(labels, fontsize=8)
    ax.set_title("1920x1080 BGR at 30 fps, 1 consumer: frame ready in producer memory -> consumer holds it")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(f"{outdir}/latency_1080p.png", dpi=110)

    # 2. Fan-out: fps (flat out) and CPU per frame (30 fps) against consumers.
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 4.5))
    for mode, style in (("copy", "o-"), ("zerocopy", "s--")):
        flat = sorted((c for c in cases if c["transport"] == "shmframe" and c["mode"] == mode and c["width"] == 1920 and c["rate"] == "max"),
                      key=lambda c: c["consumers"])
        paced = sorted((c for c in cases if c["transport"] == "shmframe" and c["mode"] == mode and c["width"] == 1920 and c["rate"] == 30),
                       key=lambda c: c["consumers"])
        if flat:
            a1.plot([c["consumers"] for c in flat], [c["fps"] for c in flat], style, label=f"{mode}, flat out")
        if paced:
            a2.plot([c["consumers"] for c in paced], [c["cpu_ns_per_frame"]["producer"] / 1e3 for c in paced], style, label=f"{mode} producer")
            a2.plot([c["consumers"] for c in paced], [c["cpu_ns_per_frame"]["consumer"] / 1e3 for c in paced], style, alpha=0.5,
                    label=f"{mode} consumer (mean)")
    a1.set_yscale("log")
    a1.set_xlabel("consumers")
    a1.set_ylabel("frames per second (log)")
    a1.set_title("shmframe 1080p, producer flat out")
    a1.legend(fontsize=8)
    a2.set_xlabel("consumers")
    a2.set_ylabel("CPU time per frame (us)")
    a2.set_title("shmframe 1080p at 30 fps")
    a2.legend(fontsize=8)
    for a in (a1, a2):
        a.set_xticks([1, 2, 4, 8])
    fig.tight_layout()
    fig.savefig(f"{outdir}/fanout_1080p.png", dpi=110)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
