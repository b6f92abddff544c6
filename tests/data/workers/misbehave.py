"""Test worker that goes wrong on purpose; argv[1] says how:
  exit3      echoes the first request, then writes 25 lines and "boom" to stderr and exits 3
  segv       writes "about to crash" to stderr and kills itself with SIGSEGV
  huge       replies with a length of 2**62, then sleeps a minute
  truncated  announces a 100-byte reply, sends 10 bytes and exits 0
  hang       reads the request and sleeps forever
  stderr     writes "line 0" .. "line 29" to stderr, then replies b"ok"
"""
import os
import signal
import struct
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..",
                                "analysis", "mpipe_analysis"))
import worker  # noqa: E402

mode = sys.argv[1]
stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
served = 0
while True:
    frame = worker.read_frame(stdin)
    if frame is None:
        sys.exit(0)
    if mode == "exit3" and served == 1:
        for i in range(25):
            sys.stderr.write(f"noise {i}\n")
        sys.stderr.write("boom\n")
        sys.stderr.flush()
        os._exit(3)
    if mode == "segv":
        sys.stderr.write("about to crash\n")
        sys.stderr.flush()
        os.kill(os.getpid(), signal.SIGSEGV)
    if mode == "huge":
        stdout.write(struct.pack("<Q", 1 << 62))
        stdout.flush()
        time.sleep(60)
    if mode == "truncated":
        stdout.write(struct.pack("<Q", 100) + b"x" * 10)
        stdout.flush()
        os._exit(0)
    if mode == "hang":
        while True:
            time.sleep(1000)
    if mode == "stderr":
        for i in range(30):
            sys.stderr.write(f"line {i}\n")
        sys.stderr.flush()
        frame = b"ok"
    worker.write_frame(stdout, frame)
    stdout.flush()
    served += 1
