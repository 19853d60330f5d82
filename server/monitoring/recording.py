"""Recording a running server's WebSocket traffic, for a bounded time and size.

``RecordingTap`` is shared by every connection of a server; while a ``Recorder`` is
active, each frame in and out is appended to its file as a ``tandem.v1.RecordedFrame``
(see proto/tandem/v1/recording.proto), with its time and connection id. A recording stops
itself when its time is up or its file reaches its size, whichever comes first; the file
is the owner's only, as it holds the board's contents.

Credentials are never in it: they travel in the HTTP upgrade request, which is not a frame.
Writes are buffered and happen on the event loop (a frame's bytes are already in memory);
only stopping flushes.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from tandem.v1 import recording_pb2

from server.storage import private
from server.wire import read_varint, varint

log = logging.getLogger(__name__)

MAGIC = b"TANDEM-RECORDING 1\n"
IN = recording_pb2.RECORDED_DIRECTION_IN
OUT = recording_pb2.RECORDED_DIRECTION_OUT
RecordedFrame = recording_pb2.RecordedFrame

#: A recording's defaults: a minute, and at most 64 MiB.
DEFAULT_SECONDS = 60.0
DEFAULT_MAX_BYTES = 64 * 1024 * 1024
#: Longer recordings are refused: a forgotten switch must not record for days.
MAX_SECONDS = 24 * 3600.0


class RecordingError(ValueError):
    """A file that is not a (whole) Tandem recording."""


@dataclass(frozen=True)
class RecordingSummary:
    path: Path
    frames: int
    bytes: int
    # "time", "size", "stopped" (asked to), or "server stopped".
    reason: str


class Recorder:
    """One recording: a file being written, until its deadline or its size limit."""

    def __init__(
        self,
        path: Path,
        *,
        seconds: float = DEFAULT_SECONDS,
        max_bytes: int = DEFAULT_MAX_BYTES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not 0 < seconds <= MAX_SECONDS:
            raise ValueError(f"a recording lasts more than 0 and at most {MAX_SECONDS:.0f} s")
        if max_bytes <= len(MAGIC):
            raise ValueError("a recording needs room for at least one frame")
        self.path = path
        self.seconds = seconds
        self._clock = clock
        self._deadline = clock() + seconds
        path.parent.mkdir(parents=True, exist_ok=True)
        private.private_file(path)
        self._file: BinaryIO | None = open(path, "wb", buffering=256 * 1024)  # noqa: SIM115
        self._file.write(MAGIC)
        self._left = max_bytes - len(MAGIC)
        self.frames = 0
        self.written = len(MAGIC)
        self.summary: RecordingSummary | None = None

    @property
    def active(self) -> bool:
        return self._file is not None

    def write(self, connection_id: str, direction: int, message: bytes) -> None:
        if self._file is None:
            return
        if self._clock() >= self._deadline:
            self.stop("time")
            return
        record = RecordedFrame(connection_id=connection_id, direction=direction, message=message)  # type: ignore[arg-type]
        record.time.FromNanoseconds(time.time_ns())
        data = record.SerializeToString()
        blob = varint(len(data)) + data
        if len(blob) > self._left:
            self.stop("size")
            return
        self._file.write(blob)
        self._left -= len(blob)
        self.written += len(blob)
        self.frames += 1

    def stop(self, reason: str = "stopped") -> RecordingSummary:
        if self.summary is not None:
            return self.summary
        file, self._file = self._file, None
        if file is not None:
            file.close()
        self.summary = RecordingSummary(self.path, self.frames, self.written, reason)
        log.info(
            "traffic recording %s ended (%s): %d frames, %d bytes",
            self.path,
            reason,
            self.frames,
            self.written,
        )
        return self.summary


class RecordingTap:
    """The server's recording switch; ``active`` is read on every frame."""

    def __init__(self) -> None:
        self.active: Recorder | None = None
        self.last: RecordingSummary | None = None
        self._timer: asyncio.TimerHandle | None = None
        # Told of each recording's end (the tray unticks its switch), on the server's loop.
        self.on_stop: list[Callable[[RecordingSummary], None]] = []

    def start(
        self,
        path: Path,
        *,
        seconds: float = DEFAULT_SECONDS,
        max_bytes: int = DEFAULT_MAX_BYTES,
    ) -> Recorder:
        """Start recording into ``path`` (on the server's loop); one recording at a time."""
        if self.active is not None:
            raise RuntimeError(f"already recording into {self.active.path}")
        recorder = Recorder(path, seconds=seconds, max_bytes=max_bytes)
        self.active = recorder
        log.info("recording WebSocket traffic into %s for %.0f s", path, seconds)
        # Ends on time even when no frame comes to notice it.
        self._timer = asyncio.get_running_loop().call_later(seconds, self.stop, "time")
        return recorder

    def stop(self, reason: str = "stopped") -> RecordingSummary | None:
        recorder, self.active = self.active, None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if recorder is None:
            return None
        self.last = summary = recorder.stop(reason)
        for observer in list(self.on_stop):
            try:
                observer(summary)
            except Exception:
                log.exception("a recording observer failed")
        return summary

    def frame(self, connection_id: str, direction: int, message: bytes) -> None:
        recorder = self.active
        if recorder is None:
            return
        recorder.write(connection_id, direction, message)
        if not recorder.active:  # it stopped itself (size or time)
            self.stop(recorder.summary.reason if recorder.summary else "stopped")


def read_recording(data: bytes) -> Iterator[RecordedFrame]:
    """The frames of a recording, in order; RecordingError names where it is broken."""
    if not data.startswith(MAGIC):
        raise RecordingError("not a Tandem traffic recording (it does not start with its header)")
    pos = len(MAGIC)
    index = 0
    while pos < len(data):
        start = pos
        try:
            size, pos = read_varint(data, pos)
        except ValueError:
            raise RecordingError(f"frame {index + 1} at byte {start} is cut short") from None
        if pos + size > len(data):
            raise RecordingError(
                f"frame {index + 1} at byte {start} is cut short "
                f"(needs {size} bytes, {len(data) - pos} left)"
            )
        record = RecordedFrame()
        try:
            record.ParseFromString(data[pos : pos + size])
        except Exception as exc:  # DecodeError
            raise RecordingError(
                f"frame {index + 1} at byte {start} is not a frame: {exc}"
            ) from None
        pos += size
        index += 1
        yield record
