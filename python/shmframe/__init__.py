"""shmframe: zero-copy video frames between processes, through shared memory.

A producer (``Writer``) publishes frames into a shared-memory stream; readers in other
processes (``Reader``) take them as numpy arrays that view the frame where it lies, without a
copy. Both sides survive the other's crash: a reader follows its stream across producer
restarts and format changes.

    import shmframe

    with shmframe.Reader("cam0", timeout=5.0) as reader:
        for frame in reader:              # a Frame per committed frame
            image = frame.array           # read-only uint8 (height, width, channels), no copy
            print(frame.seq, image.mean())

    with shmframe.Writer("out", width=640, height=480) as writer:
        writer.publish(image)             # copies into the next slot
        with writer.acquire() as slot:    # zero-copy: fill the slot, committed on exit
            slot.array[:] = 0

This is the binding of the C++ library (libshmframe): the protocol is the same for both, and
Python and C++ producers and consumers mix freely (docs/PROTOCOL.md).
"""

from ._shmframe import (  # noqa: F401  (re-exported API)
    FORMATS,
    AbiMismatch,
    AlreadyOwned,
    BadMagic,
    Busy,
    Closed,
    Corrupt,
    CreatorDied,
    Error,
    Event,
    FormatError,
    Frame,
    InitTimeout,
    InvalidArgument,
    InvalidName,
    NotFound,
    OsError,
    Overrun,
    PermissionDenied,
    Reader,
    SyncReader,
    Timeout,
    TooManyConsumers,
    WriteSlot,
    Writer,
    list_streams,
    monotonic_ns,
    status,
)

__version__ = "@PROJECT_VERSION@"

__all__ = [
    "FORMATS",
    "AbiMismatch",
    "AlreadyOwned",
    "BadMagic",
    "Busy",
    "Closed",
    "Corrupt",
    "CreatorDied",
    "Error",
    "Event",
    "FormatError",
    "Frame",
    "InitTimeout",
    "InvalidArgument",
    "InvalidName",
    "NotFound",
    "OsError",
    "Overrun",
    "PermissionDenied",
    "Reader",
    "SyncReader",
    "Timeout",
    "TooManyConsumers",
    "WriteSlot",
    "Writer",
    "list_streams",
    "monotonic_ns",
    "status",
]
