"""Test worker: replies with its MPIPE_INPUTS frames joined by b"|" (the helper's serve)."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..",
                                "analysis", "mpipe_analysis"))
import worker  # noqa: E402  (stdlib only: no numpy or h5py needed)

worker.serve(lambda *frames: b"|".join(frames))
