#!/usr/bin/env python3
"""A cv2 viewer loop over a shmframe stream: shows frames as they come, with live stats.

    PYTHONPATH=build/dev/python python3 samples/python/viewer.py cam0
    python3 samples/python/viewer.py cam0 --headless --frames 100     # no window: stats only

Keys in the window: q or Esc quits. Follows the stream across producer restarts and format
changes; Ctrl-C stops it.
"""

import argparse
import sys
import time

import shmframe


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("name", help="stream name")
    ap.add_argument("--frames", type=int, default=0, help="stop after N frames (0 = until q / Ctrl-C)")
    ap.add_argument("--headless", action="store_true", help="no window: print the stats only")
    ap.add_argument("--timeout", type=float, default=None, help="give up after T s without a frame")
    args = ap.parse_args()

    cv2 = None
    if not args.headless:
        import cv2  # python3-opencv

    def on_event(ev):  # life-cycle events, on this thread, between frames
        print(f"{args.name}: {ev.kind} (generation {ev.generation}) {ev.message}".rstrip(), flush=True)

    shown, window_start, latencies = 0, time.monotonic(), []
    try:
        with shmframe.Reader(args.name, timeout=args.timeout, on_event=on_event) as reader:
            for frame in reader:
                image = frame.array  # no copy: the slot itself
                if frame.format == "rgb8" and cv2 is not None:
                    image = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
                if cv2 is not None:
                    cv2.imshow(f"shmframe: {args.name}", image)  # copies into the window
                if not frame.still_valid():  # overwritten while shown: count it, show the next
                    continue
                latencies.append(frame.taken_ns - frame.commit_ns)
                shown += 1
                now = time.monotonic()
                if now - window_start >= 1.0:
                    latencies.sort()
                    print(
                        f"{args.name} gen {frame.generation} | {frame.width}x{frame.height} {frame.format} | "
                        f"{len(latencies) / (now - window_start):.1f} fps | hand-off p50 "
                        f"{latencies[len(latencies) // 2] / 1e3:.1f} us | seq {frame.seq} | "
                        f"drops {reader.stats['drops']}",
                        flush=True,
                    )
                    window_start, latencies = now, []
                if cv2 is not None and cv2.waitKey(1) & 0xFF in (ord("q"), 27):
                    break
                if args.frames and shown >= args.frames:
                    break
    except KeyboardInterrupt:
        pass
    except shmframe.Timeout as e:
        print(f"viewer: {e}", file=sys.stderr)
        return 3
    print(f"{args.name}: {shown} frames shown", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
