#!/usr/bin/env python3
"""Python against C++, as ratios within one run (issue #8; docs/PERFORMANCE.md, "Python").

  hand-off   A 1920x1080 bgr8 30 fps test-pattern producer (shmframe-producer). In alternating
             rounds, the C++ probe (shmframe-consumer --processor probe: handoff_ns = when its
             processor gets the frame - commit_ns) and a Python Reader loop (time.monotonic_ns()
             in the loop body, after frame.array is made - frame.commit_ns) each take FRAMES
             frames alone. p50 / p99 per side over all its rounds; the ratio is Python / C++.
             Python overhead per frame: loop body time - frame.taken_ns (when the C++ wait
             returned the frame to the binding), i.e. the binding's and the interpreter's part.
  floor      What any Python consumer pays to be woken: a child writes its CLOCK_MONOTONIC time
             into a pipe at 30 Hz, a Python loop reads it (os.read) and takes the difference in the
             loop body. Same rounds as the hand-off. shmframe's Python hand-off minus this floor
             is what shmframe adds over the cheapest possible Python wake-up.
  publish    1920x1080 bgr8 from a numpy array: Writer.publish in a Python loop against the same
             publish looped in C++ (shmframe._shmframe._bench_publish_cpp) in this process, alternating
             rounds; median time per publish and the ratio.

Usage: PYTHONPATH=build/release/python python3 bench/python_bench.py [--build build/release]
       [--frames 150] [--rounds 3] [--json out.json]
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import numpy as np

import shmframe


def pct(values, p):
    v = sorted(values)
    return v[min(len(v) - 1, int(len(v) * p / 100))]


def cpp_round(consumer, name, frames):
    out = subprocess.run(
        [consumer, "--name", name, "--processor", "probe", "--frames", str(frames), "--timeout-ms", "10000"],
        capture_output=True, text=True, timeout=120, check=True,
    ).stdout
    return [json.loads(l)["handoff_ns"] for l in out.splitlines() if '"event":"frame"' in l]


def python_round(name, frames):
    handoff, overhead = [], []
    with shmframe.Reader(name, timeout=10.0) as r:
        first = True
        for f in r:
            a = f.array  # the zero-copy view is part of what a Python consumer pays
            now = time.monotonic_ns()
            if first:  # attach-time frame: it was committed before this reader existed
                first = False
                continue
            handoff.append(now - f.commit_ns)
            overhead.append(now - f.taken_ns)
            del a
            if len(handoff) == frames:
                break
    return handoff, overhead


PIPE_WRITER = """
import os, struct, sys, time
fd, n = int(sys.argv[1]), int(sys.argv[2])
period = 1 / 30
t = time.monotonic()
for _ in range(n):
    t += period
    time.sleep(max(0.0, t - time.monotonic()))  # pacing only
    os.write(fd, struct.pack("=Q", time.monotonic_ns()))
"""


def pipe_round(frames):
    import struct

    r, w = os.pipe()
    child = subprocess.Popen([sys.executable, "-c", PIPE_WRITER, str(w), str(frames + 1)], pass_fds=(w,))
    os.close(w)
    lat = []
    try:
        first = True
        while True:
            b = os.read(r, 8)
            now = time.monotonic_ns()
            if len(b) < 8:
                break
            if first:
                first = False
                continue
            lat.append(now - struct.unpack("=Q", b)[0])
    finally:
        os.close(r)
        child.wait(60)
    return lat


def handoff_bench(args, producer, consumer):
    name = f"pybench-{os.getpid()}"
    p = subprocess.Popen([producer, "--name", name, "--width", "1920", "--height", "1080", "--fps", "30"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        cpp, py, over, floor = [], [], [], []
        for _ in range(args.rounds):
            cpp += cpp_round(consumer, name, args.frames)
            h, o = python_round(name, args.frames)
            py += h
            over += o
            floor += pipe_round(args.frames)
    finally:
        p.terminate()
        p.wait(10)
    return {
        "cpp_p50_us": pct(cpp, 50) / 1e3, "cpp_p99_us": pct(cpp, 99) / 1e3,
        "python_p50_us": pct(py, 50) / 1e3, "python_p99_us": pct(py, 99) / 1e3,
        "ratio_p50": pct(py, 50) / pct(cpp, 50), "ratio_p99": pct(py, 99) / pct(cpp, 99),
        "python_overhead_p50_us": pct(over, 50) / 1e3, "python_overhead_p99_us": pct(over, 99) / 1e3,
        "frames_each": len(py),
        "python_pipe_floor_p50_us": pct(floor, 50) / 1e3, "python_pipe_floor_p99_us": pct(floor, 99) / 1e3,
    }


def hot_overhead(frames=2000):
    """The binding's per-frame work with warm caches: a Writer in this process publishes, a
    Reader takes each frame (every_frame) right away; overhead = loop body - taken_ns."""
    name = f"pybench-hot-{os.getpid()}"
    img = np.zeros((480, 640, 3), np.uint8)
    over = []
    with shmframe.Writer(name, 640, 480) as w, shmframe.Reader(name, delivery="every_frame", timeout=5.0) as r:
        r.attach(2.0)
        it = iter(r)
        for _ in range(frames):
            w.publish(img)
            f = next(it)
            a = f.array
            over.append(time.monotonic_ns() - f.taken_ns)
            del a, f
    return {"p50_us": pct(over, 50) / 1e3, "p99_us": pct(over, 99) / 1e3}


def publish_bench(args):
    img = (np.arange(1080 * 1920 * 3, dtype=np.uint32) % 251).astype(np.uint8).reshape(1080, 1920, 3)
    count = max(30, args.frames)
    py_times, cpp_times = [], []
    name = f"pybench-pub-{os.getpid()}"
    for _ in range(args.rounds):
        with shmframe.Writer(name, 1920, 1080) as w:
            w.publish(img)  # warm: first touch of both slots
            w.publish(img)
            t0 = time.perf_counter()
            for _ in range(count):
                w.publish(img)
            py_times.append((time.perf_counter() - t0) / count)
        cpp_times.append(shmframe._shmframe._bench_publish_cpp(name + "-cpp", img, count))
    py, cpp = statistics.median(py_times), statistics.median(cpp_times)
    return {"python_us": py * 1e6, "cpp_us": cpp * 1e6, "ratio": py / cpp, "publishes_each": count * args.rounds}


def main():
    ap = argparse.ArgumentParser(description="Python vs C++ hand-off and publish, as ratios in one run")
    ap.add_argument("--build", default="build/release")
    ap.add_argument("--frames", type=int, default=150, help="frames per round and side (default 150: 5 s at 30 fps)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--json", help="write the results here too")
    args = ap.parse_args()
    producer = os.path.join(args.build, "producer/shmframe-producer")
    consumer = os.path.join(args.build, "consumer/shmframe-consumer")
    for exe in (producer, consumer):
        if not os.access(exe, os.X_OK):
            sys.exit(f"python_bench: {exe} is missing: build first (cmake --build {args.build})")
    h = handoff_bench(args, producer, consumer)
    print(f"hand-off 1080p bgr8 30 fps, {h['frames_each']} frames per side in {args.rounds} alternating rounds:")
    print(f"  C++ probe      p50 {h['cpp_p50_us']:8.1f} us  p99 {h['cpp_p99_us']:8.1f} us")
    print(f"  Python Reader  p50 {h['python_p50_us']:8.1f} us  p99 {h['python_p99_us']:8.1f} us"
          f"   ratio p50 {h['ratio_p50']:.2f}x  p99 {h['ratio_p99']:.2f}x")
    print(f"  Python per-frame overhead (wait returned -> loop body, array made): p50 "
          f"{h['python_overhead_p50_us']:.1f} us  p99 {h['python_overhead_p99_us']:.1f} us")
    print(f"  floor: a Python loop woken by a pipe write (no frame) p50 {h['python_pipe_floor_p50_us']:8.1f} us"
          f"  p99 {h['python_pipe_floor_p99_us']:8.1f} us")
    hot = hot_overhead()
    print(f"  hot caches (frames back to back, 640x480): Python per-frame overhead p50 {hot['p50_us']:.1f} us"
          f"  p99 {hot['p99_us']:.1f} us")
    h["hot"] = hot
    p = publish_bench(args)
    print(f"publish 1920x1080 bgr8 from a numpy array ({p['publishes_each']} per side):")
    print(f"  Python Writer.publish {p['python_us']:8.1f} us   C++ Writer::publish {p['cpp_us']:8.1f} us"
          f"   ratio {p['ratio']:.2f}x")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"handoff": h, "publish": p}, f, indent=2)


if __name__ == "__main__":
    main()
