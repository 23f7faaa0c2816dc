"""Lanes: the batched run split into two halves of the batch, run side by side.

A step of ``SelfAttentionRNN``'s batched run is some six small ops on (B, ·)
rows, too small for torch's intra-op threads to share well (nn.LSTM's fused
loop does), while two halves of the batch are independent sequences.  Their
ops release the GIL, so two worker threads, each at one intra-op thread, run
them on two cores (docs/design.md §1, "Lanes").
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor, wait

import torch
from torch import Tensor

#: Whether the batched run may split into lanes at all.  Off: on the shared 2-core
#: box of issue #27 the lanes were not shown to help.  Interleaved with nn.LSTM at
#: 2 threads (B32 T128 H128 fwd, medians of 15, load ≈ 3.6 from other jobs): the
#: core before the lanes 3.20× / 3.24×, two lanes 3.46× / 3.87×; only under heavy
#: load (≈ 9), where torch's 2-thread ops stall, were the lanes far ahead.  Measure
#: on a quiet machine (``python -m benchmarks.core``) before turning it on.
ENABLED = False

#: Sequences a lane must have for the batched run to split the batch in two lanes
#: run side by side (``lanes_of``).
LANE_MIN_BATCH = 8

_POOL: ThreadPoolExecutor | None = None
_POOL_LOCK = threading.Lock()


def lanes_of(x: Tensor) -> list[tuple[int, int]]:
    """The batch rows (lo, hi) of each lane of a batched run over x (B, T, D).

    Two lanes, each in its own thread at one intra-op thread, where lanes are
    ``ENABLED``, torch may use two threads or more and the batch is large enough;
    else one."""
    B = x.shape[0]
    if not ENABLED or x.device.type != "cpu" or B < 2 * LANE_MIN_BATCH:
        return [(0, B)]
    if torch.get_num_threads() < 2:
        return [(0, B)]
    half = (B + 1) // 2
    return [(0, half), (half, B)]


def lane_pool() -> ThreadPoolExecutor:
    """Two worker threads, each set to one intra-op thread (torch's thread count is
    per thread once set; the process-wide default is restored for later threads)."""
    global _POOL
    with _POOL_LOCK:
        if _POOL is None:
            threads = torch.get_num_threads()
            started = threading.Barrier(3)

            def one_thread():
                # A thread takes the process-wide count at its first op; take it
                # first, then set this thread's own.
                torch.get_num_threads()
                torch.set_num_threads(1)
                started.wait()

            pool = ThreadPoolExecutor(2, thread_name_prefix="attn_widget-lane")
            for _ in range(2):
                pool.submit(one_thread)
            started.wait()
            torch.set_num_threads(threads)
            _POOL = pool
    return _POOL


def run_side_by_side(calls: list[tuple]) -> list:
    """Run each ``(fn, *args)`` of ``calls`` in a lane thread and wait for all; the
    results in order.  Grad and inference mode are per thread: each call runs
    under the caller's.  An error in a lane is raised here, once every lane is done
    (none still writes into the caller's buffers)."""
    grad, inference = torch.is_grad_enabled(), torch.is_inference_mode_enabled()

    def in_callers_mode(fn, *args):
        with torch.inference_mode(inference), torch.set_grad_enabled(grad):
            return fn(*args)

    pool = lane_pool()
    jobs = [pool.submit(in_callers_mode, *call) for call in calls]
    wait(jobs)
    return [job.result() for job in jobs]


def _forget_pool() -> None:
    """In a forked child the pool's threads do not exist: make a new one when asked."""
    global _POOL, _POOL_LOCK
    _POOL, _POOL_LOCK = None, threading.Lock()


os.register_at_fork(after_in_child=_forget_pool)
