"""The worker side of an mpipe ``kernel: exec`` stage, standard library only.

Protocol (docs/stages.md): mpipe starts the worker once per stage instance and, per item, writes
a request: for each input edge of the stage, in the spec's order, an 8-byte little-endian
unsigned length L, then L bytes. The worker answers each request with one reply: an 8-byte
little-endian length, then that many bytes, in order. At EOF on stdin (between requests) the
worker exits 0. stderr is free for messages: mpipe prefixes each line with the stage and rank.
The environment holds MPIPE_STAGE, MPIPE_REPLICA, MPIPE_RANK and MPIPE_INPUTS (the number of
frames per request).

    import sys
    sys.path.insert(0, "<repo>/analysis/mpipe_analysis")  # no numpy, h5py ... needed
    import worker

    worker.serve(lambda a, b: a + b)  # one bytes argument per input edge; return bytes or str

``from mpipe_analysis.worker import serve`` works too where the package and its dependencies
are installed (importing the package imports its HDF5 loader).
"""

from __future__ import annotations

import os
import struct
import sys
from typing import BinaryIO, Callable, Optional

__all__ = ["serve", "read_frame", "write_frame", "TruncatedRequest"]

_LENGTH = struct.Struct("<Q")


class TruncatedRequest(EOFError):
    """stdin ended inside a frame (or between the frames of one request)."""


def _read_exactly(stream: BinaryIO, n: int) -> bytes:
    chunks = []
    left = n
    while left:
        chunk = stream.read(left)
        if not chunk:
            break
        chunks.append(chunk)
        left -= len(chunk)
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def read_frame(stream: BinaryIO) -> Optional[bytes]:
    """One frame (length, then bytes) from ``stream``; None at EOF before its first byte.
    Raises TruncatedRequest when the stream ends inside the frame."""
    head = _read_exactly(stream, _LENGTH.size)
    if not head:
        return None
    if len(head) < _LENGTH.size:
        raise TruncatedRequest(f"stdin ended inside a frame length ({len(head)} of 8 bytes)")
    (length,) = _LENGTH.unpack(head)
    data = _read_exactly(stream, length)
    if len(data) < length:
        raise TruncatedRequest(f"stdin ended inside a frame ({len(data)} of {length} bytes)")
    return data


def write_frame(stream: BinaryIO, data: bytes) -> None:
    """One frame (length, then bytes) to ``stream``; the caller flushes."""
    stream.write(_LENGTH.pack(len(data)))
    stream.write(data)


def _inputs() -> int:
    text = os.environ.get("MPIPE_INPUTS", "1")
    try:
        count = int(text)
    except ValueError:
        count = -1
    if count < 1:  # with no input edge a request would be empty: nothing to tell one apart
        sys.stderr.write(f"mpipe worker: MPIPE_INPUTS is {text!r}, not a count of frames (>= 1)\n")
        raise SystemExit(2)
    return count


def _as_bytes(value) -> bytes:
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    raise TypeError(f"a worker function returns bytes or str, not {type(value).__name__}")


def _protocol_streams() -> tuple[BinaryIO, BinaryIO]:
    """stdin and stdout for the protocol; fd 1 itself then points at stderr, so that a stray
    print() (or a subprocess's output) lands on the terminal instead of corrupting replies."""
    sys.stdout.flush()
    replies = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    return sys.stdin.buffer, replies


def serve(fn: Callable[..., bytes | str], inputs: Optional[int] = None) -> None:
    """Answers requests until EOF: calls ``fn(frame_1, ..., frame_n)`` with one bytes argument
    per input edge (``inputs``, default MPIPE_INPUTS, else 1) and writes what it returns (bytes,
    or str as UTF-8) as the reply, flushed. Returns at EOF between requests; exits with status 2,
    after a line on stderr, when stdin ends inside a request. An exception from ``fn`` ends the
    worker with its traceback on stderr (mpipe shows the last lines)."""
    count = _inputs() if inputs is None else inputs
    if count < 1:
        raise ValueError(f"a worker reads at least one frame per request, not {count}")
    requests, replies = _protocol_streams()
    while True:
        try:
            frames = _read_request(requests, count)
        except TruncatedRequest as e:
            sys.stderr.write(f"mpipe worker: truncated request: {e}\n")
            sys.stderr.flush()
            raise SystemExit(2) from None
        if frames is None:
            return
        write_frame(replies, _as_bytes(fn(*frames)))
        replies.flush()


def _read_request(stream: BinaryIO, count: int) -> Optional[list[bytes]]:
    frames = []
    for i in range(count):
        frame = read_frame(stream)
        if frame is None:
            if i == 0:
                return None
            raise TruncatedRequest(f"stdin ended after {i} of {count} frames")
        frames.append(frame)
    return frames
