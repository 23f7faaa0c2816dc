"""Run every benchmark and print its tables: ``python -m benchmarks [--quick]``.

To add a benchmark (say, the widget's round trip in a browser), write a
module with ``main(argv: list[str] | None)`` that prints Markdown, and add
it to ``SUITES`` below.  ``quick`` holds the arguments it gets under
``--quick``; ``full`` those under the default run.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

# (module, arguments by default, arguments under --quick)
SUITES: list[tuple[str, list[str], list[str]]] = [
    ("benchmarks.core", [], ["--quick"]),
    ("benchmarks.step_cost", [], ["--T", "1000"]),
    ("benchmarks.memory", [], ["--T", "1000"]),
    ("benchmarks.widget", [], ["--quick"]),
    ("benchmarks.lesson", [], ["--quick"]),
    ("benchmarks.probe", [], ["--quick"]),
]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Run all benchmarks.")
    parser.add_argument("--quick", action="store_true", help="a small subset of each")
    parser.add_argument("--only", nargs="*", help="module names to run, e.g. core memory")
    args = parser.parse_args(argv)
    for name, default, quick in SUITES:
        if args.only and name.rsplit(".", 1)[-1] not in args.only:
            continue
        start = time.perf_counter()
        importlib.import_module(name).main(quick if args.quick else default)
        print(f"\n_{name} took {time.perf_counter() - start:.0f} s_\n", flush=True)


if __name__ == "__main__":
    main()
