#!/usr/bin/python3
"""Markdown tables from a shmframe-bench --json file (for docs/PERFORMANCE.md).

usage: bench/report.py RESULTS.json
"""
import json
import sys


def us(ns):
    return f"{ns / 1e6:.2f} ms" if ns >= 1e6 else f"{ns / 1e3:.1f} us"


def main(path):
    d = json.load(open(path))
    lim = d["limits"]
    print("| limit | value |\n|---|---|")
    for k, v in lim["memcpy_ns"].items():
        print(f"| memcpy {k} BGR, warm, one destination | {us(v)} ({1e9 / v:,.0f} frames/s) |")
    for k, v in lim["memcpy_rotating_ns"].items():
        print(f"| memcpy {k} BGR, warm, two alternating destinations | {us(v)} ({1e9 / v:,.0f} frames/s) |")
    w, p, h = lim["wake_ns"], lim["wake_pingpong_ns"], lim["wake_hot_pingpong_ns"]
    print(f"| futex wake-up at 30 Hz, one way (stamped) p50 / p99 | {us(w['p50'])} / {us(w['p99'])} |")
    print(f"| futex wake-up at 30 Hz, ping-pong RTT/2 p50 / p99 | {us(p['p50'])} / {us(p['p99'])} |")
    print(f"| futex wake-up back to back, ping-pong RTT/2 p50 / p99 | {us(h['p50'])} / {us(h['p99'])} |")
    print(f"| CPU of the woken process per idle wake-up | {us(lim['wake_cpu_ns'])} |")
    print()
    print("| transport | mode | size | consumers | rate | hand-off p50 | p99 | p99.9 | max | wake p50 | wake p99 | fps | drops | CPU/frame producer | consumer |")
    print("|---|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|")
    for c in d["cases"]:
        if not c.get("ok"):
            print(f"| {c['transport']} | {c['mode']} | {c['width']}x{c['height']} | {c['consumers']} | {c['rate']} | failed: {c.get('error', '')} |")
            continue
        L, W, C = c["latency_ns"], c["wake_ns"], c["cpu_ns_per_frame"]
        rate = c["rate"] if c["rate"] == "max" else f"{c['rate']:g}"
        fps = f"{c['fps']:,.0f}" if c["fps"] >= 100 else f"{c['fps']:.1f}"
        print(f"| {c['transport']} | {c['mode']} | {c['width']}x{c['height']} | {c['consumers']} | {rate} | {us(L['p50'])} | {us(L['p99'])} | "
              f"{us(L['p999'])} | {us(L['max'])} | {us(W['p50'])} | {us(W['p99'])} | {fps} | {c['drops']:,} | {us(C['producer'])} | {us(C['consumer'])} |")
    print()
    print("| target | value | limit | |\n|---|--:|--:|---|")
    for t in d["targets"]:
        if "lower_is_better" in t:
            op = "<=" if t["lower_is_better"] else ">="
        else:  # older files: a met target is on the right side of its limit, a missed one on the wrong side
            op = "<=" if (t["value"] <= t["limit"]) == t["pass"] else ">="
        print(f"| {t['target'].strip()} | {t['value']:.3f} | {op} {t['limit']:g} | {'met' if t['pass'] else '**missed**'} |")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
