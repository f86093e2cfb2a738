#!/usr/bin/env python3
"""A processing stage in Python: reads one stream, publishes its result as another.

    PYTHONPATH=build/dev/python python3 samples/python/stage.py cam0 cam0-edges
    shmframe-consumer --name cam0-edges --processor probe     # gray8, "hops": 1, origin = cam0's frame

Each frame is turned into an edge map (cv2.Canny; --op invert needs numpy only) written
straight into the output stream's slot (zero-copy acquire/commit). The output frame carries its
origin (the input's stream, seq and capture time), so latency is measured end to end through any
number of stages, Python or C++. A new input size starts a new output generation.
"""

import argparse
import sys

import numpy as np

import shmframe


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("input", help="stream to read")
    ap.add_argument("output", help="stream to publish")
    ap.add_argument("--op", choices=["edges", "invert"], default="edges", help="what to compute (default edges)")
    ap.add_argument("--frames", type=int, default=0, help="stop after N frames (0 = until Ctrl-C)")
    ap.add_argument("--lossless", action="store_true", help="take every frame (the producer waits for this stage)")
    ap.add_argument("--timeout", type=float, default=None, help="give up after T s without a frame")
    args = ap.parse_args()
    if args.op == "edges":
        import cv2  # python3-opencv

    done = skipped = 0
    delivery = "lossless" if args.lossless else "latest"
    try:
        with shmframe.Reader(args.input, delivery=delivery, timeout=args.timeout) as reader, shmframe.Writer(
            args.output
        ) as writer:
            for frame in reader:
                if args.op == "edges":
                    channels = frame.channels
                    gray = frame.array[:, :, 0] if channels == 1 else cv2.cvtColor(
                        frame.array, cv2.COLOR_RGB2GRAY if frame.format == "rgb8" else (
                            cv2.COLOR_BGRA2GRAY if channels == 4 else cv2.COLOR_BGR2GRAY))
                    shape, fmt = (frame.height, frame.width), "gray8"
                else:
                    shape, fmt = frame.array.shape, frame.format
                if (writer.width, writer.height, writer.format) != (frame.width, frame.height, fmt):
                    writer.reconfigure(frame.width, frame.height, fmt)  # a new output generation
                with writer.acquire() as slot:
                    out = slot.array.reshape(shape)  # a view of the output slot
                    if args.op == "edges":
                        cv2.Canny(gray, 60, 180, edges=out)
                    else:
                        np.subtract(255, frame.array, out=out)
                    if not frame.still_valid():  # the input was overwritten while we read it
                        slot.abandon()
                        skipped += 1
                        continue
                    slot.commit(origin=frame)
                done += 1
                if args.frames and done >= args.frames:
                    break
    except KeyboardInterrupt:
        pass
    except shmframe.Timeout as e:
        print(f"stage: {e}", file=sys.stderr)
        return 3
    print(f"{args.input} -> {args.output}: {done} frames, {skipped} skipped (input overwritten)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
