"""Why an eq4 run fails to recall: what attention does during training, step by step.

Trains eq4 on recall (as ``benchmarks/forgetting.py`` does) and, every
``--every`` optimiser steps, measures on 200 fixed probe sequences, at the
step that reads ``?`` (the step whose new state must name the key):

- ``α(h_0)``: mean weight on the ⟨start⟩ slot h_0 = 0 ("attend to nothing");
- ``α(key)``: mean weight on h_key, the state made right after the key;
- ``H(α)``: mean entropy of those weights (log(t+1) when uniform, 0 one-hot);
- ``‖align‖``: norm of the align function's parameters ([W_K; W_Q], or W and v);
- ``max ‖∇‖``: the largest gradient norm (before clipping) since the last row;

then held-out accuracy at the end.  Run::

    python benchmarks/forgetting_dynamics.py --align dot --seeds 0 6
    python benchmarks/forgetting_dynamics.py --align additive --schedule cosine --seeds 0 6

The README's forgetting section quotes what these tables show.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

from attn_widget.tasks import recall
from attn_widget.text import TextRNN
from attn_widget.train import evaluate, train


def probe_stats(model: TextRNN, probe, key_index: torch.Tensor) -> tuple[float, ...]:
    """α(h_0), α(key), H(α) at the answer step, averaged over the probe set; ‖align‖."""
    with torch.no_grad():
        trace, _ = model(probe.ids, probe.lengths)
        rows = torch.arange(len(probe))
        alpha = trace.alpha[rows, probe.positions]  # (N, T+1): the step that reads '?'
        entropy = -(alpha * alpha.clamp_min(1e-12).log()).sum(-1)
        norm = torch.cat([p.flatten() for p in model.rnn.align.parameters()]).norm()
    return (
        alpha[:, 0].mean().item(),
        alpha[rows, key_index].mean().item(),
        entropy.mean().item(),
        norm.item(),
    )


def run(seed: int, args) -> str:
    data = recall(args.steps * args.batch, distance=args.distance, seed=seed)
    test = recall(500, distance=args.distance, seed=999)
    probe = recall(200, distance=args.distance, seed=5)
    key_index = torch.as_tensor(probe.info["key_pos"]) + 1  # h_{key} follows x_{key}
    torch.manual_seed(seed)
    model = TextRNN(data.vocab, 16, 32, update="eq4", align=args.align, n_outputs=data.n_outputs)
    rows = []

    def record(m, step):
        rows.append((step, *probe_stats(m, probe, key_index)))

    record(model, 0)
    history = train(
        model,
        data,
        epochs=1,
        batch_size=args.batch,
        lr=args.lr,
        schedule=args.schedule,
        seed=seed,
        progress=False,
        every=args.every,
        callback=record,
    )
    lines = [
        f"### eq4 / {args.align}, seed {seed}: held-out accuracy {evaluate(model, test):.2f}\n",
        "| step | α(h_0) | α(key) | H(α) | ‖align‖ | max ‖∇‖ |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    previous = 0
    for step, a0, akey, ent, norm in rows:
        window = history.grad_norm[previous:step]
        grad = f"{max(window):.2f}" if window else "-"
        lines.append(f"| {step} | {a0:.2f} | {akey:.2f} | {ent:.2f} | {norm:.1f} | {grad} |")
        previous = step
    return "\n".join(lines)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--align", default="dot", choices=["dot", "scaled_dot", "additive"])
    parser.add_argument("--schedule", default="constant", choices=["constant", "cosine"])
    parser.add_argument("--distance", type=int, default=40)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 6])
    parser.add_argument("--steps", type=int, default=250)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--lr", type=float, default=1e-2)
    parser.add_argument("--every", type=int, default=25)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    print(
        f"## Recall at distance {args.distance}: eq4 / {args.align}, {args.steps} Adam steps of "
        f"batch {args.batch}, lr {args.lr} ({args.schedule}), clip 1.0, H = 32, D = 16\n"
    )
    for seed in args.seeds:
        print(run(seed, args), end="\n\n", flush=True)


if __name__ == "__main__":
    main()
