"""Python against the C++ apps: the same frames, bit for bit, both ways; restarts; Ctrl-C;
permissions; the samples."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import zlib

import numpy as np
import pytest

import shmframe


def crc(array):
    return f"{zlib.crc32(np.ascontiguousarray(array)) & 0xFFFFFFFF:08x}"


def probe_frames(child, timeout=30.0):
    """seq -> crc32 of every frame line the probe printed until it exited."""
    out = {}
    while True:
        line = child.readline(timeout)
        if line is None:
            return out
        obj = json.loads(line)
        if obj.get("event") == "frame":
            out[obj["seq"]] = obj["crc32"]


@pytest.mark.parametrize(
    "fmt,width,height",
    [("bgr8", 641, 359), ("rgb8", 160, 120), ("bgra8", 97, 55), ("gray8", 333, 201)],
)
def test_crc_parity_with_the_cpp_probe(apps, stream, fmt, width, height):
    # Both read the producer's test pattern losslessly; every frame both saw has the same CRC.
    probe = apps.probe(stream, "--lossless", "--exit-on-close", "--timeout-ms", "30000")
    reader = shmframe.Reader(stream, delivery="lossless", timeout=30.0, stop_on_close=True)
    producer = apps.produce(
        stream, "--format", fmt, "--width", str(width), "--height", str(height), "--fps", "100", "--frames", "60",
        "--max-block-ms", "2000",
    )
    reader.attach(10.0)
    mine = {}
    for f in reader:
        assert (f.width, f.height, f.format) == (width, height, fmt)
        mine[f.seq] = crc(f.copy())
    reader.close()
    assert producer.wait(30) == 0
    theirs = probe_frames(probe)
    assert probe.wait(30) == 0
    common = sorted(set(mine) & set(theirs))
    assert len(common) >= 30, f"too few frames seen by both: python {sorted(mine)[:3]}.., probe {sorted(theirs)[:3]}.."
    assert [mine[s] for s in common] == [theirs[s] for s in common]
    # Lossless: no gap after the first frame each saw.
    for seqs in (sorted(mine), sorted(theirs)):
        assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))
    assert len(set(mine.values())) > 1, "the pattern did not change: the CRCs prove nothing"


@pytest.mark.parametrize("fmt,channels", [("rgb8", 3), ("gray8", 1), ("bgra8", 4)])
def test_python_writer_read_by_the_cpp_probe(apps, stream, make_pattern, fmt, channels):
    frames = 40
    probe = apps.probe(stream, "--lossless", "--frames", str(frames), "--timeout-ms", "30000")
    with shmframe.Writer(stream, 101, 63, fmt, max_block=5.0) as w:
        # A lossless reader is armed once it has taken the newest frame (docs/PROTOCOL.md,
        # "Delivery modes"): publish the first frame once the probe is attached, the others
        # once it has taken that one; it then sees every frame.
        probe.json_until(lambda o: o.get("event") == "generation", 30.0)
        sent = {}
        for i in range(1, frames + 1):
            img = make_pattern(i, 63, 101, channels)
            seq = w.publish(img)
            sent[seq] = crc(img)
            if i == 1:
                first = probe.json_until(lambda o: o.get("event") == "frame", 30.0)
                assert first["seq"] == seq and first["crc32"] == sent[seq]
        theirs = probe_frames(probe)
        theirs[first["seq"]] = first["crc32"]
        assert probe.wait(30) == 0
    assert theirs == sent


def test_producer_killed_and_restarted_with_a_new_size(apps, stream):
    first = apps.produce(stream, "--width", "320", "--height", "240", "--fps", "100")
    events = []
    with shmframe.Reader(stream, timeout=20.0) as reader:
        it = reader.events(timeout=20.0)
        ev = next(it)
        while ev.kind != "frame":
            events.append(ev.kind)
            ev = next(it)
        old = ev.frame
        old_array = old.array
        old_copy = old.copy()
        assert old_array.shape == (240, 320, 3)
        del ev
        first.kill(signal.SIGKILL)
        first.wait(10)
        apps.produce(stream, "--width", "160", "--height", "120", "--fps", "100")
        for ev in it:
            assert ev.kind not in ("timeout", "error"), f"stuck after the restart: {ev}"
            events.append(ev.kind)
            if ev.kind == "frame" and ev.frame.generation != old.generation:
                assert ev.frame.array.shape == (120, 160, 3)
                assert ev.frame.generation > old.generation
                break
        assert "attached" in events
        # The old generation's array is still mapped and still holds its frame.
        assert np.array_equal(old_array, old_copy)


CTRL_C_CHILD = textwrap.dedent(
    """
    import sys, time, shmframe
    reader = shmframe.Reader(sys.argv[1])
    try:
        print("waiting", flush=True)
        if sys.argv[2] == "wait":
            while reader.wait(60).kind != "frame": pass
        elif sys.argv[2] == "iterate":
            for f in reader: pass
        else:
            reader.attach(60)
    except KeyboardInterrupt:
        print("interrupted", time.monotonic_ns(), flush=True)
        sys.exit(130)
    print("not interrupted", flush=True)
    """
)


@pytest.mark.parametrize(
    "call,stream_state",
    [("wait", "absent"), ("iterate", "absent"), ("attach", "absent"), ("wait", "idle"), ("iterate", "idle")],
)
def test_ctrl_c_interrupts_a_blocked_wait(apps, stream, call, stream_state):
    writer = shmframe.Writer(stream, 8, 8) if stream_state == "idle" else None  # exists, no frames
    try:
        child = apps.python("-c", CTRL_C_CHILD, stream, call)
        assert child.readline(30) == "waiting\n"
        sent = shmframe.monotonic_ns()
        child.kill(signal.SIGINT)
        line = child.readline(10)  # 60 s without the interrupt
        assert line is not None and line.startswith("interrupted"), f"{line!r}; stderr {child.stderr_tail()}"
        latency_ms = (int(line.split()[1]) - sent) / 1e6
        print(f"KeyboardInterrupt after {latency_ms:.1f} ms ({call}, stream {stream_state})")
        assert child.wait(10) == 130
    finally:
        if writer:
            writer.close()


def test_sigterm_still_ends_a_process_blocked_in_a_wait(apps, stream):
    # While a wait blocks, the library chains SIGINT / SIGTERM to Python's handlers so that a
    # signal arriving just before the futex wait still ends it. A SIGTERM that Python does not
    # handle must keep its default action: the process ends, killed by the signal.
    with shmframe.Writer(stream, 8, 8):
        child = apps.python("-c", CTRL_C_CHILD, stream, "wait")
        assert child.readline(30) == "waiting\n"
        child.kill(signal.SIGTERM)
        assert child.wait(10) == -signal.SIGTERM


def run_as_nobody(code, *args):
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        user=65534, group=65534, extra_groups=[],
        capture_output=True, text=True, timeout=60, env=dict(os.environ),
    )


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to run a child as another user")
def test_permission_denied_is_a_clear_exception(stream):
    with shmframe.Writer(stream, 8, 8, mode=0o600) as w:
        w.publish(np.zeros((8, 8, 3), np.uint8))
        code = textwrap.dedent(
            """
            import sys, shmframe
            try:
                shmframe.Reader(sys.argv[1]).attach(5)
            except shmframe.PermissionDenied as e:
                assert isinstance(e, PermissionError)
                print("reader:", e)
            try:
                shmframe.Writer(sys.argv[1], 8, 8)
            except shmframe.Error as e:
                print("writer:", type(e).__name__, e)
            """
        )
        r = run_as_nobody(code, stream)
        assert r.returncode == 0, r.stderr
        assert f"reader: " in r.stdout and stream in r.stdout, r.stdout
        assert "writer: " in r.stdout, r.stdout
        assert w.stats["last_seq"] == 1  # the producer is undisturbed


# ---- samples/python ------------------------------------------------------------------------
def sample(name):
    path = os.path.join(os.environ.get("SHMFRAME_SAMPLES", ""), name)
    if not os.path.exists(path):
        pytest.fail(f"SHMFRAME_SAMPLES does not hold {name}")
    return path


def test_sample_stage_chains_with_origin(apps, stream, make_pattern):
    pytest.importorskip("cv2")
    out = stream + "-edges"
    try:
        apps.produce(stream, "--width", "160", "--height", "120", "--fps", "60")
        stage = apps.python(sample("stage.py"), stream, out, "--frames", "20", "--timeout", "20")
        with shmframe.Reader(out, timeout=30.0) as r:
            f = next(iter(r))
            assert (f.format, f.width, f.height) == ("gray8", 160, 120)
            origin = f.origin
            assert origin["stream"] == stream and origin["hops"] == 1 and origin["seq"] >= 1
            assert f.capture_ns == origin["capture_ns"]
            edges = f.copy()
            assert 0 < np.count_nonzero(edges) < edges.size  # Canny found edges, not everything
        assert stage.wait(60) == 0
    finally:
        for n in (out,):
            for p in (f"/dev/shm/shmframe.{n}", f"/dev/shm/shmframe-lock.{n}"):
                if os.path.exists(p):
                    os.unlink(p)


def test_sample_stage_invert_is_exact(apps, stream, make_pattern):
    out = stream + "-inv"
    try:
        with shmframe.Writer(stream, 33, 17, "rgb8", max_block=5.0) as w:
            stage = apps.python(sample("stage.py"), stream, out, "--op", "invert", "--lossless", "--frames", "10",
                                "--timeout", "20")
            with shmframe.Reader(out, delivery="lossless", timeout=30.0) as r:
                # Frames published before the stage attached are not its; publish until the stage
                # has done its 10 frames, checking each output against the input it came from.
                got = []
                for seq in range(1, 1000):
                    if stage.proc.poll() is not None:
                        break
                    w.publish(make_pattern(seq, 17, 33, 3))
                    ev = r.wait(0.05)
                    while ev.kind not in ("frame", "timeout"):
                        ev = r.wait(0.05)
                    if ev.kind == "frame":
                        f = ev.frame
                        expected = 255 - make_pattern(f.origin["seq"], 17, 33, 3)
                        assert f.format == "rgb8" and np.array_equal(f.array, expected)
                        got.append(f.origin["seq"])
                assert len(got) >= 3, f"the stage published {len(got)} frames"
            assert stage.wait(60) == 0
    finally:
        for p in (f"/dev/shm/shmframe.{out}", f"/dev/shm/shmframe-lock.{out}"):
            if os.path.exists(p):
                os.unlink(p)


def test_sample_viewer_headless(apps, stream):
    apps.produce(stream, "--width", "64", "--height", "48", "--fps", "100")
    viewer = apps.python(sample("viewer.py"), stream, "--headless", "--frames", "30", "--timeout", "20")
    lines = []
    while True:
        line = viewer.readline(60)
        if line is None:
            break
        lines.append(line)
    assert viewer.wait(30) == 0, viewer.stderr_tail()
    assert lines[-1].strip() == f"{stream}: 30 frames shown"
    assert any(l.startswith(f"{stream}: attached") for l in lines), lines
