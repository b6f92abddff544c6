"""Test worker: the frame is a space-separated list of names, the reply one "NAME=value" line
each (<unset> when missing); the names <cwd> and <fds> give the working directory and the open
file descriptors."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..",
                                "analysis", "mpipe_analysis"))
import worker  # noqa: E402


def value(name):
    if name == "<cwd>":
        return os.getcwd()
    if name == "<fds>":
        return " ".join(sorted(os.listdir("/proc/self/fd"), key=int))
    return os.environ.get(name, "<unset>")


worker.serve(lambda frame: "".join(f"{n}={value(n)}\n" for n in frame.decode().split()))
