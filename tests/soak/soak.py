#!/usr/bin/env python3
"""Soak: a stream under constant churn, checked end to end (scripts/soak.sh runs this).

For --minutes, at random moments: producers are SIGKILLed, SIGTERMed or SIGSTOPped and
restarted with another size, pixel format and slot count; short-lived consumers (latest, every
frame, lossless, read-only, verifying or not) come, get stopped and killed; a chained stage (the
edge plugin, stream A -> B) is killed and restarted, with a probe on B. Throughout, two verifying
consumers (shmframe-consumer --processor probe --verify, one of them --access read-only) read
stream A and check every frame against the test pattern, a pure function of (seq, width, height,
format).

At the end it fails unless: both verifiers are still running and saw no torn or misrouted frame
(pattern mismatch) and a strictly increasing sequence of generations; every frame on B names A
as its origin, one hop away; A's consumer table holds no entry of a dead process; the
verifier's file descriptors did not grow; and nothing of the run is left in /dev/shm.

Usage: tests/soak/soak.py --build build/release [--minutes 1] [--seed N]
"""

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time

FORMATS = ["bgr8", "rgb8", "bgra8", "gray8"]


class Proc:
    """A child app; its stdout lines go to `on_line` on a thread of their own."""

    def __init__(self, argv, on_line=None):
        self.argv = argv
        self.p = subprocess.Popen(argv, stdout=subprocess.PIPE if on_line else subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL, text=True)
        self.stopped = False
        if on_line:
            self.t = threading.Thread(target=self._pump, args=(on_line,), daemon=True)
            self.t.start()

    def _pump(self, on_line):
        for line in self.p.stdout:
            on_line(line)

    def alive(self):
        return self.p.poll() is None

    def send(self, sig):
        if self.alive():
            self.p.send_signal(sig)
            self.stopped = sig == signal.SIGSTOP

    def end(self, sig=signal.SIGTERM, timeout=20):
        if self.stopped:
            self.send(signal.SIGCONT)
        self.send(sig)
        try:
            return self.p.wait(timeout)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait(10)
            return None


class Verifier:
    """Counts what the long-lived verifying probe on stream A reports."""

    def __init__(self):
        self.lock = threading.Lock()
        self.frames = self.mismatches = self.overruns = 0
        self.generations = []
        self.first_mismatch = None

    def line(self, line):
        try:
            o = json.loads(line)
        except ValueError:
            return
        with self.lock:
            ev = o.get("event")
            if ev == "frame":
                self.frames += 1
                if not o.get("pattern_ok", False):
                    self.mismatches += 1
                    self.first_mismatch = self.first_mismatch or o
                g = o["generation"]
            elif ev == "overrun":
                self.overruns += 1
                return
            elif ev == "generation":
                g = o["generation"]
            else:
                return
            if not self.generations or self.generations[-1] != g:
                self.generations.append(g)


class StageChecker:
    def __init__(self, source):
        self.source = source
        self.lock = threading.Lock()
        self.frames = self.bad = 0
        self.first_bad = None

    def line(self, line):
        try:
            o = json.loads(line)
        except ValueError:
            return
        if o.get("event") != "frame":
            return
        with self.lock:
            self.frames += 1
            if o.get("origin_stream") != self.source or o.get("hops") != 1:
                self.bad += 1
                self.first_bad = self.first_bad or o


def status_of(consumer_bin, name):
    """`shmframe-consumer --name NAME --status` as a dict ({} when the stream is not there)."""
    st = subprocess.run([consumer_bin, "--name", name, "--status"], capture_output=True, text=True, timeout=30)
    try:
        status = json.loads(st.stdout)
    except ValueError:
        return {}
    return status[0] if isinstance(status, list) and status else {}


def fd_count(pid):
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except FileNotFoundError:
        return -1


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build", default="build/release")
    ap.add_argument("--minutes", type=float, default=1.0)
    ap.add_argument("--seed", type=int, default=None)
    args = ap.parse_args()
    seed = args.seed if args.seed is not None else random.randrange(1 << 30)
    rnd = random.Random(seed)
    producer_bin = os.path.join(args.build, "producer/shmframe-producer")
    consumer_bin = os.path.join(args.build, "consumer/shmframe-consumer")
    for b in (producer_bin, consumer_bin):
        if not os.access(b, os.X_OK):
            sys.exit(f"soak: {b} is missing: build first (cmake --build {args.build})")
    tag = f"soak-{os.getpid()}"
    a, b = f"{tag}-a", f"{tag}-b"
    counts = dict(producers=0, producer_kills=0, producer_terms=0, producer_stops=0, consumers=0,
                  consumer_kills=0, consumer_stops=0, stages=0, stage_kills=0)
    print(f"soak: {args.minutes} min, seed {seed}, streams {a} -> {b}", flush=True)

    def start_producer():
        w, h = rnd.choice([(64, 48), (97, 31), (320, 240), (640, 480), (33, 17)])
        fmt = rnd.choice(FORMATS)
        counts["producers"] += 1
        return Proc([producer_bin, "--name", a, "--width", str(w), "--height", str(h), "--format", fmt,
                     "--fps", str(rnd.choice([30, 60, 200])), "--slots", str(rnd.choice([2, 3, 4]))])

    def start_consumer():
        extra = rnd.choice([[], ["--every-frame"], ["--lossless"], ["--verify"], ["--lossless", "--verify"],
                            ["--access", "read-only", "--verify"], ["--access", "read-only", "--every-frame"]])
        counts["consumers"] += 1
        proc = "probe" if "--verify" in extra else rnd.choice(["probe", "stats"])
        return Proc([consumer_bin, "--name", a, "--processor", proc, *extra])

    def start_stage():
        counts["stages"] += 1
        return Proc([consumer_bin, "--name", a, "--plugin", "edge", "--output", b])

    verifier = Verifier()
    verifier_ro = Verifier()  # the same checks through a read-only consumer (no entry, nothing held)
    chain = StageChecker(a)
    everything = []
    try:
        verify = Proc([consumer_bin, "--name", a, "--processor", "probe", "--verify"], verifier.line)
        verify_ro = Proc([consumer_bin, "--name", a, "--processor", "probe", "--verify", "--access", "read-only"],
                         verifier_ro.line)
        b_probe = Proc([consumer_bin, "--name", b, "--processor", "probe"], chain.line)
        everything += [verify, verify_ro, b_probe]
        producer = start_producer()
        stage = start_stage()
        churn = [start_consumer() for _ in range(2)]
        everything += [producer, stage] + churn
        fds_start = None
        deadline = time.monotonic() + args.minutes * 60
        while time.monotonic() < deadline:
            time.sleep(rnd.uniform(0.05, 0.4))  # the pace of the chaos, not a synchronization
            if fds_start is None and verifier.frames > 0:
                fds_start = fd_count(verify.p.pid)
            r = rnd.random()
            if r < 0.12:
                producer.end(signal.SIGKILL)
                counts["producer_kills"] += 1
                producer = start_producer()
                everything.append(producer)
            elif r < 0.20:
                producer.end(signal.SIGTERM)
                counts["producer_terms"] += 1
                producer = start_producer()
                everything.append(producer)
            elif r < 0.28 and not producer.stopped:
                producer.send(signal.SIGSTOP)
                counts["producer_stops"] += 1
            elif r < 0.40 and producer.stopped:
                producer.send(signal.SIGCONT)
            elif r < 0.60:
                victim = rnd.randrange(len(churn))
                churn[victim].end(rnd.choice([signal.SIGKILL, signal.SIGTERM]))
                counts["consumer_kills"] += 1
                churn[victim] = start_consumer()
                everything.append(churn[victim])
            elif r < 0.68:
                c = rnd.choice(churn)
                if not c.stopped:
                    c.send(signal.SIGSTOP)
                    counts["consumer_stops"] += 1
                else:
                    c.send(signal.SIGCONT)
            elif r < 0.76:
                stage.end(rnd.choice([signal.SIGKILL, signal.SIGTERM]))
                counts["stage_kills"] += 1
                stage = start_stage()
                everything.append(stage)
        # Wind down: everything but the producer and the verifier ends cleanly.
        if producer.stopped:
            producer.send(signal.SIGCONT)
        failures = []
        # A SIGKILLed producer or stage leaves its stream behind until a successor takes it over,
        # and a stage makes its output only with its first frame: let the last producer and
        # stage own their streams (at most 15 s each) and end them cleanly (exit 0), so that a
        # leftover can only mean a clean end that did not clean up.
        for proc, name in ((producer, a), (stage, b)):
            end_by = time.monotonic() + 15
            while time.monotonic() < end_by and status_of(consumer_bin, name).get("producer_pid") != proc.p.pid:
                time.sleep(0.2)
            if status_of(consumer_bin, name).get("producer_pid") != proc.p.pid:
                failures.append(f"the last writer of {name} (pid {proc.p.pid}) did not own it within 15 s")
        rc = stage.end(signal.SIGTERM)
        if rc != 0:
            failures.append(f"the last stage ended with {rc}, not 0, on SIGTERM")
        for c in churn + [b_probe]:
            c.end(signal.SIGTERM)
        for v in (verify, verify_ro):
            if not v.alive():
                failures.append(f"a verifying consumer (pid {v.p.pid}) died (exit {v.p.returncode})")
        # Entries of the consumers that left must go (clean detach at once; a SIGKILLed one within
        # a few producer heartbeats): poll the status for at most 10 s.
        stale, seen_verifier = [], False
        end_by = time.monotonic() + 10
        while time.monotonic() < end_by:
            status = status_of(consumer_bin, a)
            pids = [c.get("pid") for c in status.get("consumers", [])]
            seen_verifier = verify.p.pid in pids
            stale = [p for p in pids if p != verify.p.pid]
            if seen_verifier and not stale:
                break
            time.sleep(0.2)
        if not seen_verifier:
            failures.append(f"the verifier (pid {verify.p.pid}) has no entry in {a}'s consumer table")
        if stale:
            failures.append(f"consumer entries left by processes that ended: pids {sorted(set(stale))}")
        fds_end = fd_count(verify.p.pid)
        if fds_start is not None and fds_end > fds_start + 2:
            failures.append(f"the verifier's file descriptors grew from {fds_start} to {fds_end}")
        rc = producer.end(signal.SIGTERM)
        if rc != 0:
            failures.append(f"the last producer ended with {rc}, not 0, on SIGTERM")
        verify.end(signal.SIGTERM)
        verify_ro.end(signal.SIGTERM)
        for what, v in (("verifier", verifier), ("read-only verifier", verifier_ro)):
            with v.lock:
                if v.mismatches:
                    failures.append(f"{what}: {v.mismatches} frames did not match the pattern; first: {v.first_mismatch}")
                if v.frames == 0:
                    failures.append(f"the {what} saw no frame")
                g = v.generations
                if any(y <= x for x, y in zip(g, g[1:])):
                    failures.append(f"{what}: generations not strictly increasing: {g}")
        if chain.bad:
            failures.append(f"{chain.bad} frames on {b} did not come from {a} one hop away; first: {chain.first_bad}")
        if chain.frames == 0:
            failures.append(f"no frame reached {b} through the stage")
    finally:
        for p in everything:
            if p.alive():
                p.end(signal.SIGKILL)
    left = [f for f in os.listdir("/dev/shm") if tag in f]
    if left:
        failures.append(f"left in /dev/shm: {left}")
        for f in left:
            os.unlink(os.path.join("/dev/shm", f))
    print(
        f"soak: {args.minutes} min, seed {seed}: producers {counts['producers']} (killed {counts['producer_kills']}, "
        f"closed {counts['producer_terms']}, stopped {counts['producer_stops']}), consumers {counts['consumers']} "
        f"(killed/stopped {counts['consumer_kills']}, paused {counts['consumer_stops']}), stage restarts "
        f"{counts['stage_kills']}; verified {verifier.frames} frames ({verifier.overruns} overruns skipped) over "
        f"{len(verifier.generations)} generations, read-only {verifier_ro.frames} ({verifier_ro.overruns} overruns "
        f"skipped) over {len(verifier_ro.generations)}, {chain.frames} stage frames; fds {fds_start} -> {fds_end}",
        flush=True,
    )
    for f in failures:
        print(f"soak: FAIL: {f}", flush=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
