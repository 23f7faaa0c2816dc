"""Memory of a long trace: T = 4000, H = 256, eq4/dot, in the stepper and in ``model(x)``.

    python -m benchmarks.memory [--T 4000] [--H 256]

Bytes are counted from the tensors themselves (each storage once), so they
do not depend on the allocator.  α alone is O(T²) (T rows of up to T+1
weights, a contract of the trace); everything else should be O(T·H).  With
autograd on, the saved tensors should stay O(T·H) too, far below the
O(T²·H) that an implementation re-stacking the history every step keeps.
RSS growth (from /proc/self/status) is shown where it means something;
tracemalloc sees only Python objects (the Step records), not torch buffers.
"""

from __future__ import annotations

import gc
import sys
import tracemalloc
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch

from benchmarks.common import long_trace, machine, mib, table


def tensor_bytes(tensors, seen: set | None = None) -> int:
    """Bytes of the distinct storages behind ``tensors`` (None entries skipped)."""
    seen = set() if seen is None else seen
    total = 0
    for t in tensors:
        if t is None:
            continue
        storage = t.untyped_storage()
        if storage.data_ptr() not in seen:
            seen.add(storage.data_ptr())
            total += storage.nbytes()
    return total


def rss() -> int:
    """Resident set size of this process in bytes (Linux), or 0."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def main(argv: list[str] | None = None) -> dict:
    args, model, x = long_trace(__doc__.split("\n")[0], argv)
    T, H, D = args.T, args.H, args.D
    f32 = 4
    rows = []

    # The stepper: its cache (states, keys, each state's projections), and the Step records.
    tracemalloc.start()
    before = rss()
    stepper = model.stepper(x)
    stepper.goto(T)
    grown = rss() - before
    py_bytes, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    cache = stepper._cache  # noqa: SLF001
    cache_bytes = tensor_bytes([cache.states, cache.keys, cache.proj])
    seen: set = set()
    record_bytes = sum(
        tensor_bytes([s.x, s.scores, s.alpha, s.c, s.z, s.pre, s.h], seen) for s in stepper.steps
    )
    square_bytes = sum((s.alpha.numel() + s.scores.numel()) * f32 for s in stepper.steps)
    rows += [
        [
            "stepper cache (states h_i, keys k_i, projections [k_i; q_i; A_h h_i])",
            mib(cache_bytes),
            f"O(T·(2H+3d)), capacity {cache.capacity}",
        ],
        ["stepper Step records", mib(record_bytes), f"α and scores {mib(square_bytes)}: O(T²)"],
        ["stepper records, Python objects (tracemalloc)", mib(py_bytes), "O(T)"],
        ["stepper, RSS growth", mib(grown), ""],
    ]
    del stepper, cache
    gc.collect()

    # model(x) without gradients: the trace only.
    before = rss()
    with torch.no_grad():
        trace = model(x)
    grown = rss() - before
    rows += [
        ["model(x) trace h + c", mib(tensor_bytes([trace.h, trace.c])), "O(T·H)"],
        ["model(x) trace α", mib(tensor_bytes([trace.alpha])), "O(T²)"],
        ["model(x) no_grad, RSS growth", mib(grown), ""],
    ]
    del trace
    gc.collect()

    # model(x) with gradients: what autograd keeps for backward.
    saved: list[torch.Tensor] = []

    def pack(t):
        saved.append(t)
        return t

    before = rss()
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        trace = model(x)
    grown = rss() - before
    saved_bytes = tensor_bytes(saved)
    trace.h.sum().backward()
    restack = T * (T + 1) // 2 * (H + model.attn_size) * f32
    rows += [
        ["model(x) with grad, saved tensors", mib(saved_bytes), f"{len(saved)} saved tensors"],
        ["model(x) with grad, RSS growth (graph alive)", mib(grown), "includes the trace"],
        ["re-stacking every step would save", mib(restack), "O(T²·(H+d)), not run"],
    ]

    print(f"## Memory of a long trace (eq4/dot, T = {T}, H = {H}, D = {D}, unbatched, float32)\n")
    print(machine())
    print()
    print(table(["what", "bytes", "note"], rows))
    return {"saved_bytes": saved_bytes, "cache_bytes": cache_bytes, "record_bytes": record_bytes}


if __name__ == "__main__":
    main()
