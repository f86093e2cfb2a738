# Type stubs of the shmframe module (python/src/*.cpp): what editors and type checkers see.
from types import TracebackType
from typing import Callable, Iterator, Literal, Optional, TypedDict, Union

import numpy as np
import numpy.typing as npt

__version__: str

PixelFormat = Literal[
    "gray8", "bgr8", "rgb8", "bgra8", "rgba8", "gray16", "yuyv", "uyvy", "nv12", "i420",
    "bayer_rggb8", "bayer_bggr8", "bayer_grbg8", "bayer_gbrg8", "jpeg",
]
# The library's names (shmframe/names.hpp); '_' for '-' is accepted too ("every_frame").
Delivery = Literal["latest", "every-frame", "lossless", "every_frame"]
Access = Literal["auto", "read-write", "read-only", "read_write", "read_only"]
WaitPolicy = Literal["block", "predictive", "spin"]
EventKind = Literal["frame", "attached", "producer_lost", "closed", "corrupt", "timeout", "interrupted", "error"]
Image = npt.NDArray[np.uint8]
# What publish() takes and Frame.array is: uint8 images, uint16 (gray16), a tuple of nv12 / i420
# planes, or a JPEG's bytes.
AnyImage = Union[npt.NDArray[np.uint8], npt.NDArray[np.uint16], tuple[npt.NDArray[np.uint8], ...], bytes]
Buffer = Union[bytes, bytearray, memoryview]

FORMATS: tuple[str, ...]

class Error(Exception):
    """Base class of every shmframe exception; `errno` is the OS error behind it (0 if none)."""

    errno: int

class InvalidName(Error, ValueError): ...
class InvalidArgument(Error, ValueError): ...
class NotFound(Error, FileNotFoundError): ...
class PermissionDenied(Error, PermissionError): ...
class AbiMismatch(Error): ...
class BadMagic(Error): ...
class Interrupted(Error):
    """A wait ended by close() (or interrupt()) from another thread."""
class Corrupt(Error): ...
class InitTimeout(Error, TimeoutError): ...
class CreatorDied(Error): ...
class AlreadyOwned(Error): ...
class TooManyConsumers(Error): ...
class Closed(Error): ...
class OsError(Error, OSError): ...
class FormatError(Error, ValueError, TypeError): ...
class Timeout(Error, TimeoutError): ...
class Overrun(Error): ...
class Busy(Error): ...

class Origin(TypedDict):
    stream: str
    seq: int
    generation: int
    capture_ns: int
    hops: int

class Frame:
    """A committed frame viewed in place; holds its slot until released or collected."""

    @property
    def seq(self) -> int: ...
    @property
    def generation(self) -> int: ...
    @property
    def capture_ns(self) -> int: ...
    @property
    def commit_ns(self) -> int: ...
    @property
    def taken_ns(self) -> int: ...
    @property
    def width(self) -> int: ...
    @property
    def height(self) -> int: ...
    @property
    def channels(self) -> int: ...
    @property
    def format(self) -> PixelFormat: ...
    @property
    def stride(self) -> int: ...
    @property
    def array(self) -> Union[npt.NDArray[np.uint8], npt.NDArray[np.uint16]]:
        """Read-only view of the slot, no copy: (height, width, channels) uint8 (uint16 for gray16,
        2 channels for yuyv / uyvy), (height * 3 / 2, width) for nv12 / i420, 1-D bytes for jpeg."""
    @property
    def planes(self) -> tuple[npt.NDArray[np.uint8], ...]:
        """One read-only view per plane: nv12 (Y, UV (h/2, w/2, 2)), i420 (Y, U, V), else (array,)."""
    @property
    def payload_bytes(self) -> int: ...
    @property
    def held(self) -> bool: ...
    @property
    def pinned(self) -> bool: ...
    def pin(self) -> bool: ...
    @property
    def metadata(self) -> bytes: ...
    @property
    def origin(self) -> Optional[Origin]: ...
    def still_valid(self) -> bool: ...
    def copy(self) -> Image:
        """A validated contiguous copy; raises Overrun if the frame was overwritten meanwhile."""
    def release(self) -> None: ...
    def __enter__(self) -> "Frame": ...
    def __exit__(self, *args: object) -> None: ...

class Event:
    @property
    def kind(self) -> EventKind: ...
    @property
    def frame(self) -> Optional[Frame]: ...
    @property
    def generation(self) -> int: ...
    @property
    def message(self) -> str: ...
    @property
    def dropped(self) -> int: ...

class StreamInfo(TypedDict):
    generation: int
    width: int
    height: int
    format: PixelFormat
    stride: int
    planes: str  # "at 0: 480 rows of 640 bytes, stride 640; at 307200: ..." (jpeg: "up to N bytes")
    frame_bytes: int
    slots: int
    max_consumers: int
    producer_pid: int
    owner_uid: int
    last_seq: int
    heartbeat_age_ns: int
    heartbeat_interval_ns: int

class ReaderStats(TypedDict):
    frames: int
    drops: int
    overruns: int
    unheld: int
    demotions: int
    attaches: int
    producer_lost: int
    version_mismatches: int
    bad_magic: int
    corrupt: int
    permission_denied: int
    init_failures: int
    polled: int

class Reader:
    """Follows a stream across producer restarts and format changes; iterate for frames."""

    def __init__(
        self,
        name: str,
        *,
        delivery: Delivery = "latest",
        access: Access = "auto",
        wait: WaitPolicy = "block",
        spin_limit: Optional[float] = None,
        ready_timeout: float = 2.0,
        timeout: Optional[float] = None,
        stop_on_close: bool = False,
        on_event: Optional[Callable[[Event], object]] = None,
        expect_owner: Union[int, str, None] = None,
    ) -> None: ...
    def wait(self, timeout: Optional[float] = None) -> Event: ...
    def frames(self, timeout: Optional[float] = None) -> Iterator[Frame]: ...
    def events(self, timeout: Optional[float] = None) -> Iterator[Event]: ...
    def __iter__(self) -> Iterator[Frame]: ...
    def attach(self, timeout: float = 2.0) -> None: ...
    def latest(self) -> Optional[Frame]: ...
    def read(self, seq: int) -> Optional[Frame]: ...
    def detach(self) -> None: ...
    def close(self) -> None: ...
    def __enter__(self) -> "Reader": ...
    def __exit__(
        self, t: Optional[type[BaseException]], v: Optional[BaseException], tb: Optional[TracebackType]
    ) -> None: ...
    @property
    def name(self) -> str: ...
    @property
    def attached(self) -> bool: ...
    @property
    def closed(self) -> bool: ...
    @property
    def hold_limit(self) -> int: ...
    @property
    def read_only(self) -> bool: ...
    @property
    def info(self) -> StreamInfo: ...
    @property
    def stats(self) -> ReaderStats: ...

class SyncStats(TypedDict):
    sets: int
    unmatched: dict[str, int]
    spread_p50: float
    spread_p99: float
    latency_p50: float
    latency_p99: float
    tolerance: float
    wait: Literal["futex_waitv", "first-word"]
    polled: int

class SyncEvent(TypedDict):
    kind: Literal["attached", "producer_lost", "closed", "error", "corrupt"]
    stream: str
    generation: int
    message: str

class SyncReader:
    """Sets of frames across 2 to 8 streams: iterate for tuples of Frames captured together."""

    def __init__(
        self,
        names: list[str],
        *,
        policy: Literal["approximate", "exact"] = "approximate",
        tolerance: Optional[float] = None,
        access: Access = "auto",
        wait: WaitPolicy = "block",
        spin_limit: Optional[float] = None,
        ready_timeout: float = 2.0,
        timeout: Optional[float] = None,
        on_event: Optional[Callable[[SyncEvent], object]] = None,
        expect_owner: Union[int, str, None] = None,
    ) -> None: ...
    def __iter__(self) -> "SyncReader": ...
    def __next__(self) -> tuple[Frame, ...]: ...
    def wait(self, timeout: Optional[float] = None) -> tuple[Frame, ...]: ...
    def close(self) -> None: ...
    def __enter__(self) -> "SyncReader": ...
    def __exit__(
        self, t: Optional[type[BaseException]], v: Optional[BaseException], tb: Optional[TracebackType]
    ) -> None: ...
    @property
    def names(self) -> list[str]: ...
    @property
    def stats(self) -> SyncStats: ...

class WriteSlot:
    """A slot being written: fill `array`, then commit() (or leave its `with` block)."""

    @property
    def array(self) -> Union[npt.NDArray[np.uint8], npt.NDArray[np.uint16]]: ...
    @property
    def planes(self) -> tuple[npt.NDArray[np.uint8], ...]: ...
    @property
    def capacity(self) -> int: ...
    @property
    def seq(self) -> int: ...
    @property
    def width(self) -> int: ...
    @property
    def height(self) -> int: ...
    @property
    def format(self) -> PixelFormat: ...
    @property
    def stride(self) -> int: ...
    @property
    def open(self) -> bool: ...
    def commit(
        self,
        capture_ns: Optional[int] = None,
        metadata: Optional[Buffer] = None,
        origin: Optional[Frame] = None,
        payload_bytes: Optional[int] = None,
    ) -> int: ...
    def abandon(self) -> None: ...
    def __enter__(self) -> "WriteSlot": ...
    def __exit__(
        self, t: Optional[type[BaseException]], v: Optional[BaseException], tb: Optional[TracebackType]
    ) -> None: ...

class ConsumerStats(TypedDict, total=False):
    entry: int
    pid: int
    last_seq: int
    lag: int
    frames: int
    drops: int
    overruns: int
    heartbeat_age_ns: int
    held_slots: int
    pinned_slots: int
    delivery: str
    demotions: int
    wait: str
    wake_latency_ns: int

class WriterStats(TypedDict):
    generation: int
    last_seq: int
    forced_overwrites: int
    consumers_reaped: int
    commits_aborted: int
    lossless_demotions: int
    lossless_waits: int
    lossless_blocked_ns: int
    tampering: int
    consumers: list[ConsumerStats]

class Writer:
    """Owns a stream: publishes frames, keeps a heartbeat, closes it at the end."""

    def __init__(
        self,
        name: str,
        width: Optional[int] = None,
        height: Optional[int] = None,
        format: Optional[PixelFormat] = None,
        *,
        slots: int = 2,
        max_consumers: int = 32,
        metadata_capacity: int = 256,
        stride_align: int = 1,
        mode: int = 0o600,
        heartbeat: float = 0.1,
        max_block: float = 0.1,
        prefault: bool = True,
        max_payload: int = 0,
    ) -> None: ...
    def publish(
        self,
        array: AnyImage,
        capture_ns: Optional[int] = None,
        metadata: Optional[Buffer] = None,
        format: Optional[PixelFormat] = None,
    ) -> int: ...
    def acquire(self) -> WriteSlot: ...
    def reconfigure(self, width: int, height: int, format: Optional[PixelFormat] = None) -> None: ...
    def close(self) -> None: ...
    def __enter__(self) -> "Writer": ...
    def __exit__(
        self, t: Optional[type[BaseException]], v: Optional[BaseException], tb: Optional[TracebackType]
    ) -> None: ...
    @property
    def name(self) -> str: ...
    @property
    def width(self) -> int: ...
    @property
    def height(self) -> int: ...
    @property
    def format(self) -> Optional[PixelFormat]: ...
    @property
    def stride(self) -> int: ...
    @property
    def generation(self) -> int: ...
    @property
    def metadata_capacity(self) -> int: ...
    @property
    def closed(self) -> bool: ...
    @property
    def stats(self) -> WriterStats: ...

class StreamStatus(StreamInfo):
    name: str
    state: str
    producer_alive: bool
    forced_overwrites: int
    consumers_reaped: int
    commits_aborted: int
    consumers: list[ConsumerStats]

def list_streams() -> list[str]: ...
def status(name: str) -> StreamStatus: ...
def monotonic_ns() -> int: ...
