"""The serial reference: runs services/stages.py's functions in the pipeline's order
(A, B, C, C1, C2, C3, C4, D) in this one process over the same input files as services.yaml, and
writes each item's result (D's reply) to OUT/<input file's name>, the names mpipe's `outputs:`
uses. check.sh compares mpipe's outputs with these byte for byte.

    /usr/bin/python3 reference.py OUT [--data DIR] [--times]

--times also prints each stage's mean time per item (what the work budgets were tuned with).
"""
import argparse
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "services"))
import stages  # noqa: E402


def run_item(data: bytes, times: dict) -> bytes:
    def call(name, *args):
        start = time.perf_counter()
        out = stages.STAGES[name](*args)
        times.setdefault(name, []).append((time.perf_counter() - start) * 1e3)
        return out

    c = call("C", call("B", call("A", data)))
    return call("D", *(call(name, c) for name in ("C1", "C2", "C3", "C4")))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("out", help="directory for the expected results (made if missing)")
    p.add_argument("--data", default=os.path.join(HERE, "data"), help="input directory")
    p.add_argument("--times", action="store_true", help="print per-stage mean times")
    args = p.parse_args()
    # One item per regular, non-hidden file, sorted by name in byte order: what mpipe does.
    names = sorted((n for n in os.listdir(args.data) if not n.startswith(".")
                    and os.path.isfile(os.path.join(args.data, n))), key=os.fsencode)
    os.makedirs(args.out, exist_ok=True)
    times: dict = {}
    for name in names:
        with open(os.path.join(args.data, name), "rb") as f:
            result = run_item(f.read(), times)
        with open(os.path.join(args.out, name), "wb") as f:
            f.write(result)
    if args.times:
        total = 0.0
        print(f"{'stage':6} {'article ms':>10} {'target ms':>9} {'mean ms':>8} {'min':>7} {'max':>7}")
        for name, ms in times.items():
            mean = sum(ms) / len(ms)
            total += mean
            target = stages.ARTICLE_MS[name] * stages.SCALE
            print(f"{name:6} {stages.ARTICLE_MS[name]:10} {target:9.1f} {mean:8.1f} "
                  f"{min(ms):7.1f} {max(ms):7.1f}")
        print(f"serial sum per item: {total:.1f} ms over {len(names)} items")
    print(f"reference: {len(names)} results in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
