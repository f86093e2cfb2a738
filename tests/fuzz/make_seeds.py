#!/usr/bin/env python3
"""Writes the seed corpus of the fuzz targets (corpus/<target>/) from real segments made by the
Python module: valid headers and whole segments in each pixel format, with and without frames
and consumers, and a few reader programs. Rerun after a layout change (docs/ABI.md).

Usage: PYTHONPATH=build/dev/python python3 tests/fuzz/make_seeds.py
"""

import os
import struct

import numpy as np

import shmframe

HERE = os.path.dirname(os.path.abspath(__file__))
HEADER_SIZE = 512  # sizeof(SegmentHeader) (layout.hpp); more is harmless: the target copies what fits


def write(target, name, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def segment(name):
    with open(f"/dev/shm/shmframe.{name}", "rb") as f:
        return f.read()


def main():
    cases = [("bgr8", 24, 8, 3, 0), ("gray8", 7, 5, 1, 2), ("bgra8", 16, 4, 2, 1), ("rgb8", 9, 3, 1, 3),
             ("nv12", 16, 8, 2, 1), ("i420", 8, 4, 3, 2), ("yuyv", 10, 3, 2, 1), ("gray16", 5, 3, 2, 1),
             ("bayer_grbg8", 7, 3, 2, 1), ("jpeg", 16, 16, 2, 2)]
    # An array of each format's shape (Frame.array), filled with i.
    shapes = {"gray8": (1,), "bgra8": (4,), "rgb8": (3,), "bgr8": (3,), "yuyv": (2,), "gray16": (1,),
              "bayer_grbg8": (1,)}
    for fmt, w, h, slots, frames in cases:
        name = f"seed-{fmt}"
        with shmframe.Writer(name, w, h, fmt, slots=slots, max_consumers=2, metadata_capacity=16,
                             max_payload=2048 if fmt == "jpeg" else 0) as wr:
            reader = shmframe.Reader(name)
            if frames:
                reader.attach(2.0)
            for i in range(frames):
                if fmt == "jpeg":
                    image = bytes([0xFF, 0xD8]) + bytes([i]) * (100 + i) + bytes([0xFF, 0xD9])
                elif fmt in ("nv12", "i420"):
                    image = np.full((h * 3 // 2, w), i, np.uint8)
                else:
                    dtype = np.uint16 if fmt == "gray16" else np.uint8
                    image = np.full((h, w) + shapes[fmt], i, dtype)
                wr.publish(image, metadata=b"m%d" % i)
            if frames:
                reader.wait(1.0)
            seg = segment(name)
            reader.close()
        write("header", f"{fmt}-{frames}", seg[:HEADER_SIZE] + struct.pack("=Q", len(seg)))
        write("attach", f"{fmt}-{frames}", b"\0\0\0\0" + seg)
    # Reader programs: [delivery] then steps (fuzz_reader.cpp): 0 publish, 1 scribble (u32 offset,
    # u64 value), 2 take, 3 take and hold (0x83: and pin), 4 latest, 5 read (u64 seq), 6 release all,
    # 7 acquire+commit.
    scribble = lambda off, val: bytes([1]) + struct.pack("=IQ", off, val)
    write("reader", "publish-take", bytes([0, 0, 2, 0, 2, 7, 2, 4]))
    write("reader", "hold", bytes([1, 0, 3, 0, 3, 0, 3, 0, 2, 6, 0, 2]))
    write("reader", "pin", bytes([1, 0, 0x83, 0, 0x83, 0, 3, 0, 0x83, 0, 0, 2, 6, 0, 2]))
    write("reader", "lossless", bytes([2, 0, 2, 0, 0, 2, 2, 5]) + struct.pack("=Q", 2))
    write("reader", "poison-seq", bytes([0, 0, 2]) + scribble(4096 * 2, 1 << 60) + bytes([0, 2, 2, 4]))
    write("reader", "state", bytes([0, 0, 2]) + scribble(16, 3) + bytes([0, 2, 2]))


if __name__ == "__main__":
    main()
