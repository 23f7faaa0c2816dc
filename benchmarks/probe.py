"""What eq1's last state still holds: a linear probe, ``python -m benchmarks.probe``.

"eq1 forgets" has two halves.  Storing: does h_T, the state that answers
at ``?``, still hold the key after d distractors?  Learning: can training
find a read-out for it?  The probe separates them.  For each seed:

1. train eq1 on recall at a short distance (``--train-distance``, 5) with the
   forgetting table's recipe (300 Adam steps of 64, lr 0.01 cosine, clip 1,
   H = 32, D = 16), and, as controls, train another eq1 at the long distance
   itself, and keep a third untrained (its starting weights);
2. freeze each; at every probe distance d, run it over ``--fit`` fresh
   sequences and fit a new linear read-out (multinomial logistic regression,
   L-BFGS, a small L2 penalty) from h_T to the key;
3. score that read-out, and the model's own head, on ``--test`` other
   sequences at the same d.

A read-out that recovers the key from a model whose own head fails says
the state holds it and training did not learn to use it.  The untrained
model is the control for "storing": a random tanh network also carries its
inputs for a while, so what the trained one holds beyond it is what
training added.

Why training at the long distance does not make eq1 store the key: the
second table gives, for the same three models, how much h_T depends on the
key against the input read last, ‖∂h_T/∂x_key‖ / ‖∂h_T/∂x_T‖
(``input_sensitivity``, exact by autograd), the median over ``--grad``
held-out sequences.  The gradient that would teach a model to keep the key
reaches it through that same Jacobian.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch

from attn_widget.core import input_sensitivity
from attn_widget.lesson import probe_accuracy
from attn_widget.tasks import recall
from attn_widget.text import TextRNN
from attn_widget.train import evaluate, train
from benchmarks.common import machine, set_threads, table

EMBED, HIDDEN, STEPS, BATCH = 16, 32, 300, 64


def eq1(seed: int, distance: int | None) -> TextRNN:
    """eq1 trained at ``distance`` with the forgetting table's recipe; None: untrained."""
    data = recall(STEPS * BATCH, distance=distance or 5, seed=1000 * seed + (distance or 5))
    torch.manual_seed(seed)
    model = TextRNN(data.vocab, EMBED, HIDDEN, update="eq1", n_outputs=data.n_outputs)
    if distance is not None:
        train(
            model,
            data,
            epochs=1,
            batch_size=BATCH,
            lr=1e-2,
            schedule="cosine",
            clip=1.0,
            seed=seed,
            progress=False,
        )
    return model.eval()


def key_dependence(model: TextRNN, data, n: int) -> float:
    """Median over the first ``n`` sequences of ‖∂h_T/∂x_key‖ / ‖∂h_T/∂x_T‖."""
    ratios = []
    for tokens, key in zip(data.tokens[:n], data.info["key_pos"][:n], strict=True):
        _, x = model.embed_text(tokens)
        sensitivity = input_sensitivity(model.rnn, x.detach())  # (T,), entry i-1 for x_i
        ratios.append(float(sensitivity[key] / sensitivity[-1]))
    return statistics.median(ratios)


def spread_small(values: list[float]) -> str:
    """Median (min–max) of numbers spanning orders of magnitude."""
    if len(values) == 1:
        return f"{values[0]:.1g}"
    return f"{statistics.median(values):.1g} ({min(values):.1g} – {max(values):.1g})"


def spread(values: list[float]) -> str:
    if len(values) == 1:
        return f"{values[0]:.2f}"
    return f"{statistics.mean(values):.2f} ({min(values):.2f}–{max(values):.2f})"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--train-distance", type=int, default=5)
    parser.add_argument("--distances", type=int, nargs="+", default=[5, 20, 40])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--fit", type=int, default=2000, help="sequences the probe is fitted on")
    parser.add_argument("--test", type=int, default=500, help="held-out sequences it is scored on")
    parser.add_argument("--grad", type=int, default=20, help="sequences the gradient is taken on")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--quick", action="store_true", help="one seed, d = 5 and 40")
    args = parser.parse_args(argv)
    if args.quick:
        args.seeds, args.distances = 1, [5, 40]
    set_threads(args.threads)
    start = time.perf_counter()
    cells: dict[tuple[str, int], list[float]] = {}
    grads: dict[tuple[str, int], list[float]] = {}
    names = {
        "head": f"eq1 trained at d = {args.train_distance}: its own head",
        "probe": f"eq1 trained at d = {args.train_distance}: new read-out on frozen h_T",
        "long": "eq1 trained at the d of the column: its own head",
        "long_probe": "eq1 trained at the d of the column: new read-out on frozen h_T",
        "untrained": "untrained eq1: new read-out on h_T (control)",
    }
    for seed in range(args.seeds):
        short, untrained = eq1(seed, args.train_distance), eq1(seed, None)
        for d in args.distances:
            fit_data = recall(args.fit, distance=d, seed=50_000 + 100 * seed + d)
            test_data = recall(args.test, distance=d, seed=60_000 + 100 * seed + d)
            long = short if d == args.train_distance else eq1(seed, d)
            results = {
                "head": evaluate(short, test_data),
                "probe": probe_accuracy(short, fit_data, test_data),
                "long": evaluate(long, test_data),
                "long_probe": probe_accuracy(long, fit_data, test_data),
                "untrained": probe_accuracy(untrained, fit_data, test_data),
            }
            for key, value in results.items():
                cells.setdefault((key, d), []).append(value)
            for key, model in (("probe", short), ("long_probe", long), ("untrained", untrained)):
                grads.setdefault((key, d), []).append(key_dependence(model, test_data, args.grad))
            print(
                f"  seed {seed} d={d:<3} "
                + "  ".join(f"{key} {value:.2f}" for key, value in results.items())
                + f"   ({time.perf_counter() - start:.0f} s)",
                flush=True,
            )
    print()
    print("# What eq1's last state holds: a linear probe\n")
    print(machine() + "\n")
    print(
        f"Recall (8 keys, chance 0.125, key in the first 3 positions), d distractors "
        f"between key and '?'.  eq1: H = {HIDDEN}, D = {EMBED}, {STEPS} Adam steps of "
        f"{BATCH} (lr 0.01 cosine, clip 1).  Read-out: logistic regression on h_T fitted on "
        f"{args.fit} sequences at the column's d, scored on {args.test} others.  Cells: "
        f"mean (min–max) over {args.seeds} seed(s).\n"
    )
    rows = [[names[key], *(spread(cells[key, d]) for d in args.distances)] for key in names]
    print(table(["", *(f"d = {d}" for d in args.distances)], rows))
    print(
        f"\nHow much h_T depends on the key: ‖∂h_T/∂x_key‖ / ‖∂h_T/∂x_T‖, the median over "
        f"{args.grad} held-out sequences at the column's d.  Cells: median (min – max) over "
        f"{args.seeds} seed(s).\n"
    )
    models = {
        "probe": f"eq1 trained at d = {args.train_distance}",
        "long_probe": "eq1 trained at the d of the column",
        "untrained": "untrained eq1 (control)",
    }
    rows = [[models[k], *(spread_small(grads[k, d]) for d in args.distances)] for k in models]
    print(table(["", *(f"d = {d}" for d in args.distances)], rows))
    print(f"\n_{time.perf_counter() - start:.0f} s_")


if __name__ == "__main__":
    main()
