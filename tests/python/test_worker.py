"""The exec worker helper (analysis/mpipe_analysis/worker.py) as mpipe drives it: a worker
process under /usr/bin/python3 fed frames over its stdin. Stdlib only, like the helper: the
worker imports it from its folder, without the analysis package's dependencies."""

from __future__ import annotations

import io
import os
import struct
import subprocess
import sys
from pathlib import Path

import pytest

HELPER_DIR = Path(__file__).resolve().parents[2] / "analysis" / "mpipe_analysis"
PYTHON = "/usr/bin/python3"

JOIN = f"""
import sys
sys.path.insert(0, {str(HELPER_DIR)!r})
import worker
def join(*frames):
    print("a stray print goes to stderr")
    return b"|".join(frames)
worker.serve(join)
"""


def frame(data: bytes) -> bytes:
    return struct.pack("<Q", len(data)) + data


def run(script: str, stdin: bytes, inputs: str | None = "3") -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env.pop("MPIPE_INPUTS", None)
    if inputs is not None:
        env["MPIPE_INPUTS"] = inputs
    return subprocess.run([PYTHON, "-c", script], input=stdin, capture_output=True, env=env,
                          timeout=30)


def replies(data: bytes) -> list[bytes]:
    out = []
    while data:
        (length,) = struct.unpack("<Q", data[:8])
        out.append(data[8 : 8 + length])
        data = data[8 + length :]
    return out


def test_frames_in_order_with_an_empty_frame_and_exit_0_at_eof():
    requests = frame(b"a") + frame(b"") + frame(b"\x00\xff") + frame(b"") * 3
    done = run(JOIN, requests)
    assert done.returncode == 0, done.stderr
    assert replies(done.stdout) == [b"a||\x00\xff", b"||"]
    assert done.stdout == frame(b"a||\x00\xff") + frame(b"||")  # exact bytes, nothing else
    assert done.stderr.count(b"a stray print goes to stderr") == 2


def test_no_request_is_a_clean_exit():
    done = run(JOIN, b"")
    assert (done.returncode, done.stdout) == (0, b"")


@pytest.mark.parametrize(
    "tail, says",
    [
        (frame(b"x"), b"after 1 of 3 frames"),
        (frame(b"xyz")[:9], b"inside a frame (1 of 3 bytes)"),
        (b"\x01\x00", b"inside a frame length (2 of 8 bytes)"),
    ],
)
def test_truncated_request_exits_2(tail, says):
    done = run(JOIN, frame(b"1") + frame(b"2") + frame(b"3") + tail)
    assert done.returncode == 2, done.stderr
    assert replies(done.stdout) == [b"1|2|3"]  # the whole request before it was answered
    assert b"truncated request" in done.stderr and says in done.stderr


def test_inputs_default_to_one_and_str_replies_are_utf8():
    script = JOIN.replace('return b"|".join(frames)', 'return "é" + frames[0].decode()')
    done = run(script, frame(b"x") + frame(b"y"), inputs=None)
    assert done.returncode == 0, done.stderr
    assert replies(done.stdout) == ["éx".encode(), "éy".encode()]


def test_a_bad_input_count_exits_2():
    done = run(JOIN, frame(b"x"), inputs="two")
    assert done.returncode == 2
    assert b"MPIPE_INPUTS is 'two'" in done.stderr


def test_large_frame():
    big = bytes(range(256)) * (4 << 12)  # 4 MiB
    done = run(JOIN, frame(big) + frame(b"") + frame(b"!"))
    assert done.returncode == 0, done.stderr
    assert replies(done.stdout) == [big + b"||!"]


def test_read_and_write_frame():
    sys.path.insert(0, str(HELPER_DIR))
    try:
        import worker
    finally:
        sys.path.remove(str(HELPER_DIR))
    out = io.BytesIO()
    worker.write_frame(out, b"hello")
    worker.write_frame(out, b"")
    stream = io.BytesIO(out.getvalue())
    assert worker.read_frame(stream) == b"hello"
    assert worker.read_frame(stream) == b""
    assert worker.read_frame(stream) is None
    with pytest.raises(worker.TruncatedRequest):
        worker.read_frame(io.BytesIO(frame(b"abc")[:-1]))


def test_package_import_where_its_dependencies_are_installed():
    script = f"""
import sys
sys.path.insert(0, {str(HELPER_DIR.parent)!r})
from mpipe_analysis.worker import serve
serve(lambda a: a[::-1], inputs=1)
"""
    probe = subprocess.run([PYTHON, "-c", "import numpy, pandas, h5py"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip("the analysis package's dependencies are not installed")
    done = run(script, frame(b"abc"))
    assert done.returncode == 0, done.stderr
    assert replies(done.stdout) == [b"cba"]
