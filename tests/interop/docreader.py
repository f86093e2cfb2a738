#!/usr/bin/python3
"""A read-only shmframe consumer written from docs/ABI.md and docs/PROTOCOL.md alone.

It exists to check that the written contract is enough to build a compatible reader in another
language: it uses no shmframe code (no C++ library, no `shmframe` Python module), only the
standard library (os, struct, zlib, ctypes for mmap/futex/inotify through libc). It follows
PROTOCOL.md "Read-only consumers": the segment is opened O_RDONLY|O_NOFOLLOW|O_NONBLOCK and mapped
PROT_READ, no consumer entry is claimed, waits sleep on the header's `reader_wake` futex word.

Output: one JSON object per line on stdout:
  {"event":"attached","generation":G,"width":W,"height":H,"format":"bgr8","stride":S,"slots":N,
   "producer_pid":P}
  {"event":"frame","seq":S,"generation":G,"width":W,"height":H,"format":F,"crc32":"xxxxxxxx",
   "pattern_ok":true|false|null,"valid":true,"dropped":D,"metadata_size":M}
  {"event":"overrun","seq":S,"generation":G,"valid":false}    (overwritten while copied out)
  {"event":"producer_lost",...} {"event":"closed","generation":G} {"event":"corrupt",...}
  {"event":"error","error":KIND,"message":...}   (then exit with the code below)

Exit codes: 0 done (N frames, or closed with --exit-on-close); 2 bad arguments; 3 timeout (no
stream / no frame within --timeout); 4 a frame failed --verify; 5 ABI mismatch; 6 not a shmframe
segment or not a regular file; 7 invalid or corrupt segment (header validation, sparse object);
8 permission denied; 1 any other error.

Memory ordering: the reader runs on x86-64 only (checked at start), where the acquire loads and
acquire fences PROTOCOL.md asks of a reader are plain aligned loads (the ctypes integer getters
read an aligned u32/u64 with one instruction). A port to a weakly ordered CPU needs real
acquire loads and fences, which pure Python cannot express.
"""

import argparse
import ctypes
import errno
import json
import os
import platform
import re
import select
import stat
import struct
import sys
import time
import zlib

# ---------------------------------------------------------------- constants (docs/ABI.md)
MAGIC = 0x454D4152464D4853          # "SHMFRAME"
LOCK_MAGIC = 0x4B434F4C464D4853     # "SHMFLOCK"
ABI_VERSION = 7
HEADER_SIZE = 512
PAGE = 4096                          # ABI.md: "page (4096) aligned"
SLOT_HEADER = 64
CONSUMER_STRIDE = 128
ST_CREATED, ST_INITIALIZING, ST_READY, ST_CLOSED, ST_SUPERSEDED = 0, 1, 2, 3, 4
STATE_NAMES = {0: "created", 1: "initializing", 2: "ready", 3: "closed", 4: "superseded"}
# ABI.md "Pixel formats": value -> (name, bytes_per_pixel, planes, width multiple, height multiple)
FORMATS = {
    1: ("gray8", 1, 1, 1, 1), 2: ("bgr8", 3, 1, 1, 1), 3: ("rgb8", 3, 1, 1, 1), 4: ("bgra8", 4, 1, 1, 1),
    5: ("rgba8", 4, 1, 1, 1), 6: ("gray16", 2, 1, 1, 1), 7: ("yuyv", 2, 1, 2, 1), 8: ("uyvy", 2, 1, 2, 1),
    9: ("nv12", 1, 2, 2, 2), 10: ("i420", 1, 3, 2, 2), 11: ("bayer_rggb8", 1, 1, 1, 1),
    12: ("bayer_bggr8", 1, 1, 1, 1), 13: ("bayer_grbg8", 1, 1, 1, 1), 14: ("bayer_gbrg8", 1, 1, 1, 1),
    15: ("jpeg", 0, 1, 1, 1),
}
PLANES_OFFSET, PLANE_ENTRY = 224, 24


def plane_shapes(name, w, h, frame_bytes):
    """ABI.md "Pixel formats": (rows, row_bytes) of each plane."""
    if name == "jpeg":
        return [(1, frame_bytes)]
    if name == "nv12":
        return [(h, w), (h // 2, w)]
    if name == "i420":
        return [(h, w), (h // 2, w // 2), (h // 2, w // 2)]
    bpp = next(f[1] for f in FORMATS.values() if f[0] == name)
    return [(h, w * bpp)]
MAX_DIM = 32768
MAX_SLOTS = 64
MAX_CONSUMERS = 1024
MAX_METADATA = 1 << 20
HB_MIN_NS, HB_MAX_NS = 1_000_000, 60_000_000_000
READY_TIMEOUT_NS = 2_000_000_000
U64 = (1 << 64) - 1

# header field offsets
OFF_STATE = 16
OFF_LAST_SEQ = 64
OFF_HEARTBEAT = 72
OFF_READER_WAKE = 120

NAME_RE = re.compile(r"[A-Za-z0-9_.-]{1,64}")
ORIGIN_MAGIC, ORIGIN_SIZE, SLOT_HAS_ORIGIN = 0x4E47524F, 104, 1  # ABI.md "Origin record", slot flags bit 0


def origin_of(seq, generation, capture_ns, meta, flags, stream):
    """ABI.md "Origin record": the camera frame behind a frame (itself, hops 0, unless the slot's
    flags bit 0 is set and the first 104 bytes of its metadata are a believable record)."""
    out = dict(origin_stream=stream, origin_seq=seq, origin_generation=generation, hops=0,
               origin_capture_ns=capture_ns, user_metadata_size=len(meta))
    if not flags & SLOT_HAS_ORIGIN or len(meta) < ORIGIN_SIZE:
        return out
    out["user_metadata_size"] = len(meta) - ORIGIN_SIZE
    magic, size, oseq, ogen, ocap, hops, length = struct.unpack_from("<IIQQQII", meta, 0)
    if magic != ORIGIN_MAGIC or size != ORIGIN_SIZE or not 1 <= length <= 64:
        return out
    name = meta[40:40 + length].decode("ascii", "replace")
    if not NAME_RE.fullmatch(name) or name in (".", ".."):
        return out
    out.update(origin_stream=name, origin_seq=oseq, origin_generation=ogen, hops=hops, origin_capture_ns=ocap)
    return out

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_TIMEOUT, EXIT_VERIFY = 0, 1, 2, 3, 4
EXIT_ABI, EXIT_NOT_SHMFRAME, EXIT_INVALID, EXIT_PERMISSION = 5, 6, 7, 8


class Fatal(Exception):
    """The object exists but cannot be used: reported as an `error` event, then exit."""

    def __init__(self, kind, code, message):
        super().__init__(message)
        self.kind, self.code, self.message = kind, code, message


class GiveUp(Exception):
    """--timeout passed."""


# ---------------------------------------------------------------- libc: mmap, futex, inotify
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
libc.mmap.restype = ctypes.c_void_p
libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int,
                      ctypes.c_long]
libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
libc.munmap.restype = ctypes.c_int
libc.inotify_init1.argtypes = [ctypes.c_int]
libc.inotify_add_watch.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_uint32]
PROT_READ, MAP_SHARED = 0x1, 0x01
MAP_FAILED = ctypes.c_void_p(-1).value
SYS_FUTEX = 202                      # x86-64
FUTEX_WAIT, FUTEX_WAKE = 0, 1        # shared (not FUTEX_PRIVATE_FLAG): the word is in shared memory
IN_CREATE, IN_MOVED_TO, IN_DELETE, IN_MODIFY, IN_ATTRIB = 0x100, 0x80, 0x200, 0x2, 0x4
IN_NONBLOCK, IN_CLOEXEC = os.O_NONBLOCK, os.O_CLOEXEC


class Timespec(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]


def futex_wait(addr, expected, timeout_ns):
    """FUTEX_WAIT(addr, expected) for at most timeout_ns (relative, CLOCK_MONOTONIC)."""
    if timeout_ns <= 0:
        return
    ts = Timespec(timeout_ns // 1_000_000_000, timeout_ns % 1_000_000_000)
    r = libc.syscall(ctypes.c_long(SYS_FUTEX), ctypes.c_void_p(addr), ctypes.c_int(FUTEX_WAIT),
                     ctypes.c_uint(expected & 0xFFFFFFFF), ctypes.byref(ts), None, ctypes.c_int(0))
    if r == -1:
        e = ctypes.get_errno()
        if e not in (errno.EAGAIN, errno.ETIMEDOUT, errno.EINTR):
            raise OSError(e, "futex: " + os.strerror(e))


def load32(addr):
    return ctypes.c_uint32.from_address(addr).value


def load64(addr):
    return ctypes.c_uint64.from_address(addr).value


def now_ns():
    return time.monotonic_ns()      # CLOCK_MONOTONIC, the clock of heartbeat_ns / commit_ns


class Mapping:
    def __init__(self, fd, length):
        addr = libc.mmap(None, length, PROT_READ, MAP_SHARED, fd, 0)
        if addr is None or addr == MAP_FAILED:
            e = ctypes.get_errno()
            raise OSError(e, "mmap: " + os.strerror(e))
        self.addr, self.length = addr, length

    def close(self):
        if self.addr:
            libc.munmap(self.addr, self.length)
            self.addr = 0


class NameWatch:
    """inotify on /dev/shm: a kernel wake-up when a name appears, goes or changes."""

    def __init__(self):
        self.fd = libc.inotify_init1(IN_NONBLOCK | IN_CLOEXEC)
        if self.fd < 0 or libc.inotify_add_watch(
                self.fd, b"/dev/shm", IN_CREATE | IN_MOVED_TO | IN_DELETE | IN_MODIFY | IN_ATTRIB) < 0:
            raise OSError(ctypes.get_errno(), "inotify on /dev/shm")

    def wait(self, timeout_ns):
        """Sleep until something changes in /dev/shm or timeout_ns passes (then drain)."""
        if timeout_ns > 0:
            select.select([self.fd], [], [], timeout_ns / 1e9)
        try:
            while os.read(self.fd, 65536):
                pass
        except BlockingIOError:
            pass


# ---------------------------------------------------------------- processes
def proc_stat(pid):
    """Fields 3.. of /proc/PID/task/PID/stat (comm may hold spaces and parens), or None when the
    process does not exist."""
    try:
        with open(f"/proc/{pid}/task/{pid}/stat", "rb") as f:
            data = f.read()
    except OSError:
        return None
    return data[data.rfind(b")") + 2:].split()


def start_ticks(pid):
    """Field 22 of the stat (the start time), or None."""
    fields = proc_stat(pid)
    try:
        return int(fields[22 - 3]) if fields else None
    except (IndexError, ValueError):
        return None


def pid_alive(pid, ticks=None):
    """PROTOCOL.md "Liveness and recovery": the pid exists, is not a zombie (state Z), and has
    the start time `ticks` when one is given."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    fields = proc_stat(pid)
    if fields and fields[0] == b"Z":
        return False
    if ticks:
        t = start_ticks(pid)
        if t is not None and t != ticks:
            return False
    return True


def name_owner(name):
    """PROTOCOL.md "Liveness and recovery", "Owner of a name": the pid holding the flock on
    /dev/shm/shmframe-lock.NAME as /proc/locks lists it; 0 when there is no lock object; None when
    no holder is listed (or /proc/locks cannot be read)."""
    try:
        st = os.lstat("/dev/shm/shmframe-lock." + name)
    except FileNotFoundError:
        return 0
    except OSError:
        return None
    try:
        with open("/proc/locks") as f:
            lines = f.readlines()
    except OSError:
        return None
    for line in lines:
        parts = line.split()
        if len(parts) < 6 or parts[1] == "->" or parts[1] != "FLOCK":
            continue
        try:
            maj, mnr, ino = parts[5].split(":")
            if (int(maj, 16), int(mnr, 16), int(ino)) == (os.major(st.st_dev), os.minor(st.st_dev), st.st_ino):
                return max(int(parts[4]), -1) or -1     # -1: listed without a pid
        except ValueError:
            continue
    return None


def producer_gone(name, h, heartbeat_ns):
    """PROTOCOL.md "Liveness and recovery", "Gone": never on the heartbeat alone."""
    interval = h["heartbeat_interval_ns"]
    age = max(0, now_ns() - heartbeat_ns)
    if age <= interval * 3 // 2:
        return False
    pid, ticks = h["writer_pid"], h["writer_start_ticks"]
    if pid_alive(pid, ticks):
        return False
    owner = name_owner(name)
    if owner == 0:
        return True
    if owner is not None and owner > 0:
        return not (ticks and start_ticks(owner) == ticks)
    return owner is None                                # listed without a pid: alive


def lock_record_pid(name):
    """The pid in /shmframe-lock.NAME (ABI.md "Lock object"), or None (unknown)."""
    try:
        fd = os.open("/dev/shm/shmframe-lock." + name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        rec = os.pread(fd, 24, 0)
    finally:
        os.close(fd)
    if len(rec) < 24:
        return None
    magic, _gen, pid = struct.unpack_from("<QQi", rec)
    return pid if magic == LOCK_MAGIC and pid > 0 else None


# ---------------------------------------------------------------- header validation
HEADER_FIELDS = [  # (name, offset, struct code)
    ("magic", 0, "Q"), ("abi_version", 8, "I"), ("header_size", 12, "I"), ("state", 16, "I"),
    ("flags", 20, "I"), ("total_size", 24, "Q"), ("generation", 32, "Q"), ("writer_pid", 40, "i"),
    ("writer_uid", 44, "I"), ("writer_start_ticks", 48, "Q"), ("created_realtime_ns", 56, "Q"),
    ("width", 128, "I"), ("height", 132, "I"), ("stride", 136, "I"), ("pixel_format", 140, "I"),
    ("bytes_per_pixel", 144, "I"), ("slot_count", 148, "I"), ("max_consumers", 152, "I"),
    ("metadata_capacity", 156, "I"), ("frame_bytes", 160, "Q"), ("slots_offset", 168, "Q"),
    ("slot_stride", 176, "Q"), ("pixel_offset", 184, "Q"), ("consumers_offset", 192, "Q"),
    ("consumer_stride", 200, "Q"), ("heartbeat_interval_ns", 208, "Q"), ("plane_count", 216, "I"),
]


def parse_header(raw):
    h = {n: struct.unpack_from("<" + c, raw, o)[0] for n, o, c in HEADER_FIELDS}
    # PlaneEntry: offset u64, stride u32, row_bytes u32, rows u32, reserved u32
    h["planes"] = [struct.unpack_from("<QIII", raw, PLANES_OFFSET + i * PLANE_ENTRY) for i in range(3)]
    return h


def validate_header(h, object_size, path):
    """ABI.md "Validation" step 4 on the private copy. Python integers do not overflow, so every
    sum and product is exact; each result is also kept within u64 as a C reader's would be."""
    def bad(what):
        raise Fatal("invalid_header", EXIT_INVALID, f"{path}: invalid segment header: {what}")

    if h["total_size"] > object_size:
        bad(f"total_size {h['total_size']} > object size {object_size}")
    if h["generation"] == 0:
        bad("generation 0")
    if h["writer_pid"] <= 0:
        bad(f"writer_pid {h['writer_pid']}")
    fmt = FORMATS.get(h["pixel_format"])
    if fmt is None:
        bad(f"unknown pixel_format {h['pixel_format']}")
    name, bpp, nplanes, xm, ym = fmt
    if h["bytes_per_pixel"] != bpp:
        bad(f"bytes_per_pixel {h['bytes_per_pixel']} does not match {name}")
    if h["plane_count"] != nplanes:
        bad(f"plane_count {h['plane_count']} does not match {name}")
    if not (1 <= h["width"] <= MAX_DIM and 1 <= h["height"] <= MAX_DIM):
        bad(f"size {h['width']}x{h['height']} out of range")
    if h["width"] % xm or h["height"] % ym:
        bad(f"{name} needs an even size, not {h['width']}x{h['height']}")
    fb = h["frame_bytes"]
    if name == "jpeg" and not 1024 <= fb <= 1 << 31:
        bad(f"jpeg capacity {fb}")
    # ABI.md "Planes"
    prev_end, largest = 0, 0
    for i, (rows, row_bytes) in enumerate(plane_shapes(name, h["width"], h["height"], fb)):
        off, stride, rb, r = h["planes"][i]
        if (r, rb) != (rows, row_bytes):
            bad(f"plane {i}: {r} rows of {rb} bytes, {name} has {rows} of {row_bytes}")
        if stride < rb or off < prev_end or (i == 0 and off != 0):
            bad(f"plane {i} at {off} stride {stride}: overlaps, or stride below its row")
        if name == "i420" and i == 2 and stride != h["planes"][1][1]:
            bad("i420 planes 1 and 2 have different strides")
        end = off + stride * rows
        if end > fb:
            bad(f"plane {i} ends at {end}, past frame_bytes {fb}")
        prev_end, largest = off + stride * (rows - 1) + rb, max(largest, end)
    if h["stride"] != h["planes"][0][1]:
        bad(f"stride {h['stride']} is not plane 0's {h['planes'][0][1]}")
    if name != "jpeg" and fb != largest:
        bad(f"frame_bytes {fb} is not the planes' extent {largest}")
    if not 1 <= h["slot_count"] <= MAX_SLOTS:
        bad(f"slot_count {h['slot_count']}")
    if not 1 <= h["max_consumers"] <= MAX_CONSUMERS:
        bad(f"max_consumers {h['max_consumers']}")
    if h["metadata_capacity"] > MAX_METADATA:
        bad(f"metadata_capacity {h['metadata_capacity']}")
    if h["consumer_stride"] != CONSUMER_STRIDE:
        bad(f"consumer_stride {h['consumer_stride']}")
    co = h["consumers_offset"]
    table_end = co + h["max_consumers"] * CONSUMER_STRIDE
    # ABI.md's field table also says "64-byte aligned"; the Validation list does not: checked.
    if co < HEADER_SIZE or co % 64 or table_end > U64 or table_end > h["total_size"]:
        bad(f"consumer table [{co}, {table_end}) not after the header / inside the object")
    po, ss = h["pixel_offset"], h["slot_stride"]
    if po < SLOT_HEADER + h["metadata_capacity"] or po % PAGE:
        bad(f"pixel_offset {po}")
    if po + fb > U64 or po + fb > ss or ss % PAGE or ss == 0:
        bad(f"slot_stride {ss} (pixel_offset + frame_bytes = {po + fb})")
    so = h["slots_offset"]
    slots_end = so + h["slot_count"] * ss
    if so % PAGE or so < table_end or slots_end > U64 or slots_end > h["total_size"]:
        bad(f"slots [{so}, {slots_end}) not page aligned / after the consumer table / inside the object")
    if not HB_MIN_NS <= h["heartbeat_interval_ns"] <= HB_MAX_NS:
        bad(f"heartbeat_interval_ns {h['heartbeat_interval_ns']}")


# ---------------------------------------------------------------- the test pattern (RELIABILITY.md)
class Pattern:
    """Expected planes of frame `seq` (shmframe/pattern.hpp, RELIABILITY.md): the B, G, R picture
    (gradient, bar, seq code), then each format's storage rule. Gradient rows are cached."""

    def __init__(self, w, h, fmt):
        self.w, self.h, self.fmt = w, h, fmt
        self.grad = []
        for y in range(h):
            g = y * 255 // max(1, h - 1)
            self.grad.append([(x * 255 // max(1, w - 1), g, 128) for x in range(w)])

    def bgr(self, seq, y):
        w = self.w
        row = list(self.grad[y])
        bar = min(w, max(4, w // 40))
        step = max(1, w // 120)
        bx = ((seq * step) & U64) % w
        for x in range(bx, min(w, bx + bar)):       # the bar does not wrap (as written)
            row[x] = (255, 255, 255)
        c = max(1, w // 128)
        if y < c:                                    # the seq code paints over the bar
            for x in range(min(w, 64 * c)):
                v = 255 if (seq >> (x // c)) & 1 else 0
                row[x] = (v, v, v)
        return row

    @staticmethod
    def luma(p):
        b, g, r = p
        return (114 * b + 587 * g + 299 * r + 500) // 1000

    @staticmethod
    def yuv(p):
        b, g, r = p
        return ((66 * r + 129 * g + 25 * b + 4224) >> 8, (112 * b - 38 * r - 74 * g + 32896) >> 8,
                (112 * r - 94 * g - 18 * b + 32896) >> 8)

    BAYER = {"bayer_rggb8": ((2, 1), (1, 0)), "bayer_bggr8": ((0, 1), (1, 2)),
             "bayer_grbg8": ((1, 2), (0, 1)), "bayer_gbrg8": ((1, 0), (2, 1))}

    def row(self, seq, plane, y):
        f = self.fmt
        if plane > 0:                                # 4:2:0 chroma: row 2y, even pixels
            px = self.bgr(seq, 2 * y)[0::2]
            uv = [self.yuv(p)[1:] for p in px]
            if f == "nv12":
                return bytes(v for pair in uv for v in pair)
            return bytes(c[plane - 1] for c in uv)
        px = self.bgr(seq, y)
        if f == "bgr8":
            return bytes(v for p in px for v in p)
        if f == "rgb8":
            return bytes(v for p in px for v in (p[2], p[1], p[0]))
        if f == "bgra8":
            return bytes(v for p in px for v in (p[0], p[1], p[2], 255))
        if f == "rgba8":
            return bytes(v for p in px for v in (p[2], p[1], p[0], 255))
        if f == "gray8":
            return bytes(self.luma(p) for p in px)
        if f == "gray16":                            # little-endian L * 256 + (x + y) mod 256
            return bytes(v for x, p in enumerate(px) for v in ((x + y) & 0xFF, self.luma(p)))
        if f in ("yuyv", "uyvy"):
            out = bytearray()
            for x in range(0, self.w - 1, 2):
                (y0, u, v), (y1, _, _) = self.yuv(px[x]), self.yuv(px[x + 1])
                out += bytes((y0, u, y1, v) if f == "yuyv" else (u, y0, v, y1))
            return bytes(out)
        if f in ("nv12", "i420"):
            return bytes(self.yuv(p)[0] for p in px)
        m = self.BAYER[f][y % 2]
        return bytes(p[m[x % 2]] for x, p in enumerate(px))

    def check(self, seq, planes):
        """None, or where the first byte differs."""
        for i, rows in enumerate(planes):
            for y, got in enumerate(rows):
                exp = self.row(seq, i, y)
                if got != exp:
                    k = next(k for k in range(len(exp)) if got[k] != exp[k])
                    return {"plane": i, "byte": k, "y": y, "expected": exp[k], "found": got[k]}
        return None


# ---------------------------------------------------------------- the reader
class Segment:
    """One attached object: its descriptor, identity, validated header copy and mapping."""

    def __init__(self, fd, st, h, mapping):
        self.fd, self.dev, self.ino, self.h, self.map = fd, st.st_dev, st.st_ino, h, mapping
        self.base = mapping.addr
        self.seen_seq, self.progress_ns = None, now_ns()   # last_committed_seq, when it last changed

    def close(self):
        self.map.close()
        os.close(self.fd)


class DocReader:
    def __init__(self, args):
        if not NAME_RE.fullmatch(args.name) or args.name in (".", ".."):
            raise Fatal("invalid_name", EXIT_USAGE, f"invalid stream name {args.name!r}")
        self.a = args
        self.path = "/dev/shm/shmframe." + args.name
        self.watch = NameWatch()
        self.seg = None
        self.frames = 0
        self.last_frame_time = now_ns()
        self.timeout_ns = int(args.timeout * 1e9)
        self.pattern = None
        self.pattern_failures = 0
        self.dead = set()            # (dev, ino) of objects we are done with

    # ---- output
    def emit(self, **obj):
        sys.stdout.write(json.dumps(obj, separators=(",", ":")) + "\n")
        sys.stdout.flush()

    def log(self, msg):
        sys.stderr.write(f"docreader: {msg}\n")
        sys.stderr.flush()

    def deadline_left(self):
        left = self.last_frame_time + self.timeout_ns - now_ns()
        if left <= 0:
            raise GiveUp()
        return left

    # ---- attach (PROTOCOL.md "Attach" steps 1-4, read-only)
    def name_identity(self):
        try:
            st = os.stat(self.path, follow_symlinks=False)
        except FileNotFoundError:
            return None
        return (st.st_dev, st.st_ino)

    def attach(self):
        first_seen = {}
        reported_init = set()
        while True:
            self.deadline_left()
            try:
                fd = os.open(self.path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
            except FileNotFoundError:
                self.watch.wait(min(self.deadline_left(), 1_000_000_000))
                continue
            except PermissionError as e:
                raise Fatal("permission_denied", EXIT_PERMISSION,
                            f"{self.path}: permission denied ({e.strerror}); ask the producer for --mode 0640/0644")
            except OSError as e:
                if e.errno == errno.ELOOP:
                    raise Fatal("not_regular", EXIT_NOT_SHMFRAME, f"{self.path}: a symbolic link, refused")
                raise Fatal("open_failed", EXIT_ERROR, f"{self.path}: {e.strerror}")
            keep = False
            try:
                seg = self.try_attach(fd, first_seen, reported_init)
                if seg is not None:
                    keep = True
                    return seg
            finally:
                if not keep:
                    os.close(fd)

    def try_attach(self, fd, first_seen, reported_init):
        """One look at an opened object: a Segment, or None to look again (after a bounded wait)."""
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise Fatal("not_regular", EXIT_NOT_SHMFRAME, f"{self.path}: not a regular file, refused")
        key = (st.st_dev, st.st_ino)
        if key in self.dead:
            self.watch.wait(min(self.deadline_left(), 100_000_000))
            return None
        t0 = first_seen.setdefault(key, now_ns())
        ready_timeout = int(self.a.ready_timeout * 1e9)
        if st.st_size < HEADER_SIZE:
            # Still being created: inotify IN_MODIFY/IN_ATTRIB come with ftruncate / fallocate.
            if now_ns() - t0 > ready_timeout:
                self.init_timeout(key, 0, None, first_seen, reported_init)
            self.watch.wait(min(self.deadline_left(), ready_timeout, 100_000_000))
            return None
        hdr = Mapping(fd, HEADER_SIZE)
        try:
            state_addr = hdr.addr + OFF_STATE
            while True:
                state = load32(state_addr)
                if state != ST_CREATED:
                    raw = ctypes.string_at(hdr.addr, HEADER_SIZE)
                    magic, abi, hsize = struct.unpack_from("<QII", raw)
                    bad_identity = magic != MAGIC or abi != ABI_VERSION or hsize != HEADER_SIZE
                    owner = name_owner(self.a.name) if bad_identity else None
                    if bad_identity and owner is not None and owner != 0:
                        # PROTOCOL.md "Attach" step 2: a live owner's header was valid; someone
                        # else wrote this one. Look again within 50 ms; a bad magic is never
                        # reported, another version once it outlasts the READY timeout.
                        if magic == MAGIC and now_ns() - t0 > ready_timeout:
                            raise Fatal("abi_mismatch", EXIT_ABI,
                                        f"{self.path}: ABI mismatch: the segment has ABI version {abi} (header size {hsize}), "
                                        f"this reader speaks version {ABI_VERSION} (header size {HEADER_SIZE})")
                        self.watch.wait(min(self.deadline_left(), 50_000_000))
                        return None
                    if magic != MAGIC:
                        raise Fatal("not_shmframe", EXIT_NOT_SHMFRAME, f"{self.path}: not a shmframe segment (magic {magic:#x})")
                    if abi != ABI_VERSION or hsize != HEADER_SIZE:
                        raise Fatal("abi_mismatch", EXIT_ABI,
                                    f"{self.path}: ABI mismatch: the segment has ABI version {abi} (header size {hsize}), "
                                    f"this reader speaks version {ABI_VERSION} (header size {HEADER_SIZE})")
                if state in (ST_CREATED, ST_INITIALIZING):
                    left = ready_timeout - (now_ns() - t0)
                    if left <= 0:
                        pid = struct.unpack_from("<i", ctypes.string_at(hdr.addr + 40, 4))[0] if state else None
                        if not self.init_timeout(key, state, pid, first_seen, reported_init):
                            return None
                        t0 = first_seen[key]
                        continue
                    futex_wait(state_addr, state, min(left, self.deadline_left(), 100_000_000))
                    continue
                if state in (ST_CLOSED, ST_SUPERSEDED):
                    h = parse_header(raw)
                    # "A joiner that finds such a segment whose producer lives and beats does not skip
                    # it: it looks again within min(interval, 50 ms)." (Hostile writers)
                    hb = struct.unpack_from("<Q", ctypes.string_at(hdr.addr + OFF_HEARTBEAT, 8))[0]
                    interval = h["heartbeat_interval_ns"] if HB_MIN_NS <= h["heartbeat_interval_ns"] <= HB_MAX_NS else 100_000_000
                    owner = name_owner(self.a.name)     # ABI.md "Validation" step 3
                    if owner is None:
                        alive = pid_alive(h["writer_pid"], h["writer_start_ticks"]) and now_ns() - hb <= 3 * interval
                    else:
                        alive = owner != 0
                    if alive:
                        self.watch.wait(min(self.deadline_left(), interval, 50_000_000))
                    else:
                        self.dead.add(key)
                        self.watch.wait(min(self.deadline_left(), 100_000_000))
                    return None
                if state != ST_READY:
                    raise Fatal("invalid_header", EXIT_INVALID, f"{self.path}: unknown state {state}")
                break
            # READY (the load above is acquire on x86-64): copy the header, validate the copy.
            raw = ctypes.string_at(hdr.addr, HEADER_SIZE)
        finally:
            hdr.close()
        h = parse_header(raw)
        st = os.fstat(fd)
        validate_header(h, st.st_size, self.path)
        if st.st_blocks * 512 < min(st.st_size, h["total_size"]):
            raise Fatal("sparse", EXIT_INVALID,
                        f"{self.path}: not fully backed by memory ({st.st_blocks * 512} of {st.st_size} bytes): refused")
        m = Mapping(fd, h["total_size"])
        return Segment(fd, st, h, m)

    def init_timeout(self, key, state, writer_pid, first_seen, reported_init):
        """READY timeout (Attach step 3). True: keep watching this object with a fresh clock."""
        pid = writer_pid if state != 0 else lock_record_pid(self.a.name)
        if pid is not None and not pid_alive(pid):
            self.log(f"{self.path}: creator (pid {pid}) died during initialization; skipping it")
            self.dead.add(key)
            return False
        self.log(f"{self.path}: still initializing (creator pid {pid if pid else 'unknown'})")
        first_seen[key] = now_ns()
        return True

    # ---- frames (PROTOCOL.md "Take a frame" as "Read-only consumers" changes it)
    def run(self):
        while self.frames < self.a.frames:
            seg = self.attach()
            self.seg = seg
            h = seg.h
            fmt = FORMATS[h["pixel_format"]][0]
            self.emit(event="attached", generation=h["generation"], width=h["width"], height=h["height"],
                      format=fmt, stride=h["stride"], slots=h["slot_count"], producer_pid=h["writer_pid"],
                      planes=[list(p) for p in h["planes"][:h["plane_count"]]])
            if self.a.verify and fmt != "jpeg" and (self.pattern is None or (self.pattern.w, self.pattern.h, self.pattern.fmt) != (h["width"], h["height"], fmt)):
                self.pattern = Pattern(h["width"], h["height"], fmt)
            try:
                end = self.follow(seg)
            finally:
                self.dead.add((seg.dev, seg.ino))
                seg.close()
                self.seg = None
            if end == "closed" and self.a.exit_on_close:
                return

    def follow(self, seg):
        """Take frames from one segment until it ends ("closed" / "superseded" / "done")."""
        h, base = seg.h, seg.base
        interval = h["heartbeat_interval_ns"]
        last = 0              # last seq taken in this generation
        lost = False
        forged_reported = False
        while self.frames < self.a.frames:
            self.deadline_left()
            ticket = load32(base + OFF_READER_WAKE)
            state = load32(base + OFF_STATE)
            if state in (ST_CLOSED, ST_SUPERSEDED):
                believed = self.name_identity() != (seg.dev, seg.ino) or \
                    producer_gone(self.a.name, h, load64(base + OFF_HEARTBEAT))
                if not believed:
                    # Hostile writers: wait at most one interval for the name to change.
                    t_end = now_ns() + interval
                    while now_ns() < t_end and self.name_identity() == (seg.dev, seg.ino):
                        self.watch.wait(min(t_end - now_ns(), self.deadline_left()))
                    believed = self.name_identity() != (seg.dev, seg.ino)
                if believed:
                    if state == ST_CLOSED:
                        last = self.drain(seg, last)        # a closed segment changes no more
                        self.emit(event="closed", generation=h["generation"])
                        return "closed"
                    return "superseded"
                if not forged_reported:
                    self.emit(event="corrupt", generation=h["generation"],
                              reason=f"state {STATE_NAMES[state]} while the name still refers to the segment")
                    forged_reported = True
            elif state != ST_READY and not forged_reported:
                self.emit(event="corrupt", generation=h["generation"], reason=f"state word {state}")
                forged_reported = True
            s = load64(base + OFF_LAST_SEQ)
            if s < last:
                self.emit(event="corrupt", generation=h["generation"],
                          reason=f"last_committed_seq went back from {last} to {s}")
                last = 0                                # re-synchronise: the newest next, no drops
            if s > last:
                got = self.take_newer(seg, last, s)
                if got is not None:
                    last = got
                    if lost:
                        lost = False
                    continue
            # Nothing new: sleep on reader_wake for one interval at most.
            futex_wait(base + OFF_READER_WAKE, ticket, min(interval, self.deadline_left()))
            if load32(base + OFF_READER_WAKE) != ticket:
                continue
            lost = self.liveness(seg, lost, last)
            if lost and self.name_identity() not in (None, (seg.dev, seg.ino)):
                return "superseded"                     # a new object under the name
        return "done"

    def take_newer(self, seg, last, s):
        """Take the next frame after `last` (latest: the newest; every-frame: last + 1 while a
        slot holds it). Returns the seq taken (emitted), or None when no slot holds it."""
        for _ in range(8):
            target = s if (last == 0 or not self.a.every_frame) else last + 1
            r = self.take(seg, target)
            if r is None and target != s:
                target = s
                r = self.take(seg, target)
            if r is None:
                return None
            if r == "retry":
                s = max(s, load64(seg.base + OFF_LAST_SEQ))
                continue
            dropped = target - last - 1 if last else 0
            self.report(seg, target, r, dropped)
            return target
        return None

    def drain(self, seg, last):
        s = load64(seg.base + OFF_LAST_SEQ)
        while s > last and self.frames < self.a.frames:
            got = self.take_newer(seg, last, s)
            if got is None:
                break
            last = got
        return last

    def take(self, seg, seq):
        """Find the slot of `seq`, re-check, copy it out, validate. None: no slot holds it;
        "retry": it moved under us; else (capture_ns, commit_ns, metadata, rows, valid, flags)."""
        h, base = seg.h, seg.base
        want = 2 * seq
        slot = None
        for i in range(h["slot_count"]):
            a = base + h["slots_offset"] + i * h["slot_stride"]
            if load64(a) == want:
                slot = a
                break
        if slot is None:
            return None
        if load64(slot) != want:                        # re-load (no hold: read-only)
            return "retry"
        capture_ns, commit_ns, msize, flags, payload = struct.unpack_from("<QQIIQ", ctypes.string_at(slot + 8, 32))
        msize = min(msize, h["metadata_capacity"])
        name = FORMATS[h["pixel_format"]][0]
        payload = min(payload, h["frame_bytes"]) if name == "jpeg" else h["frame_bytes"]
        meta = ctypes.string_at(slot + SLOT_HEADER, msize)
        # Guard against a truncated object (the C++ library has a SIGBUS guard; Python has none):
        if os.fstat(seg.fd).st_size < h["total_size"]:
            raise Fatal("corrupt", EXIT_INVALID, f"{self.path}: the object was truncated")
        pix = ctypes.string_at(slot + h["pixel_offset"], payload)
        valid = load64(slot) == want                    # acquire fence + re-check (x86-64: a load)
        if not valid:
            self.emit(event="overrun", seq=seq, generation=h["generation"], valid=False)
            return "retry"
        if name == "jpeg":
            return capture_ns, commit_ns, meta, [[pix]], valid, flags
        planes = []                                     # ABI.md "Planes": rows of row_bytes, stride apart
        for off, stride, rb, r in h["planes"][:h["plane_count"]]:
            planes.append([pix[off + y * stride:off + y * stride + rb] for y in range(r)])
        return capture_ns, commit_ns, meta, planes, valid, flags

    def report(self, seg, seq, r, dropped):
        capture_ns, commit_ns, meta, planes, valid, flags = r
        h = seg.h
        crc = 0                                          # PROTOCOL.md: every plane's rows in order
        for rows in planes:
            for row in rows:
                crc = zlib.crc32(row, crc)
        fmt = FORMATS[h["pixel_format"]][0]
        out = dict(event="frame", seq=seq, generation=h["generation"], width=h["width"], height=h["height"],
                   format=fmt, crc32=f"{crc & 0xFFFFFFFF:08x}", pattern_ok=None, valid=valid, dropped=dropped,
                   metadata_size=len(meta), payload_bytes=sum(len(row) for rows in planes for row in rows),
                   capture_ns=capture_ns, commit_ns=commit_ns)
        out.update(origin_of(seq, h["generation"], capture_ns, meta, flags, self.a.name))
        # jpeg: pattern_ok stays null (decoding needs a JPEG codec, not in the standard library).
        if self.a.verify and fmt != "jpeg":
            mismatch = self.pattern.check(seq, planes)
            out["pattern_ok"] = mismatch is None
            if mismatch:
                out["mismatch"] = mismatch
                self.pattern_failures += 1
        self.emit(**out)
        self.frames += 1
        self.last_frame_time = now_ns()

    def liveness(self, seg, lost, last):
        """PROTOCOL.md "Liveness and recovery": lost = gone or stalled. Returns the lost state."""
        h = seg.h
        interval = h["heartbeat_interval_ns"]
        hb = load64(seg.base + OFF_HEARTBEAT)
        age = max(0, now_ns() - hb)
        seq = load64(seg.base + OFF_LAST_SEQ)
        if seq != seg.seen_seq:
            seg.seen_seq, seg.progress_ns = seq, now_ns()
        reason = None
        if producer_gone(self.a.name, h, hb):
            reason = "the producer is gone (its pid and start time, the name's lock)"
        elif age > 3 * interval and now_ns() - seg.progress_ns > 3 * interval:
            reason = "heartbeat and commits stopped for 3 intervals"
        if reason and not lost:
            self.emit(event="producer_lost", generation=h["generation"], producer_pid=h["writer_pid"],
                      heartbeat_age_ns=age, last_seq=last, reason=reason)
        return reason is not None


def main(argv=None):
    p = argparse.ArgumentParser(description="Read-only shmframe consumer written from docs/ABI.md and docs/PROTOCOL.md alone.")
    p.add_argument("--name", required=True, help="stream name: /dev/shm/shmframe.NAME")
    p.add_argument("--frames", type=int, required=True, help="exit 0 after this many frames")
    p.add_argument("--timeout", type=float, default=10.0, help="give up (exit 3) after S seconds without a frame (default 10)")
    p.add_argument("--ready-timeout", type=float, default=2.0, help="READY timeout in seconds (default 2)")
    p.add_argument("--verify", action="store_true", help="check every frame against the test pattern (exit 4 if any differs)")
    p.add_argument("--every-frame", action="store_true", help="take last + 1 while a slot holds it, else the newest")
    p.add_argument("--exit-on-close", action="store_true", help="exit 0 when the producer closes the stream")
    a = p.parse_args(argv)
    if platform.machine() not in ("x86_64", "AMD64"):
        sys.stderr.write("docreader: x86-64 only (plain loads stand in for acquire loads)\n")
        return EXIT_ERROR
    if a.frames < 0 or a.timeout <= 0 or a.ready_timeout <= 0:
        p.error("--frames >= 0, --timeout > 0, --ready-timeout > 0")
    r = None
    try:
        r = DocReader(a)
        r.run()
    except Fatal as e:
        sys.stdout.write(json.dumps({"event": "error", "error": e.kind, "message": e.message}, separators=(",", ":")) + "\n")
        sys.stdout.flush()
        sys.stderr.write(f"docreader: {e.message}\n")
        return e.code
    except GiveUp:
        what = "no frame" if r and r.frames else ("no stream" if r and r.name_identity() is None else "no frame")
        msg = f"timeout: {what} within {a.timeout} s on stream {a.name!r} ({r.path if r else ''})"
        sys.stdout.write(json.dumps({"event": "error", "error": "timeout", "message": msg}, separators=(",", ":")) + "\n")
        sys.stderr.write(f"docreader: {msg}\n")
        return EXIT_TIMEOUT
    except KeyboardInterrupt:
        return 130
    return EXIT_VERIFY if r.pattern_failures else EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
