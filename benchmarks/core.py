"""Core speed: SelfAttentionRNN against the core before #27, nn.LSTM, nn.RNN and a naive loop.

    python -m benchmarks.core            # the default grid, twice: at torch's default
                                         # thread count and at one thread
    python -m benchmarks.core --quick    # the goal configurations only
    python -m benchmarks.core --full     # also T = 1024 at H = 512, and the naive loop
                                         # where it is slow or big
    python -m benchmarks.core --threads 1   # one setting only

Every configuration is eq4/dot at B = 32, D = 64, d_k = H.  "fwd" runs under
``torch.no_grad()``; "fwd+bwd" runs the forward with autograd on and calls
``backward()`` on the sum of the states h (for LSTM/RNN: of their outputs).

"before" is the core as it was before issue #27 (``benchmarks/frozen_core.py``:
keyed attention, a history-wide backward update at every step), with the
same weights, so "model/before" is today's speed against yesterday's, taken
in the same run.

Every function of a row is called round-robin (``common.time_samples``), so
a row's ratios come from the same stretch of machine time.  Each time cell
gives the median of the repeats and, in brackets, the fastest.  A ratio cell
gives the median over rounds of the round's own ratio (a/b of the two calls of
one round) and, in brackets, the ratio of the minima;
the goal lines also give the ratio of the medians.  The machine these run on is
often shared, and other work only ever adds time, in bursts that can last
seconds: a burst that covers several rounds moves both sides of those rounds'
ratios alike, while it moves one side's median and not the other's when the
rounds it covers differ in order.  So the paired median is the goal's
statistic; the medians say what a run takes, the minima what it takes
undisturbed.  The naive loop takes part in only a few rounds (or is timed on
its own): its ratio is the ratio of the medians.

Torch's default thread count is what a user gets (2 on a 2-core machine);
one thread is the setting where the per-step overhead weighs the same on
both sides.  Each thread setting gets its own table and goal report.

The naive loop is the textbook implementation: every step re-stacks the
history h_0 … h_t and re-projects every key W_K h_i, so step t costs
O(t·H·d_k) instead of the core's O(t·d_k).  It is checked against the model
(weights copied) before it is timed, and so is the core before #27.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a script: python benchmarks/core.py
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch
from torch import Tensor, nn

from attn_widget.core import SelfAttentionRNN
from benchmarks.common import machine, table, time_samples
from benchmarks.frozen_core import FrozenSelfAttentionRNN

B, D = 32, 64
GOAL_T, GOAL_H, NAIVE_T = 128, 128, 1024
REPEATS = 9  # the goals ask for the median of at least 9 interleaved repeats
#: The goal rows (T = 128, H = 128) take a few ms a call, so they get more repeats: on
#: this shared machine a median of 9 moved by ±15 % from run to run.
GOAL_REPEATS = 25


class NaiveAttentionRNN(nn.Module):
    """eq4 with dot (or scaled dot) align, written the obvious way.

    Step t stacks h_0 … h_t, projects all of them to keys again and attends;
    nothing is cached between steps.
    """

    def __init__(self, D: int, H: int, d_k: int, scale: float = 1.0):
        super().__init__()
        self.H, self.scale = H, scale
        self.W_q = nn.Linear(H, d_k, bias=False)
        self.W_k = nn.Linear(H, d_k, bias=False)
        self.A = nn.Linear(2 * H + D, H)

    @classmethod
    def copy_of(cls, model: SelfAttentionRNN) -> NaiveAttentionRNN:
        assert model.update == "eq4" and model.align_name in ("dot", "scaled_dot")
        naive = cls(model.input_size, model.hidden_size, model.attn_size, model.align.scale)
        naive.W_q.load_state_dict(model.align.W_q.state_dict())
        naive.W_k.load_state_dict(model.align.W_k.state_dict())
        naive.A.load_state_dict(model.A.state_dict())
        return naive

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """x (B, T, D) -> h (B, T+1, H), c (B, T, H), alpha (B, T, T+1)."""
        Bx, T, _ = x.shape
        hs, cs, alphas = [x.new_zeros(Bx, self.H)], [], []
        for t in range(T):
            past = torch.stack(hs, dim=1)  # (B, t+1, H)
            keys = self.W_k(past)  # (B, t+1, d), re-projected every step
            query = self.W_q(hs[-1])  # (B, d)
            scores = (keys @ query[:, :, None])[:, :, 0] * self.scale  # (B, t+1)
            alpha = torch.softmax(scores, dim=-1)
            c = (alpha[:, None] @ past)[:, 0]  # (B, H)
            hs.append(torch.tanh(self.A(torch.cat([hs[-1], x[:, t], c], dim=-1))))
            cs.append(c)
            alphas.append(nn.functional.pad(alpha, (0, T - t)))
        return torch.stack(hs, 1), torch.stack(cs, 1), torch.stack(alphas, 1)


def check_naive(model: SelfAttentionRNN, naive: NaiveAttentionRNN, T: int = 48) -> float:
    """Largest difference between the naive loop (or the core before #27, where
    ``naive`` is a FrozenSelfAttentionRNN) and the model; raises if they disagree."""
    x = torch.randn(4, T, model.input_size)
    with torch.no_grad():
        trace = model(x)
        other = naive(x)
        h, c, alpha = (other.h, other.c, other.alpha) if hasattr(other, "h") else other
    worst = max(
        (trace.h - h).abs().max().item(),
        (trace.c - c).abs().max().item(),
        (trace.alpha - alpha).abs().max().item(),
    )
    if worst > 1e-4:
        raise AssertionError(f"{type(naive).__name__} disagrees with the model by {worst:.2e}")
    return worst


def naive_fits(T: int, H: int, mode: str, full: bool) -> str | None:
    """Why the naive loop is skipped for this config, or None to run it."""
    work = T * T * H * H  # its forward does ~T²/2 · B · H · d_k multiply-adds
    if mode == "fwd" and work > NAIVE_T**2 * GOAL_H**2 and not full:
        return "slow; --full"
    if mode == "fwd+bwd":
        saved = T * T // 2 * B * 3 * H * 4  # stacked histories and keys kept for backward
        if saved > 16 * 2**30:
            return f"needs ~{saved / 2**30:.0f} GiB"
        if saved > 4 * 2**30 and not full:
            return f"~{saved / 2**30:.1f} GiB; --full"
    return None


def bench_config(T: int, H: int, mode: str, repeats: int, full: bool) -> dict:
    """Every function's samples (seconds) for one configuration; "naive" may be the
    reason it was skipped instead."""
    torch.manual_seed(0)
    model = SelfAttentionRNN(D, H, update="eq4", align="dot")
    before = FrozenSelfAttentionRNN.copy_of(model)
    naive = NaiveAttentionRNN.copy_of(model)
    lstm = nn.LSTM(D, H, batch_first=True)
    rnn = nn.RNN(D, H, batch_first=True)
    x = torch.randn(B, T, D)

    def run(module, out_of):
        if mode == "fwd":

            def fn():
                with torch.no_grad():
                    module(x)

        else:

            def fn():
                module.zero_grad(set_to_none=True)
                out_of(module(x)).sum().backward()

        return fn

    fns = {
        "model": run(model, lambda trace: trace.h),
        "before": run(before, lambda trace: trace.h),
        "LSTM": run(lstm, lambda out: out[0]),
        "RNN": run(rnn, lambda out: out[0]),
    }
    skip = naive_fits(T, H, mode, full)
    if skip is None:
        fns["naive"] = run(naive, lambda out: out[0])
    # The naive loop at T = 1024 takes tens of seconds a call: time it once,
    # after the others (its own 1024 steps are the averaging).  Elsewhere it
    # takes part in the first 3 rounds only.
    slow_naive = fns.pop("naive") if T >= 1024 and "naive" in fns else None
    result: dict = time_samples(fns, repeats=repeats, at_most={"naive": 3})
    if slow_naive is not None:
        result["naive"] = time_samples({"naive": slow_naive}, repeats=1, warmup=0)["naive"]
    result["naive"] = result.get("naive", skip)
    return result


def cell(samples: list[float]) -> str:
    """Milliseconds: the median, and in brackets the fastest repeat."""
    return f"{statistics.median(samples) * 1e3:.2f} ({min(samples) * 1e3:.2f})"


def ratios(a: list[float], b: list[float], paired: bool = True) -> tuple[float, float, float]:
    """a/b three ways: the median of the per-round ratios a_r/b_r (``paired``: sample r
    of each is from round r of ``time_samples``), the ratio of the medians and the ratio
    of the minima.  Unpaired (the naive loop, which runs in a few rounds or on its
    own), the first value is the ratio of the medians too."""
    of_medians = statistics.median(a) / statistics.median(b)
    per_round = (
        statistics.median(x / y for x, y in zip(a, b, strict=True)) if paired else of_medians
    )
    return per_round, of_medians, min(a) / min(b)


def ratio_cell(a: list[float], b: list[float], paired: bool = True) -> str:
    first, _, low = ratios(a, b, paired)
    return f"{first:.2f}× ({low:.2f}×)"


def main(argv: list[str] | None = None) -> dict:
    default_threads = torch.get_num_threads()  # what a user gets, before anyone sets it
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="only the goal configurations")
    parser.add_argument("--full", action="store_true", help="run the naive loop everywhere")
    parser.add_argument(
        "--threads",
        type=int,
        nargs="+",
        default=None,
        help=f"torch intra-op thread counts to run, in turn (default: torch's default, "
        f"here {default_threads}, then 1)",
    )
    parser.add_argument("--repeats", type=int, default=None)
    args = parser.parse_args(argv)
    settings = list(dict.fromkeys(args.threads or [default_threads, 1]))
    results = {}
    for threads in settings:
        torch.set_num_threads(threads)
        default = " (torch's default here)" if threads == default_threads else ""
        print(f"## Core speed at {threads} thread{'s' if threads > 1 else ''}{default}\n")
        results[threads] = run_grid(args)
        print()
    return results


def run_grid(args: argparse.Namespace) -> dict:
    """One table and goal report at the current thread count."""
    repeats = args.repeats or REPEATS
    if args.quick:
        grid = [(GOAL_T, GOAL_H, "fwd"), (GOAL_T, GOAL_H, "fwd+bwd"), (NAIVE_T, GOAL_H, "fwd")]
    else:
        grid = [
            (T, H, mode)
            for mode in ("fwd", "fwd+bwd")
            for H in (128, 512)
            for T in (64, 128, 256, 1024)
            if args.full or (T, H) != (1024, 512)  # ~1 min each on one core
        ]

    print("SelfAttentionRNN (eq4/dot) against the core before #27, nn.LSTM, nn.RNN and the")
    print("naive loop.\n")
    print(machine())
    torch.manual_seed(0)
    probe = SelfAttentionRNN(D, 32, update="eq4", align="dot")
    worst = check_naive(probe, NaiveAttentionRNN.copy_of(probe))
    print(f"naive loop checked against the model (weights copied): max |diff| = {worst:.1e}")
    worst = check_naive(probe, FrozenSelfAttentionRNN.copy_of(probe))
    print(f"the core before #27 checked against the model: max |diff| = {worst:.1e}")
    print(
        f"B = {B}, D = {D}, d_k = H; median (fastest) of {repeats} interleaved repeats "
        f"({max(repeats, GOAL_REPEATS)} at T = {GOAL_T}, H = {GOAL_H}); "
        "the naive loop 3, and once at T = 1024.  Ratios: the median of the per-round "
        "ratios (the ratio of the minima); naive/model: of the medians (the minima)."
        + ("" if args.full or args.quick else " T = 1024 with H = 512 needs --full.")
        + "\n",
        flush=True,
    )

    rows, results = [], {}
    for T, H, mode in grid:
        goal_row = (T, H) == (GOAL_T, GOAL_H)
        r = bench_config(T, H, mode, max(repeats, GOAL_REPEATS) if goal_row else repeats, args.full)
        results[(T, H, mode)] = r
        naive = r["naive"]
        rows.append(
            [
                mode,
                str(T),
                str(H),
                cell(r["model"]),
                cell(r["before"]),
                cell(r["LSTM"]),
                cell(r["RNN"]),
                cell(naive) if isinstance(naive, list) else f"— ({naive})",
                ratio_cell(r["model"], r["before"]),
                ratio_cell(r["model"], r["LSTM"]),
                ratio_cell(r["model"], r["RNN"]),
                ratio_cell(naive, r["model"], paired=False) if isinstance(naive, list) else "—",
            ]
        )
        print(f"  measured {mode} T={T} H={H}", file=sys.stderr, flush=True)
    header = ["mode", "T", "H", "model ms", "before ms", "LSTM ms", "RNN ms", "naive ms"]
    header += ["model/before", "model/LSTM", "model/RNN", "naive/model (speed-up)"]
    print(table(header, rows), flush=True)
    print()
    print(goal_report(results))
    return results


def goal_report(results: dict) -> str:
    """The goals of issue #27 (and #15's naive speed-up), on the paired medians
    (``ratios``; the naive loop's on the ratio of the medians)."""

    def over(name):
        return lambda r: ratios(r["model"], r[name])

    threads = torch.get_num_threads()
    lines = [f"### Goals (B={B}, T={GOAL_T}, H={GOAL_H}, eq4/dot, CPU, {threads} thread(s))\n"]
    checks = [
        ("fwd ≤ 2.5× LSTM", (GOAL_T, GOAL_H, "fwd"), over("LSTM"), 2.5, "≤"),
        ("fwd+bwd ≤ 3× LSTM", (GOAL_T, GOAL_H, "fwd+bwd"), over("LSTM"), 3.0, "≤"),
        (
            f"fwd ≥ 5× faster than naive at T={NAIVE_T}",
            (NAIVE_T, GOAL_H, "fwd"),
            lambda r: ratios(r["naive"], r["model"], paired=False),
            5.0,
            "≥",
        ),
    ]
    for name, key, measure, target, sense in checks:
        r = results.get(key)
        if r is None or ("naive" in name and not isinstance(r["naive"], list)):
            lines.append(f"- {name}: not measured")
            continue
        value, of_medians, low = measure(r)
        lines.append(
            f"- {name}: {value:.2f}× (of the medians {of_medians:.2f}×, of the minima "
            f"{low:.2f}×) → {verdict(value, target, sense)}"
        )
    slowest = max(results, key=lambda key: ratios(results[key]["model"], results[key]["before"])[0])
    value, of_medians, low = ratios(results[slowest]["model"], results[slowest]["before"])
    T, H, mode = slowest
    lines.append(
        f"- no configuration slower than before #27: the slowest, {mode} T={T} H={H}, "
        f"takes {value:.2f}× (of the medians {of_medians:.2f}×, of the minima {low:.2f}×) "
        f"→ {verdict(value, 1.0, '≤')}"
    )
    return "\n".join(lines)


def verdict(value: float, target: float, sense: str) -> str:
    met = value <= target if sense == "≤" else value >= target
    miss = value / target if sense == "≤" else target / value
    return "MET" if met else f"MISSED by {miss:.2f}× ({value:.2f}× vs {target:g}×)"


if __name__ == "__main__":
    main()
