"""Where the time of one batched forward (and forward+backward) goes, by op.

    python -m benchmarks.profile_step [--threads 1 2] [--T 128] [--H 128]

Runs ``torch.profiler`` on ``SelfAttentionRNN`` (eq4/dot, B = 32, D = 64) and,
for comparison, on ``nn.LSTM`` with the same sizes, at each thread count, and
prints per-op self CPU time as a share of the run, the calls per step (T steps)
and µs per call.  This is the profile issue #15 asks for before any rewrite:
it says which ops a leaner loop must remove or fuse.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch
from torch import nn
from torch.profiler import ProfilerActivity, profile

from attn_widget import SelfAttentionRNN
from benchmarks.common import machine, table

B, D = 32, 64


def profile_run(fn, repeats: int) -> tuple[float, list]:
    """Warm up, then profile ``repeats`` calls of ``fn``: (total self CPU µs, events)."""
    for _ in range(2):
        fn()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(repeats):
            fn()
    events = prof.key_averages()
    total = sum(e.self_cpu_time_total for e in events)
    return total, events


def op_table(total: float, events, T: int, repeats: int, top: int) -> str:
    rows = []
    for e in sorted(events, key=lambda e: e.self_cpu_time_total, reverse=True)[:top]:
        rows.append(
            [
                f"`{e.key}`",
                f"{100 * e.self_cpu_time_total / total:.1f} %",
                f"{e.count / (repeats * T):.2f}",
                f"{e.self_cpu_time_total / max(e.count, 1):.1f}",
            ]
        )
    return table(["op", "share of self CPU", "calls per step", "µs per call"], rows)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--T", type=int, default=128)
    parser.add_argument("--H", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--top", type=int, default=12)
    args = parser.parse_args(argv)
    T, H = args.T, args.H
    torch.manual_seed(0)
    model = SelfAttentionRNN(D, H, update="eq4", align="dot")
    lstm = nn.LSTM(D, H, batch_first=True)
    x = torch.randn(B, T, D)

    def model_fwd():
        with torch.no_grad():
            model(x)

    def model_train():
        model.zero_grad(set_to_none=True)
        model(x).h.sum().backward()

    def lstm_fwd():
        with torch.no_grad():
            lstm(x)

    def lstm_train():
        lstm.zero_grad(set_to_none=True)
        lstm(x)[0].sum().backward()

    print(f"## Profile of one run, B = {B}, T = {T}, D = {D}, H = {H} (eq4/dot)\n")
    for threads in args.threads:
        torch.set_num_threads(threads)
        print(f"### {threads} thread{'s' if threads > 1 else ''}\n")
        print(machine() + "\n")
        for name, fn, baseline in (
            ("forward", model_fwd, lstm_fwd),
            ("forward+backward", model_train, lstm_train),
        ):
            total, events = profile_run(fn, args.repeats)
            base_total, _ = profile_run(baseline, args.repeats)
            print(
                f"**{name}**: {total / args.repeats / 1e3:.1f} ms of self CPU a run "
                f"(nn.LSTM: {base_total / args.repeats / 1e3:.1f} ms, "
                f"ratio {total / base_total:.2f}×), {total / args.repeats / T:.0f} µs a step\n"
            )
            print(op_table(total, events, T, args.repeats, args.top))
            print(flush=True)


if __name__ == "__main__":
    main()
