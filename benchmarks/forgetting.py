"""Forgetting, measured: recall accuracy against distance for eq1, eq3, eq4 and an LSTM.

Task (``attn_widget.tasks.recall``): ``d2 k3 d0 … d5 ?`` → ``k3``; the key
is followed by ``distance`` distractors before ``?``.  Each model reads the
sequence and answers at ``?`` with a linear head on its last state.  Every
run trains on fresh sequences (one pass, no repeats) and is scored on 500
held-out sequences of the distance in the table's column.

Models (all hidden size H, embedding size D, Adam, gradient clipping):

- ``eq1``            plain SimpleRNN, h_{t+1} = tanh(A·[h_t; x_{t+1}] + b)
- ``eq3/<align>``    h_{t+1} = tanh(A·[x_{t+1}; c_t] + b)
- ``eq4/<align>``    h_{t+1} = tanh(A·[h_t; x_{t+1}; c_t] + b)
- ``LSTM``           ``torch.nn.LSTM``, the usual gated reference
- ``LSTMN``          the LSTMN of Cheng et al. (2016), attending over its tapes

with ``<align>`` one of ``additive``, ``dot``, ``scaled_dot``.  Each of these
rows trains at the distance it is tested on.  Two rows train once and are
tested at every distance:

- ``default``: the earlier default recipe (notebook 03 used it): eq4 with
  dot align, the library's default model, trained with the same budget at
  ``DEFAULT_TRAIN_DISTANCE`` distractors, the key in the first 3 positions;
- ``demo``: eq4/dot trained with the recall demo's recipe
  (``attn_widget.lesson.DEMO_RECIPES["recall"]``: the key anywhere in the
  first 21 positions, 20 distractors, 600 steps at lr 0.003), as the
  shipped recall demo is.

Every cell is measured twice: with the key among the first 3 positions, as
the rows train, and *displaced*, anywhere in the first ``DISPLACED_PREFIX``
positions (a second table).  A model that learnt where the key sits rather
than what it is fails the second.  Run::

    python benchmarks/forgetting.py --jobs 2                 # every model, 10 seeds (about an hour)
    python benchmarks/forgetting.py --models eq4/additive eq4/dot --distances 40
    python benchmarks/forgetting.py --quick                  # a smoke test, under a minute
    python benchmarks/forgetting.py --models eq1 eq4/dot LSTMN default demo \\
        --distances 5 20 50 --seeds 3 --jobs 2          # benchmarks/results/lesson.md

It prints each run's accuracy as it goes, then two Markdown tables (key near
the start, key displaced): for each model and distance, how many seeds
reached 0.9 and the mean accuracy (chance = 1 / n_keys).  A run's result
depends only on its model, distance and seed, never on ``--jobs``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

from attn_widget.lesson import DEMO_RECIPES, train_demo_model
from attn_widget.tasks import recall
from attn_widget.text import TextRNN, Vocab
from attn_widget.train import evaluate, train


class LSTMClassifier(nn.Module):
    """Embedding + ``torch.nn.LSTM`` + linear head, with TextRNN's call signature.

    ``model(ids (B, T), lengths)`` -> ``(None, logits (B, T, C))``; the LSTM is
    causal, so padding after a sequence's end never changes its answer.
    """

    def __init__(self, vocab: Vocab, embed_size: int, hidden_size: int, n_outputs: int):
        super().__init__()
        self.embed = nn.Embedding(len(vocab), embed_size, padding_idx=Vocab.pad_id)
        self.lstm = nn.LSTM(embed_size, hidden_size, batch_first=True)
        self.out = nn.Linear(hidden_size, n_outputs)

    def forward(self, ids, lengths=None):
        h, _ = self.lstm(self.embed(ids))  # (B, T, H)
        return None, self.out(h)  # (B, T, C)


ALIGNS = ("additive", "dot", "scaled_dot")
MODELS = {
    "eq1": dict(update="eq1", align="dot"),
    **{f"eq3/{a}": dict(update="eq3", align=a) for a in ALIGNS},
    **{f"eq4/{a}": dict(update="eq4", align=a) for a in ALIGNS},
    "LSTM": None,
    "LSTMN": dict(update="lstmn"),
}
DEFAULT = "default"  # eq4/dot trained at DEFAULT_TRAIN_DISTANCE, tested at every distance
DEFAULT_TRAIN_DISTANCE = 10
DEMO = "demo"  # eq4/dot trained with the recall demo's recipe, tested at every distance
TRAIN_ONCE = (DEFAULT, DEMO)
DISPLACED_PREFIX = 60  # the second table: the key anywhere in the first 60 positions
GOOD = 0.9  # a run "remembers" when its held-out accuracy reaches this


def row_name(name: str) -> str:
    if name == DEFAULT:
        return f"eq4/dot trained at d = {DEFAULT_TRAIN_DISTANCE}, key in first 3 (earlier default)"
    if name == DEMO:
        args = DEMO_RECIPES["recall"]["task_args"]
        return (
            f"eq4/dot trained at d = {args['distance']}, key in first {args['max_prefix'] + 1} "
            "(recall demo)"
        )
    return name


def run_one(name, distances, seed, args) -> dict[int, tuple[float, float]]:
    """Train one model with one seed; return its held-out accuracy at each distance,
    (key in the first 3 positions, key displaced).

    A table row trains at the distance it is tested on (``distances`` has one
    entry); the default and demo rows train once and are tested at every distance.
    """
    torch.set_num_threads(args.threads)
    if name == DEMO:
        model = train_demo_model("recall", "eq4", seed=seed)
        return {d: test(model, d, args) for d in distances}
    train_distance = DEFAULT_TRAIN_DISTANCE if name == DEFAULT else distances[0]
    train_data = recall(
        args.steps * args.batch,
        distance=train_distance,
        n_keys=args.keys,
        seed=1000 * seed + train_distance,
    )
    torch.manual_seed(seed)
    spec = MODELS["eq4/dot" if name == DEFAULT else name]
    if spec is None:
        model = LSTMClassifier(train_data.vocab, args.embed, args.hidden, train_data.n_outputs)
    else:
        model = TextRNN(
            train_data.vocab, args.embed, args.hidden, n_outputs=train_data.n_outputs, **spec
        )
    if args.nudge:  # another CPU's last bits, in effect: the same seed, another run
        noise = torch.Generator().manual_seed(10**6 + seed)
        with torch.no_grad():
            for p in model.parameters():
                p.add_(args.nudge * torch.randn(p.shape, generator=noise))
    train(
        model,
        train_data,
        epochs=1,
        batch_size=args.batch,
        lr=args.lr,
        schedule=args.schedule,
        clip=1.0,
        seed=seed,
        progress=False,
    )
    return {d: test(model, d, args) for d in distances}


def test(model, d: int, args) -> tuple[float, float]:
    """Held-out accuracy at distance d: key in the first 3 positions, key displaced."""
    near = recall(500, distance=d, n_keys=args.keys, seed=10**6 + d)
    displaced = recall(
        500, distance=d, n_keys=args.keys, max_prefix=DISPLACED_PREFIX, seed=2 * 10**6 + d
    )
    return evaluate(model, near), evaluate(model, displaced)


def table(results, models, distances, chance, which: int = 0) -> str:
    """Markdown: one row per model, one column per distance: seeds ≥ 0.9 and the mean;
    ``which`` 0: the key near the start, 1: displaced."""
    head = "| model | " + " | ".join(f"d = {d}" for d in distances) + " |"
    rule = "|---|" + "---:|" * len(distances)
    rows = [head, rule]
    for name in models:
        cells = []
        for d in distances:
            accs = [pair[which] for pair in results[name, d]]
            good = sum(a >= GOOD for a in accs)
            cells.append(f"{good}/{len(accs)} ({statistics.mean(accs):.2f})")
        rows.append(f"| {row_name(name)} | " + " | ".join(cells) + " |")
    rows.append("| chance | " + " | ".join(f"{chance:.3f}" for _ in distances) + " |")
    return "\n".join(rows)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    choices = [*MODELS, *TRAIN_ONCE]
    parser.add_argument("--models", nargs="+", default=choices, choices=choices)
    parser.add_argument("--distances", type=int, nargs="+", default=[5, 20, 50, 100])
    parser.add_argument("--seeds", type=int, default=10, help="seeds 0 … N-1")
    parser.add_argument("--seed-list", type=int, nargs="+", help="these seeds instead")
    parser.add_argument("--steps", type=int, default=300, help="optimiser steps per run")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--hidden", type=int, default=32)
    parser.add_argument("--embed", type=int, default=16)
    parser.add_argument("--keys", type=int, default=8, help="n_keys; chance = 1 / n_keys")
    parser.add_argument("--lr", type=float, default=1e-2)
    parser.add_argument("--schedule", default="cosine", choices=["constant", "cosine"])
    parser.add_argument("--threads", type=int, default=1, help="torch threads per run")
    parser.add_argument("--jobs", type=int, default=1, help="runs at once, one process each")
    parser.add_argument(
        "--nudge", type=float, default=0.0, help="add this × N(0, 1) to every starting weight"
    )
    parser.add_argument("--quick", action="store_true", help="d = 5, 20; 1 seed; 60 steps")
    args = parser.parse_args(argv)
    if args.quick:
        args.distances, args.seeds, args.steps = [5, 20], 1, 60
        args.models = ["eq1", "eq4/additive", "LSTM", "LSTMN", DEFAULT]
    seeds = args.seed_list or list(range(args.seeds))

    # One task per training run: a row at one distance and seed, or the default
    # row at one seed (trained once, tested at every distance).
    tasks = []
    for name in args.models:
        if name in TRAIN_ONCE:
            tasks += [(name, tuple(args.distances), seed) for seed in seeds]
        else:
            tasks += [(name, (d,), seed) for d in args.distances for seed in seeds]
    start = time.perf_counter()
    results = {(name, d): [] for name in args.models for d in args.distances}
    with ProcessPoolExecutor(args.jobs) as pool:
        futures = [pool.submit(run_one, name, ds, seed, args) for name, ds, seed in tasks]
        for (name, ds, _), future in zip(tasks, futures, strict=True):
            for d, accuracy in future.result().items():
                results[name, d].append(accuracy)
            if len(results[name, ds[-1]]) == len(seeds):  # a row's cell is complete
                for d in ds:
                    print(
                        f"  d={d:<4} {row_name(name):<36} "
                        + " ".join(f"{a:.2f}/{b:.2f}" for a, b in results[name, d])
                        + f"   ({time.perf_counter() - start:.0f} s)",
                        flush=True,
                    )
    minutes = (time.perf_counter() - start) / 60
    print()
    print(
        f"Recall on 500 held-out sequences: seeds reaching {GOOD} out of {len(seeds)} "
        f"(mean accuracy); H = {args.hidden}, D = {args.embed}, {args.keys} keys, "
        f"{args.steps} Adam steps of batch {args.batch} (lr {args.lr}, {args.schedule}, "
        f"clip 1.0{f', starting weights nudged by {args.nudge:g}' if args.nudge else ''}), "
        f"d = distractors between key and '?'.  The default and demo rows train once "
        f"(see their names; the demo row with its own recipe), every other row at the "
        f"distance it is tested on.  {minutes:.1f} min on CPU, {args.jobs} job(s) "
        f"of {args.threads} thread(s).  Runs above: key near the start / displaced."
    )
    print()
    print("Key among the first 3 positions, as every row but the demo row trains:\n")
    print(table(results, args.models, args.distances, 1 / args.keys))
    print(f"\nKey displaced: anywhere in the first {DISPLACED_PREFIX} positions:\n")
    print(table(results, args.models, args.distances, 1 / args.keys, which=1))


if __name__ == "__main__":
    main()
