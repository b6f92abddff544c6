"""One of the article's services as an mpipe `kernel: exec` worker:

    /usr/bin/python3 services/serve.py STAGE     (STAGE: A, B, C, C1, C2, C3, C4 or D)

serves stages.STAGES[STAGE] through the repository's stdlib-only helper
(analysis/mpipe_analysis/worker.py): one bytes argument per input edge (D gets four, in the
spec's edge order C1, C2, C3, C4), one reply per request, until EOF on stdin."""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "..", "analysis", "mpipe_analysis"))
import stages  # noqa: E402  (beside this file: sys.path[0])
import worker  # noqa: E402

if len(sys.argv) != 2 or sys.argv[1] not in stages.STAGES:
    sys.stderr.write(f"usage: serve.py STAGE, one of {', '.join(stages.STAGES)}\n")
    sys.exit(2)
stage = os.environ.get("MPIPE_STAGE")
if stage is not None and stage != sys.argv[1]:
    sys.stderr.write(f"serve.py {sys.argv[1]} started for stage {stage}\n")
    sys.exit(2)
worker.serve(stages.STAGES[sys.argv[1]])
