"""The Python API in one process: a Writer and Readers of the module under test."""

import gc
import os
import threading
import time
import zlib

import numpy as np
import pytest

import shmframe


def expect_frame(reader, timeout=5.0):
    """The next frame event, skipping life-cycle events; fails on timeout."""
    while True:
        ev = reader.wait(timeout)
        assert ev.kind != "timeout", "no frame within the timeout"
        if ev.kind == "frame":
            return ev.frame


def test_publish_then_read_every_format_and_odd_width(stream, make_pattern):
    with shmframe.Writer(stream) as w, shmframe.Reader(stream, delivery="every_frame") as r:
        generations = []
        for i, (fmt, ch) in enumerate([("bgr8", 3), ("rgb8", 3), ("bgra8", 4), ("gray8", 1)]):
            img = make_pattern(i, 37, 61, ch)  # odd sizes: no accidental alignment
            seq = w.publish(img, format=fmt)
            f = expect_frame(r)
            assert (f.seq, f.format, f.width, f.height, f.channels) == (seq, fmt, 61, 37, ch)
            assert f.stream == stream
            assert f.array.shape == (37, 61, ch) and f.array.dtype == np.uint8
            assert not f.array.flags.writeable
            assert np.array_equal(f.array, img)
            assert zlib.crc32(f.copy()) == zlib.crc32(img.tobytes())
            assert f.still_valid()
            generations.append(w.generation)
        # bgr8 -> rgb8 -> bgra8 -> gray8: a generation each, +1 from the first (which a fresh
        # start takes from the boot clock: docs/PROTOCOL.md)
        assert generations == [generations[0] + k for k in range(4)]


def test_writer_format_from_first_array_and_new_generation_on_new_size(stream, make_pattern):
    with shmframe.Writer(stream) as w:
        assert w.format is None and w.width == 0
        w.publish(make_pattern(1, 48, 64, 3))
        assert (w.width, w.height, w.format) == (64, 48, "bgr8")
        first = w.generation
        with shmframe.Reader(stream) as r:
            r.attach(2.0)
            w.publish(make_pattern(2, 24, 32, 3))
            assert w.generation == first + 1
            kinds = []
            while True:
                ev = r.wait(5.0)
                assert ev.kind != "timeout"
                kinds.append(ev.kind)
                if ev.kind == "frame" and ev.frame.generation == first + 1:
                    assert ev.frame.array.shape == (24, 32, 3)
                    break
            assert "attached" in kinds


def test_zero_copy_slot_commit_and_abandon(stream):
    with shmframe.Writer(stream, 64, 48, "gray8") as w, shmframe.Reader(stream, delivery="every_frame") as r:
        r.attach(2.0)
        with w.acquire() as slot:
            assert slot.array.shape == (48, 64, 1) and slot.array.flags.writeable
            slot.array[:] = 42
            arr = slot.array
        assert not slot.open and not arr.flags.writeable  # sealed: the memory is a published frame
        f = expect_frame(r)
        assert f.seq == 1 and int(f.array.min()) == 42 == int(f.array.max())
        # An exception inside the block abandons the slot: readers never see it.
        with pytest.raises(RuntimeError):
            with w.acquire() as slot:
                slot.array[:] = 99
                raise RuntimeError("producer failed mid-frame")
        assert r.wait(0.2).kind == "timeout"
        slot = w.acquire()
        slot.array[:] = 7
        seq = slot.commit(capture_ns=12345, metadata=b"hello")
        f = expect_frame(r)
        assert (f.seq, f.capture_ns, f.metadata, int(f.array[0, 0, 0])) == (seq, 12345, b"hello", 7)


def test_several_frames_held_at_once(stream, make_pattern):
    with shmframe.Writer(stream, 32, 16, slots=4) as w, shmframe.Reader(stream, delivery="every_frame") as r:
        r.attach(2.0)
        assert r.hold_limit == 3
        held = []
        for i in range(1, 5):
            w.publish(make_pattern(i, 16, 32, 3))
            held.append(expect_frame(r))
        assert [f.held for f in held] == [True, True, True, False]  # slots - 1 held, then unheld
        assert r.stats["unheld"] == 1
        held.pop().release()
        for i in range(5, 25):  # the producer writes around the held slots
            w.publish(make_pattern(i, 16, 32, 3))
        for f in held:
            assert f.still_valid()
            assert np.array_equal(f.array, make_pattern(f.seq, 16, 32, 3))
        for f in held:
            f.release()
            assert not f.held and not f.still_valid()


def test_a_pinned_frame_keeps_its_array_while_another_reader_holds_every_other_slot(stream, make_pattern):
    # Issue 22: held only, frame 1 would be the producer's forced choice once every slot is held.
    with shmframe.Writer(stream, 32, 16, slots=3) as w, shmframe.Reader(stream) as r, \
            shmframe.Reader(stream, delivery="every_frame") as other:
        r.attach(2.0)
        other.attach(2.0)
        w.publish(make_pattern(1, 16, 32, 3))
        mine = r.latest()
        assert mine.pin() and mine.pinned
        kept = []
        for i in (2, 3):
            w.publish(make_pattern(i, 16, 32, 3))
            kept.append(other.read(i))
        assert all(f.held for f in kept)
        for i in range(4, 14):
            w.publish(make_pattern(i, 16, 32, 3))
        assert w.stats["forced_overwrites"] > 0
        assert mine.still_valid()
        assert np.array_equal(mine.array, make_pattern(1, 16, 32, 3))
        assert not kept[0].still_valid()
        assert sum(c["pinned_slots"] for c in w.stats["consumers"]) == 1
        mine.release()
        assert not mine.pinned


def test_iteration_releases_the_frame_it_moved_past_unless_kept(stream, make_pattern):
    with shmframe.Writer(stream, 32, 16) as w, shmframe.Reader(stream, delivery="every_frame", timeout=5.0) as r:
        r.attach(2.0)
        assert r.hold_limit == 1  # two slots: one held frame
        w.publish(make_pattern(1, 16, 32, 3))
        got = []
        for f in r:
            assert f.held, "the loop's previous frame still held the only holdable slot"
            got.append(f.seq)
            if len(got) == 5:
                break
            w.publish(make_pattern(len(got) + 1, 16, 32, 3))
        assert got == [1, 2, 3, 4, 5]
        assert r.stats["unheld"] == 0
        del f  # the loop variable holds frame 5 after the break, like any reference
        # A frame kept by the caller is not released by the loop.
        kept = []
        w.publish(make_pattern(7, 16, 32, 3))
        for f in r:
            kept.append(f)
            break
        w.publish(make_pattern(8, 16, 32, 3))
        nxt = next(iter(r))
        assert kept[0].held and not nxt.held  # the kept frame holds the only holdable slot


def test_arrays_outlive_frame_reader_and_generation(stream, make_pattern):
    w = shmframe.Writer(stream, 64, 48)
    r = shmframe.Reader(stream)
    r.attach(2.0)
    w.publish(make_pattern(1, 48, 64, 3))
    f = expect_frame(r)
    arr = f.array
    copy = f.copy()
    slot = w.acquire()
    slot_arr = slot.array
    slot.abandon()
    del f
    r.close()
    del r
    w.reconfigure(16, 8)  # a new generation: the old segment is gone from /dev/shm
    w.close()
    del w, slot
    gc.collect()
    # Still mapped through the arrays' own references: reading never crashes.
    assert arr.shape == (48, 64, 3) and np.array_equal(arr, copy)
    assert int(slot_arr.sum()) >= 0


def test_released_frame_refuses_new_views(stream):
    with shmframe.Writer(stream, 8, 8) as w, shmframe.Reader(stream) as r:
        r.attach(2.0)
        w.publish(np.zeros((8, 8, 3), np.uint8))
        f = expect_frame(r)
        f.release()
        with pytest.raises(shmframe.Closed):
            f.array
        with pytest.raises(shmframe.Closed):
            f.copy()


def test_wait_releases_the_gil(stream):
    # A thread publishes while the main thread waits: with the GIL held, it could not run and
    # the wait would time out.
    with shmframe.Writer(stream, 8, 8) as w, shmframe.Reader(stream) as r:
        r.attach(2.0)
        started = threading.Event()

        def publish_later():
            started.set()
            w.publish(np.ones((8, 8, 3), np.uint8))

        t = threading.Thread(target=publish_later)
        t.start()
        assert started.wait(5.0)
        f = expect_frame(r, timeout=10.0)
        t.join(10.0)
        assert f.seq == 1


def test_life_cycle_events_through_on_event_and_stop_on_close(stream):
    seen = []
    w = shmframe.Writer(stream, 8, 8)
    with shmframe.Reader(stream, timeout=5.0, stop_on_close=True, on_event=lambda e: seen.append(e.kind)) as r:
        r.attach(2.0)
        w.publish(np.zeros((8, 8, 3), np.uint8))
        frames = 0
        for f in r:
            frames += 1
            w.close()  # the loop ends at the close
        assert frames == 1
        assert seen[-1] == "closed"


def test_events_iterator_and_timeout(stream):
    with shmframe.Writer(stream, 8, 8) as w, shmframe.Reader(stream) as r:
        r.attach(2.0)
        it = r.events(timeout=0.05)
        assert next(it).kind == "timeout"
        w.publish(np.zeros((8, 8, 3), np.uint8))
        ev = next(it)
        while ev.kind != "frame":
            ev = next(it)
        assert ev.frame.seq == 1
        with pytest.raises(shmframe.Timeout):
            next(r.frames(timeout=0.05))


def test_metadata_origin_info_stats_and_status(stream):
    with shmframe.Writer(stream, 8, 4, "gray8", metadata_capacity=16) as w, shmframe.Reader(stream) as r:
        r.attach(2.0)
        w.publish(np.zeros((4, 8), np.uint8), metadata=bytearray(b"abc"))
        f = expect_frame(r)
        assert f.metadata == b"abc" and f.origin is None
        # A stage's output carries the frame it came from (hops + 1), before the user's metadata.
        with shmframe.Writer(stream + "-out", 8, 4, "gray8") as out, shmframe.Reader(stream + "-out") as r2:
            r2.attach(2.0)
            out.publish(np.zeros((4, 8), np.uint8), metadata=b"xy", origin=f)
            g = expect_frame(r2)
            assert g.origin == {"stream": stream, "seq": f.seq, "generation": f.generation,
                                "capture_ns": f.capture_ns, "hops": 1}
            assert g.metadata == b"xy" and g.capture_ns == f.capture_ns
            with pytest.raises(shmframe.InvalidArgument, match="origin must be the shmframe.Frame"):
                out.publish(np.zeros((4, 8), np.uint8), origin="cam0")
        info = r.info
        assert (info["width"], info["height"], info["format"], info["slots"]) == (8, 4, "gray8", 2)
        assert r.stats["frames"] == 1
        st = shmframe.status(stream)
        assert st["state"] == "ready" and st["producer_alive"] and len(st["consumers"]) == 1
        assert stream in shmframe.list_streams()
        assert w.stats["last_seq"] == 1 and w.stats["consumers"][0]["frames"] == 1
        with pytest.raises(shmframe.InvalidArgument, match="metadata_capacity"):
            w.publish(np.zeros((4, 8), np.uint8), metadata=b"x" * 17)


# ---- bad input: a clear exception, never a crash -------------------------------------------
def test_bad_arrays(stream):
    with shmframe.Writer(stream, 8, 8) as w:
        bad = [
            (np.zeros((8, 8, 3), np.float32), "dtype must be uint8"),
            (np.zeros((8, 8, 3, 1), np.uint8), "4-dimensional"),
            (np.zeros((8, 8, 2), np.uint8), "1, 3 or 4 channels"),
            (np.zeros((0, 8, 3), np.uint8), "empty"),
            (np.zeros((8, 16, 3), np.uint8)[:, ::2], "contiguous"),
            (np.zeros((3, 8, 8), np.uint8).transpose(1, 2, 0), "contiguous"),
            ([[1, 2], [3, 4]], "numpy array"),
        ]
        for arr, what in bad:
            with pytest.raises(shmframe.FormatError, match=what):
                w.publish(arr)
        with pytest.raises(ValueError):  # FormatError is a ValueError and a TypeError too
            w.publish(np.zeros((8, 8, 3), np.int16))
        with pytest.raises(TypeError):
            w.publish(np.zeros((8, 8, 3), np.int16))
        with pytest.raises(shmframe.FormatError, match="'gray8' has 1 channels"):
            w.publish(np.zeros((8, 8, 3), np.uint8), format="gray8")
        with pytest.raises(shmframe.FormatError, match="unknown pixel format 'yuv'"):
            w.publish(np.zeros((8, 8, 3), np.uint8), format="yuv")
        # Rows padded (a slice of a wider image) are fine: only pixels must be packed.
        wide = np.zeros((8, 20, 3), np.uint8)
        wide[:, :8] = 5
        assert w.publish(wide[:, :8]) >= 1


def test_read_only_reader_holds_nothing_and_is_not_listed(stream, make_pattern):
    # access='read_only' maps the stream read-only: no consumer entry (status() lists none), no
    # held frames (hold_limit 0), every frame still validated; lossless needs write access.
    with pytest.raises(shmframe.InvalidArgument, match="write access"):
        shmframe.Reader(stream, access="read_only", delivery="lossless")
    with pytest.raises(shmframe.InvalidArgument, match="access"):
        shmframe.Reader(stream, access="sometimes")
    with pytest.raises(shmframe.InvalidArgument, match="expect_owner"):
        shmframe.Reader(stream, expect_owner="no-such-user-here")
    with shmframe.Writer(stream, 32, 16, slots=2) as w, shmframe.Reader(stream, access="read_only") as r:
        r.attach(2.0)
        assert r.read_only and r.hold_limit == 0
        assert shmframe.status(stream)["consumers"] == []
        w.publish(make_pattern(1, 16, 32, 3))
        f = expect_frame(r)
        assert not f.held and f.still_valid()
        assert np.array_equal(f.array, make_pattern(1, 16, 32, 3))
        w.publish(make_pattern(2, 16, 32, 3))
        w.publish(make_pattern(3, 16, 32, 3))  # lands in frame 1's slot: nothing holds it
        assert not f.still_valid()
    with shmframe.Writer(stream, 32, 16) as w, shmframe.Reader(stream, expect_owner=os.geteuid()) as r:
        r.attach(2.0)
        assert not r.read_only and r.info["owner_uid"] == os.geteuid()
    with shmframe.Writer(stream, 32, 16) as w, shmframe.Reader(stream, expect_owner=os.geteuid() + 1) as r:
        with pytest.raises(shmframe.PermissionDenied, match="not by the expected uid"):
            r.attach(2.0)


def test_bad_names_options_and_misuse(stream):
    for name in ["", "a/b", "..", "x" * 65, "bad name"]:
        with pytest.raises(shmframe.InvalidName):
            shmframe.Reader(name)
        with pytest.raises(shmframe.InvalidName):
            shmframe.Writer(name, 8, 8)
    with pytest.raises(shmframe.InvalidArgument, match="delivery"):
        shmframe.Reader(stream, delivery="sometimes")
    with pytest.raises(shmframe.InvalidArgument, match="wait"):
        shmframe.Reader(stream, wait="nap")
    with pytest.raises(shmframe.InvalidArgument, match="timeout"):
        shmframe.Reader(stream, timeout=-1)
    with pytest.raises(shmframe.InvalidArgument, match="on_event"):
        shmframe.Reader(stream, on_event=3)
    with pytest.raises(shmframe.InvalidArgument, match="both width and height"):
        shmframe.Writer(stream, width=8)
    with pytest.raises(shmframe.InvalidArgument, match="width must be 1..32768"):
        shmframe.Writer(stream, width=0, height=8)
    with pytest.raises(shmframe.InvalidArgument):
        shmframe.Writer(stream, 8, 8, slots=0)
    with pytest.raises(shmframe.InvalidArgument, match="no format yet"):
        shmframe.Writer(stream).acquire()
    with pytest.raises(shmframe.NotFound):
        shmframe.Reader(stream).attach(0.05)
    with pytest.raises(shmframe.NotFound):
        shmframe.status(stream)
    w = shmframe.Writer(stream, 8, 8)
    with pytest.raises(shmframe.AlreadyOwned, match=stream):
        shmframe.Writer(stream, 8, 8)
    slot = w.acquire()
    with pytest.raises(shmframe.Busy, match="commit"):
        w.acquire()
    with pytest.raises(shmframe.Busy):
        w.publish(np.zeros((8, 8, 3), np.uint8))
    slot.commit()
    with pytest.raises(shmframe.Closed, match="already committed"):
        slot.commit()
    with pytest.raises(shmframe.InvalidArgument, match="metadata must be bytes"):
        w.publish(np.zeros((8, 8, 3), np.uint8), metadata="text")
    with pytest.raises(shmframe.InvalidArgument, match="capture_ns"):
        w.publish(np.zeros((8, 8, 3), np.uint8), capture_ns=-5)
    w.close()
    with pytest.raises(shmframe.Closed):
        w.publish(np.zeros((8, 8, 3), np.uint8))
    r = shmframe.Reader(stream)
    r.close()
    with pytest.raises(shmframe.Closed):
        r.wait(0)


def test_one_reader_two_threads_is_refused_not_undefined(stream):
    # on_event runs inside the iteration's call on the Reader: a second thread using the same
    # Reader then is refused (Busy), deterministically.
    errors = []

    def try_from_another_thread():
        try:
            reader.wait(0)
        except shmframe.Busy as e:
            errors.append(str(e))

    def on_event(ev):
        t = threading.Thread(target=try_from_another_thread)
        t.start()
        t.join(10.0)

    with shmframe.Writer(stream, 8, 8) as w, shmframe.Reader(stream, timeout=5.0, on_event=on_event) as reader:
        w.publish(np.zeros((8, 8, 3), np.uint8))
        f = next(iter(reader))  # the 'attached' event comes first, through on_event
        assert f.seq == 1
    assert len(errors) == 1 and "another thread" in errors[0]


def _daemon(target):
    t = threading.Thread(target=target, daemon=True)  # a deadlock must not hang the interpreter's exit
    t.start()
    return t


def test_close_from_another_thread_ends_the_iteration_at_once(stream):
    # The iterating thread waits (GIL released, the Reader's call lock held) for a frame that never
    # comes; close() from this thread must end that wait at once, and the loop cleanly. Before
    # Reader::interrupt(), close() waited for the lock with the GIL held while the iterating
    # thread needed the GIL to return: a deadlock.
    with shmframe.Writer(stream, 8, 8) as w:
        r = shmframe.Reader(stream)
        r.attach(2.0)
        looping = threading.Event()
        outcome = {}

        def iterate():
            looping.set()
            try:
                for _ in r:  # no timeout: only close() ends it
                    pass
                outcome["end"] = "stopped"
            except Exception as e:  # noqa: BLE001: the test reports whatever ended it
                outcome["end"] = repr(e)

        t = _daemon(iterate)
        assert looping.wait(5.0)
        time.sleep(0.05)  # let it reach the wait; a sooner close() ends the loop just the same
        t0 = time.monotonic()
        closer = _daemon(r.close)
        closer.join(5.0)
        t.join(5.0)
        assert not closer.is_alive(), "close() did not return: deadlock"
        assert not t.is_alive(), "the iteration did not end after close()"
        assert time.monotonic() - t0 < 1.0
        assert outcome["end"] == "stopped"
        assert r.closed
        with pytest.raises(shmframe.Closed):
            r.wait(0.1)
        w.publish(np.zeros((8, 8, 3), np.uint8))  # the stream lives on


def test_properties_from_another_thread_while_a_wait_is_in_progress(stream):
    with shmframe.Writer(stream, 8, 8), shmframe.Reader(stream) as r:
        r.attach(2.0)
        started = threading.Event()

        def wait_long():
            started.set()
            try:
                r.wait(10.0)
            except shmframe.Closed:
                pass

        t = _daemon(wait_long)
        assert started.wait(5.0)
        time.sleep(0.05)
        # The waiting thread holds the call lock: the properties answer from what it last saw.
        assert r.attached
        assert r.hold_limit == 1
        assert r.info["width"] == 8
        assert r.stats["attaches"] == 1
        r.close()
        t.join(5.0)
        assert not t.is_alive()


def test_writer_stats_while_another_thread_is_blocked_in_acquire(stream):
    # acquire() waits (GIL released, the call lock held) for a lossless consumer that owes every
    # slot; stats() from this thread must wait for it without holding the GIL, or the acquiring
    # thread could never take the GIL back to return: a deadlock.
    with shmframe.Writer(stream, 8, 8, slots=2, max_block=1.0) as w, \
            shmframe.Reader(stream, delivery="lossless") as r:
        r.attach(2.0)
        frame = np.zeros((8, 8, 3), np.uint8)
        w.publish(frame)
        expect_frame(r).release()  # caught up: the reader is armed
        w.publish(frame)
        w.publish(frame)  # both slots now hold frames the reader owes
        acquiring = threading.Event()
        got = {}

        def acquire():
            acquiring.set()
            slot = w.acquire()  # blocks up to max_block, then demotes the reader
            got["seq"] = slot.seq
            slot.abandon()

        t = _daemon(acquire)
        assert acquiring.wait(5.0)
        time.sleep(0.1)  # let it block; a stats() sooner than that proves less, not more
        s = _daemon(lambda: got.setdefault("stats", w.stats))
        s.join(5.0)
        t.join(5.0)
        assert not s.is_alive() and not t.is_alive(), "stats() and acquire() deadlocked"
        assert got["stats"]["lossless_waits"] >= 1
        assert got["seq"] == 4


def test_an_error_event_raised_by_iteration_carries_errno(stream):
    # Not a shmframe segment at the name: the iteration raises BadMagic, a shmframe.Error whose
    # errno (0: no OS call failed) is there like on every other shmframe.Error.
    path = f"/dev/shm/shmframe.{stream}"
    fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    try:
        os.write(fd, b"not a segment" * 400)
    finally:
        os.close(fd)
    with shmframe.Reader(stream, timeout=5.0) as r:
        with pytest.raises(shmframe.BadMagic) as info:
            for _ in r:
                pass
    assert isinstance(info.value, shmframe.Error)
    assert info.value.errno == 0


def test_an_on_event_callback_may_read_the_properties_and_close_the_reader(stream):
    # on_event runs inside the iteration's call on the same thread: the properties answer (from
    # the live state), a call like wait() is refused as Busy, and close() ends the loop.
    seen = {}
    readers = []

    def on_event(e):
        if e.kind != "attached":
            return
        r = readers[0]
        seen["attached"] = r.attached
        seen["width"] = r.info["width"]
        with pytest.raises(shmframe.Busy):
            r.wait(0.0)
        r.close()

    with shmframe.Writer(stream, 8, 8) as w:
        r = shmframe.Reader(stream, timeout=5.0, on_event=on_event)
        readers.append(r)
        w.publish(np.zeros((8, 8, 3), np.uint8))
        frames = sum(1 for _ in r)  # ends at the close inside on_event
        assert seen == {"attached": True, "width": 8}
        assert frames == 0
        assert r.closed


# ---- camera-native formats (issue 19)
def test_native_formats_travel_as_the_arrays_opencv_and_numpy_use(stream):
    rng = np.random.default_rng(19)
    cases = [  # format, what publish() takes, Frame.array's shape and dtype
        ("gray16", rng.integers(0, 65535, (6, 10), dtype=np.uint16), (6, 10, 1), np.uint16),
        ("yuyv", rng.integers(0, 255, (6, 10, 2), dtype=np.uint8), (6, 10, 2), np.uint8),
        ("uyvy", rng.integers(0, 255, (6, 10, 2), dtype=np.uint8), (6, 10, 2), np.uint8),
        ("rgba8", rng.integers(0, 255, (6, 10, 4), dtype=np.uint8), (6, 10, 4), np.uint8),
        ("bayer_rggb8", rng.integers(0, 255, (6, 10), dtype=np.uint8), (6, 10, 1), np.uint8),
        ("nv12", rng.integers(0, 255, (9, 10), dtype=np.uint8), (9, 10), np.uint8),
        ("i420", rng.integers(0, 255, (9, 10), dtype=np.uint8), (9, 10), np.uint8),
    ]
    with shmframe.Writer(stream) as w, shmframe.Reader(stream, delivery="every_frame") as r:
        for fmt, img, shape, dtype in cases:
            seq = w.publish(img, format=fmt)
            f = expect_frame(r)
            assert (f.seq, f.format, f.width, f.height) == (seq, fmt, 10, 6)
            assert f.array.shape == shape and f.array.dtype == dtype, fmt
            assert np.array_equal(f.array.reshape(img.shape), img), fmt
            assert np.array_equal(f.copy().reshape(img.shape), img), fmt
            assert f.payload_bytes == img.nbytes, fmt
    # The planes of nv12 and i420 as views: Y (h, w), then UV pairs or U and V.
    nv12 = cases[5][1]
    with shmframe.Writer(stream, 10, 6, "nv12", stride_align=64) as w, shmframe.Reader(stream) as r:
        r.attach(2.0)
        f = r.read(w.publish(nv12))
        y, uv = f.planes
        assert y.shape == (6, 10) and uv.shape == (3, 5, 2) and y.strides[0] == 64
        assert np.array_equal(y, nv12[:6]) and np.array_equal(uv.reshape(3, 10), nv12[6:])
        assert np.array_equal(f.copy(), nv12)  # tight, OpenCV's layout, whatever the slot's padding
        # a tuple of planes is accepted too
        f2 = r.read(w.publish((nv12[:6], nv12[6:].reshape(3, 5, 2))))
        assert np.array_equal(f2.copy(), nv12)


def test_jpeg_frames_are_their_bytes_and_never_truncated(stream):
    with shmframe.Writer(stream, 64, 48, "jpeg", max_payload=2048) as w, shmframe.Reader(stream) as r:
        r.attach(2.0)
        data = bytes(range(256)) * 3
        f = r.read(w.publish(data))
        assert f.format == "jpeg" and f.payload_bytes == len(data)
        assert f.array.shape == (len(data),) and bytes(f.array) == data and bytes(f.copy()) == data
        last = w.stats["last_seq"]
        with pytest.raises(shmframe.FormatError, match="max_payload"):
            w.publish(b"\0" * 2049)
        assert w.stats["last_seq"] == last, "nothing was published"
        with w.acquire() as slot:  # zero-copy: the JPEG goes straight into the slot
            assert slot.array.shape == (2048,) and slot.capacity == 2048
            slot.array[:4] = [0xFF, 0xD8, 0xFF, 0xD9]
            seq = slot.commit(payload_bytes=4)
        assert bytes(r.read(seq).array) == b"\xff\xd8\xff\xd9"
        slot = w.acquire()
        with pytest.raises(shmframe.Error, match="payload_bytes"):
            slot.commit()
        slot.abandon()


def test_wrong_arrays_for_a_format_are_refused_naming_the_shape(stream):
    with shmframe.Writer(stream, 10, 6, "gray16") as w:
        with pytest.raises(shmframe.FormatError, match="uint16"):
            w.publish(np.zeros((6, 10), np.uint8))
    with shmframe.Writer(stream + "-y", 10, 6, "yuyv") as w:
        with pytest.raises(shmframe.FormatError, match=r"\(height, width, 2\)"):
            w.publish(np.zeros((6, 10, 3), np.uint8))
        with pytest.raises(shmframe.FormatError, match="even width"):
            w.publish(np.zeros((6, 9, 2), np.uint8))
    with shmframe.Writer(stream + "-n", 10, 6, "nv12") as w:
        with pytest.raises(shmframe.FormatError, match="height \\* 3 / 2"):
            w.publish(np.zeros((7, 10), np.uint8))
        with pytest.raises(shmframe.FormatError, match="2 planes"):
            w.publish((np.zeros((6, 10), np.uint8),))
    with pytest.raises(shmframe.FormatError, match="nv12"):
        shmframe.Writer(stream + "-x", 10, 6, "yuv420")
