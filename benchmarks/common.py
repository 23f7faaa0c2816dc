"""Shared helpers: machine description, interleaved timing, Markdown tables."""

from __future__ import annotations

import os
import platform
import time
from collections.abc import Callable

import torch

THREADS_HELP = (
    "torch intra-op threads (default 1: on a small shared box, extra threads mostly add "
    "synchronisation to the many small per-step ops and make timings erratic)"
)


def set_threads(n: int | None) -> int:
    """Fix torch's intra-op threads for the whole run (default 1, see ``THREADS_HELP``)."""
    torch.set_num_threads(n or 1)
    return torch.get_num_threads()


def machine() -> str:
    """One line: CPU model, cores, torch version and thread count."""
    cpu = platform.processor() or "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    cores = len(os.sched_getaffinity(0))
    return (
        f"CPU: {cpu}, {cores} cores available (os.cpu_count() = {os.cpu_count()}); "
        f"torch {torch.__version__}; torch.get_num_threads() = {torch.get_num_threads()}; "
        f"Python {platform.python_version()}"
    )


def time_samples(
    fns: dict[str, Callable[[], object]],
    repeats: int,
    warmup: int = 1,
    at_most: dict[str, int] | None = None,
) -> dict[str, list[float]]:
    """Seconds of every call of each function, run round-robin.

    Every function is warmed up first; then each repeat calls every function
    once, rotating the order, so that drift in the machine's load (the box is
    shared) hits all of them alike and ratios stay meaningful.  ``at_most``
    caps the repeats of slow functions (they take part in the first rounds).
    """
    names = list(fns)
    at_most = at_most or {}
    for _ in range(warmup):
        for name in names:
            fns[name]()
    samples: dict[str, list[float]] = {name: [] for name in names}
    for r in range(repeats):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            if r >= at_most.get(name, repeats):
                continue
            start = time.perf_counter()
            fns[name]()
            samples[name].append(time.perf_counter() - start)
    return samples


def time_interleaved(
    fns: dict[str, Callable[[], object]],
    repeats: int,
    warmup: int = 1,
    at_most: dict[str, int] | None = None,
    statistic: Callable[[list[float]], float] = min,
) -> dict[str, float]:
    """Seconds per call of each function, run round-robin (``time_samples``): the
    fastest repeat by default (on a shared machine other work only ever adds
    time, so the fastest repeat is the least disturbed), or another
    ``statistic`` such as the median."""
    samples = time_samples(fns, repeats, warmup, at_most)
    return {name: statistic(s) for name, s in samples.items()}


def table(header: list[str], rows: list[list[str]]) -> str:
    """A Markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def ms(seconds: float) -> str:
    return f"{seconds * 1e3:.2f}"


def ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}×"


def mib(n_bytes: float) -> str:
    return f"{n_bytes / 2**20:.1f} MiB"


def long_trace(description: str, argv: list[str] | None):
    """The shared setup of the long-trace suites: parse ``--T --H --D --threads``,
    fix the threads, and build a seeded eq4/dot model and inputs x (T, D).

    Returns (args, model, x).
    """
    import argparse

    from attn_widget.core import SelfAttentionRNN

    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--T", type=int, default=4000)
    parser.add_argument("--H", type=int, default=256)
    parser.add_argument("--D", type=int, default=64)
    parser.add_argument("--threads", type=int, default=None, help=THREADS_HELP)
    args = parser.parse_args(argv)
    set_threads(args.threads)
    torch.manual_seed(0)
    model = SelfAttentionRNN(args.D, args.H, update="eq4", align="dot")
    return args, model, torch.randn(args.T, args.D)
