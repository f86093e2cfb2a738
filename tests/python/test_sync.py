"""shmframe.SyncReader (issue 21): sets of frames across phase-locked producers, as tuples of
zero-copy Frames; bad arguments; close() from another thread."""

import threading
import time
import uuid

import pytest

import shmframe
from conftest import remove_stream


@pytest.fixture
def two_streams():
    names = [f"pytest-sync-{uuid.uuid4().hex[:8]}-{side}" for side in ("left", "right")]
    for n in names:
        remove_stream(n)
    try:
        yield names
    finally:
        for n in names:
            remove_stream(n)


def test_phase_locked_producers_give_tuples_of_frames_captured_together(apps, two_streams):
    left, right = two_streams
    events = []
    with shmframe.SyncReader([left, right], tolerance=0.005, timeout=10, on_event=events.append) as sync:
        for name in two_streams:
            apps.produce(name, "--fps", "30", "--phase-lock", "--width", "64", "--height", "48", "--frames", "60")
        sets = 0
        for a, b in sync:
            assert a.capture_ns == b.capture_ns, (a, b)
            assert a.array.shape == b.array.shape == (48, 64, 3)
            assert a.array.base is not None, "the array is a copy, not a view of the slot"
            assert a.array.any() and b.array.any()
            assert a.still_valid() and b.still_valid()
            sets += 1
            if sets == 40:
                break
        stats = sync.stats
    assert sets == 40
    assert stats["sets"] == 40
    assert stats["spread_p99"] < 0.001
    assert stats["wait"] in ("futex_waitv", "first-word")
    assert stats["polled"] == 0, "wait='block' polled"
    assert set(stats["unmatched"]) == {left, right}
    assert {e["kind"] for e in events} >= {"attached"}
    assert {e["stream"] for e in events if e["kind"] == "attached"} == {left, right}


def test_wait_spin_polls_every_stream_for_the_sets(apps, two_streams):
    left, right = two_streams
    with shmframe.SyncReader([left, right], policy="exact", wait="spin", spin_limit=0.002, timeout=10) as sync:
        for name in two_streams:
            apps.produce(name, "--fps", "30", "--phase-lock", "--width", "64", "--height", "48", "--frames", "60")
        sets = 0
        for a, b in sync:
            assert a.capture_ns == b.capture_ns, (a, b)
            sets += 1
            if sets == 20:
                break
        stats = sync.stats
    assert sets == 20
    assert stats["polled"] > 0, stats


def test_bad_arguments_are_refused_with_a_reason():
    with pytest.raises(shmframe.InvalidArgument, match="2 to 8 streams"):
        shmframe.SyncReader(["only"])
    with pytest.raises(shmframe.InvalidArgument, match="named twice"):
        shmframe.SyncReader(["a", "b", "a"])
    with pytest.raises(shmframe.InvalidArgument, match="matches nothing"):
        shmframe.SyncReader(["a", "b"], tolerance=0)
    with pytest.raises(shmframe.InvalidArgument, match="spin_limit"):
        shmframe.SyncReader(["a", "b"], wait="spin", spin_limit="soon")
    with pytest.raises(shmframe.InvalidArgument, match="approximate' or 'exact"):
        shmframe.SyncReader(["a", "b"], policy="closest")


def test_a_stream_that_never_appears_times_out(two_streams):
    with shmframe.SyncReader(two_streams) as sync:
        start = time.monotonic()
        with pytest.raises(shmframe.Timeout, match="no set from streams"):
            sync.wait(timeout=0.3)
        assert time.monotonic() - start < 2


def test_close_from_another_thread_ends_the_iteration(two_streams):
    sync = shmframe.SyncReader(two_streams)
    ended = threading.Event()

    def iterate():
        try:
            for _ in sync:
                pass
        except shmframe.Closed:  # close() came before the first wait: ends the same
            pass
        ended.set()

    t = threading.Thread(target=iterate)
    t.start()
    time.sleep(0.05)  # most likely blocked by now; either way close() must end the iteration
    sync.close()
    assert ended.wait(5), "the iteration did not end after close()"
    t.join(5)
