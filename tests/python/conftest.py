"""Fixtures of the Python tests: unique stream names removed afterwards, and the C++ apps as
child processes that are always reaped.

Run: `ctest --test-dir build/dev -L python -V`, or by hand with the environment below:
  PYTHONPATH=build/dev/python SHMFRAME_PRODUCER=build/dev/producer/shmframe-producer \
  SHMFRAME_CONSUMER=build/dev/consumer/shmframe-consumer SHMFRAME_SAMPLES=samples/python \
  python3 -m pytest tests/python

Environment (set by ctest: python/CMakeLists.txt):
  PYTHONPATH         the build tree's python/ (the module under test)
  SHMFRAME_PRODUCER  shmframe-producer, SHMFRAME_CONSUMER shmframe-consumer
  SHMFRAME_SAMPLES   samples/python
"""

import json
import os
import selectors
import signal
import subprocess
import sys
import time
import uuid

import pytest

import shmframe

SHM = "/dev/shm"


def app(var):
    path = os.environ.get(var)
    if not path or not os.access(path, os.X_OK):
        pytest.fail(f"{var} is not set to an executable (run the tests through ctest, or set it by hand)")
    return path


class Child:
    """A child process whose stdout is read line by line with a deadline; killed and reaped at
    teardown whatever happened."""

    def __init__(self, argv, env=None, stdin=None):
        self.argv = argv
        self.proc = subprocess.Popen(
            argv,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=stdin,
            env=env,
            text=True,
            bufsize=1,
        )
        self.lines = []
        self._sel = selectors.DefaultSelector()
        self._sel.register(self.proc.stdout, selectors.EVENT_READ)

    def readline(self, timeout):
        """The next stdout line, or None at end of file; fails the test after `timeout` s."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                pytest.fail(f"{self.argv[0]}: no output line within {timeout} s; stderr: {self.stderr_tail()}")
            if self._sel.select(left):
                line = self.proc.stdout.readline()
                if line == "":
                    return None
                self.lines.append(line)
                return line

    def json_until(self, predicate, timeout):
        """Parses JSON lines until one satisfies `predicate`; returns it."""
        deadline = time.monotonic() + timeout
        while True:
            line = self.readline(max(0.0, deadline - time.monotonic()))
            if line is None:
                pytest.fail(f"{self.argv[0]} ended before the expected line; stderr: {self.stderr_tail()}")
            try:
                obj = json.loads(line)
            except ValueError:
                continue
            if predicate(obj):
                return obj

    def wait(self, timeout):
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            pytest.fail(f"{self.argv[0]} did not exit within {timeout} s")

    def stderr_tail(self):
        if self.proc.poll() is None:
            return "(still running)"
        return self.proc.stderr.read()[-2000:]

    def kill(self, sig=signal.SIGKILL):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)

    def reap(self):
        self.kill()
        try:
            self.proc.wait(10)
        finally:
            self._sel.close()
            for f in (self.proc.stdout, self.proc.stderr):
                if f:
                    f.close()


class Apps:
    def __init__(self):
        self.children = []
        self.producer = app("SHMFRAME_PRODUCER")
        self.consumer = app("SHMFRAME_CONSUMER")

    def spawn(self, argv, **kw):
        c = Child(argv, **kw)
        self.children.append(c)
        return c

    def produce(self, name, *args):
        return self.spawn([self.producer, "--name", name, *args])

    def probe(self, name, *args):
        return self.spawn([self.consumer, "--name", name, "--processor", "probe", *args])

    def python(self, *args, env_extra=None, **kw):
        env = dict(os.environ)
        env.update(env_extra or {})
        return self.spawn([sys.executable, *args], env=env, **kw)

    def close(self):
        for c in self.children:
            c.reap()


@pytest.fixture
def apps():
    a = Apps()
    try:
        yield a
    finally:
        a.close()


def remove_stream(name):
    for f in (f"shmframe.{name}", f"shmframe-lock.{name}"):
        try:
            os.unlink(os.path.join(SHM, f))
        except FileNotFoundError:
            pass


@pytest.fixture
def stream():
    """A stream name unique to this test, removed before and after it."""
    name = f"pytest-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    remove_stream(name)
    try:
        yield name
    finally:
        remove_stream(name)


def pattern(seq, height, width, channels):
    """Pixels that depend on the frame's seq, so a frame from another seq is told apart."""
    import numpy as np

    y = np.arange(height, dtype=np.uint32)[:, None, None]
    x = np.arange(width, dtype=np.uint32)[None, :, None]
    c = np.arange(channels, dtype=np.uint32)[None, None, :]
    return ((x * 3 + y * 7 + c * 11 + seq * 13) & 0xFF).astype(np.uint8)


@pytest.fixture
def make_pattern():
    return pattern


@pytest.fixture(autouse=True)
def _module_under_test():
    # The module must be the build tree's (PYTHONPATH), not an installed copy.
    assert shmframe.__file__, "shmframe imported from nowhere"
