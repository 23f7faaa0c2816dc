"""A compact training loop for the tasks in :mod:`attn_widget.tasks`.

    for each epoch, for each shuffled batch (ids (B, T), lengths (B,)):
        logits = model(ids, lengths)[1]                     # (B, T, C)
        loss   = cross-entropy at the answer positions      # or every position (LM)
        Adam step after clipping ‖∇‖₂ to ``clip``

Any model with ``model(ids, lengths) -> (trace, logits (B, T, C))`` trains
here: a :class:`~attn_widget.text.TextRNN` with an output head, or a wrapper
around ``torch.nn.LSTM`` (see ``benchmarks/forgetting.py``).

Live view: pass an open :class:`~attn_widget.widget.AttentionWidget` as
``widget=`` and every ``every`` optimiser steps the loop pushes the model's
new attention for the widget's sentence (Python → front end only; the
front end's buttons wait until the cell finishes, docs/design.md §4).  Anything else
can watch through ``callback(model, step)``, called on the same schedule.
"""

from __future__ import annotations

import contextlib
import math
import numbers
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from .tasks import IGNORE, TaskData, check_count
from .text import Vocab

SCHEDULES = ("constant", "cosine")


@dataclass
class History:
    """What :func:`train` measured, one entry per epoch.

    Attributes:
        loss: mean training loss of each epoch (cross-entropy, nats).
        accuracy: training accuracy of each epoch (on the fly, while the
            weights moved).
        eval_accuracy: accuracy on ``eval_data`` after each epoch, if given.
        chance: the task's chance accuracy, drawn as a reference line.
        grad_norm: ‖∇‖₂ of every optimiser step, before clipping: a spike
            shows a step where the loss surface was suddenly steep.
        steps: optimiser steps taken in all.
        seconds: wall time of the whole run.
    """

    loss: list[float] = field(default_factory=list)
    accuracy: list[float] = field(default_factory=list)
    eval_accuracy: list[float] = field(default_factory=list)
    chance: float | None = None
    grad_norm: list[float] = field(default_factory=list)
    steps: int = 0
    seconds: float = 0.0

    def __repr__(self) -> str:
        last = lambda xs: f"{xs[-1]:.3f}" if xs else "-"  # noqa: E731
        return (
            f"History(epochs={len(self.loss)}, loss={last(self.loss)}, "
            f"accuracy={last(self.accuracy)}, eval_accuracy={last(self.eval_accuracy)}, "
            f"steps={self.steps}, seconds={self.seconds:.1f})"
        )

    def plot(self, ax=None):
        """Loss and accuracy against epoch, side by side; returns the matplotlib Figure.

        matplotlib is imported here, not at module import, so training needs
        no plotting library.
        """
        import matplotlib.pyplot as plt

        if ax is None:
            fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(9, 3.2))
        else:
            ax_loss, ax_acc = ax
            fig = ax_loss.figure
        epochs = range(1, len(self.loss) + 1)
        ax_loss.plot(epochs, self.loss, marker=".")
        ax_loss.set(xlabel="epoch", ylabel="training loss (nats)", title="loss")
        ax_acc.plot(epochs, self.accuracy, marker=".", label="train")
        if self.eval_accuracy:
            ax_acc.plot(epochs, self.eval_accuracy, marker=".", label="eval")
        if self.chance is not None:
            ax_acc.axhline(self.chance, color="grey", linestyle=":", label="chance")
        ax_acc.set(xlabel="epoch", ylabel="accuracy", title="accuracy", ylim=(0, 1.02))
        ax_acc.legend(loc="lower right")
        fig.tight_layout()
        return fig


def _answer_logits(logits: Tensor, targets: Tensor, positions: Tensor | None):
    """Pick what is scored: (logits (M, C), targets (M,)) for classification or LM."""
    if positions is None:  # language modelling: every non-padding position
        return logits.reshape(-1, logits.shape[-1]), targets.reshape(-1)
    rows = torch.arange(len(positions), device=logits.device)
    return logits[rows, positions], targets  # (B, C), (B,)


def _batch(data: TaskData, index: Tensor, device) -> tuple[Tensor, Tensor, Tensor, Tensor | None]:
    """ids (B, T_b), lengths, targets, positions for the examples at ``index``, trimmed."""
    lengths = data.lengths[index]
    T = int(lengths.max())
    ids = data.ids[index, :T].to(device)
    targets = data.targets[index]
    if targets.dim() == 2:
        targets = targets[:, :T]
    positions = None if data.positions is None else data.positions[index].to(device)
    return ids, lengths.to(device), targets.to(device), positions


def _count_correct(logits: Tensor, targets: Tensor) -> tuple[int, int]:
    keep = targets != IGNORE
    correct = (logits.argmax(-1) == targets) & keep
    return int(correct.sum()), int(keep.sum())


def _positive(value) -> bool:
    """A real number > 0 (NaN is not; neither is a bool)."""
    return not isinstance(value, bool) and isinstance(value, numbers.Real) and value > 0


def _check_device(device) -> torch.device:
    try:
        device = torch.device(device)
    except (TypeError, RuntimeError) as error:
        raise ValueError(
            f"device must be 'cpu', 'cuda' or a torch.device, got {device!r}"
        ) from error
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device} was asked for, but torch sees no CUDA device here")
    if device.type not in ("cpu", "cuda", "mps"):
        raise ValueError(f"device must be 'cpu', 'cuda' or 'mps', got {device}")
    return device


def _check_task(model: nn.Module, data) -> None:
    """``data`` must be a TaskData, and the model's head must have one output per class."""
    if not isinstance(data, TaskData):
        raise TypeError(
            f"data must be a TaskData (see attn_widget.tasks), got {type(data).__name__}"
        )
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    out = getattr(model, "out", None)
    if hasattr(model, "out") and out is None:
        raise ValueError(
            "the model has no output head (it was built with n_outputs=None), so it "
            f"cannot answer the task {data.name!r}: build it with n_outputs={data.n_outputs}"
        )
    if out is not None and out.out_features != data.n_outputs:
        raise ValueError(
            f"the model's output head has {out.out_features} outputs but the task "
            f"{data.name!r} needs {data.n_outputs}"
        )


def _integer_tensor(value, name: str, *, int64: bool = False) -> Tensor:
    """``value`` as an int64 (or, unless ``int64``, int32) tensor, or a clear error: what
    an embedding and an index take (uint8 and bool would index as masks), and, for
    targets, what cross-entropy reads as class ids."""
    if not isinstance(value, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(value).__name__}")
    if value.device.type == "meta":
        raise ValueError(f"{name} is on the meta device: it has a shape but no values")
    allowed = (torch.int64,) if int64 else (torch.int64, torch.int32)
    if value.dtype not in allowed:
        what = "int64" if int64 else "int64 (or int32)"
        raise TypeError(
            f"{name} must be an {what} tensor of {'class ids' if int64 else 'ids'}, got "
            f"{value.dtype}" + ("" if value.is_floating_point() else f"; use {name}.long()")
        )
    return value


def _first_outside(bad: Tensor, values: Tensor) -> str:
    """Where the first True of ``bad`` is, and the value there: "12 at [5]"."""
    index = tuple(bad.nonzero()[0].tolist())
    return f"{values[index].item()} at {list(index)}"


def _check_data(model: nn.Module, data: TaskData, name: str = "data") -> None:
    """Everything ``train`` and ``evaluate`` read from ``data``, checked before the
    first step, so bad data gets a TypeError/ValueError naming what was expected
    and what came instead of torch's IndexError or dtype error deep in a batch
    (possibly after some weights had already moved):

    - at least one example, and one answer that is not ``IGNORE``;
    - ``ids`` (N, T) and ``lengths`` (N,) integers, lengths in 1 … T, ids in
      0 … V−1 (V: the vocabulary, and the model's embedding rows if it has one);
    - classification: ``targets`` (N,) and ``positions`` (N,), every answer
      read inside its own sequence, 0 ≤ position < length;
    - language modelling (``positions`` None): ``targets`` (N, T) like ``ids``;
    - ``targets`` int64 class ids in 0 … C−1 (C = ``data.n_outputs``, which
      :func:`_check_task` matched to the model's head) or ``IGNORE``;
    - and the model's weights hold values (not on the meta device).
    """
    meta = [n for n, p in model.named_parameters() if p.device.type == "meta"]
    if meta:
        raise ValueError(
            f"the model's weights {meta[:3]} are on the meta device: they have shapes but no "
            "values; give them values first (model.to_empty(device='cpu'), then load_state_dict)"
        )
    if not isinstance(data.vocab, Vocab):
        raise TypeError(f"{name}.vocab must be a Vocab, got {type(data.vocab).__name__}")
    N = len(data)
    if N == 0:
        raise ValueError(f"{name} has no examples (len({name}) = 0)")
    ids = _integer_tensor(data.ids, f"{name}.ids")
    lengths = _integer_tensor(data.lengths, f"{name}.lengths")
    targets = _integer_tensor(data.targets, f"{name}.targets", int64=True)
    positions = data.positions
    if positions is not None:
        positions = _integer_tensor(positions, f"{name}.positions")
    if ids.dim() != 2 or ids.shape[0] != N or ids.shape[1] == 0:
        raise ValueError(
            f"{name}.ids must have shape (N, T) with N = {N} examples (len({name}.tokens)) and "
            f"T ≥ 1, got {tuple(ids.shape)}"
        )
    T = ids.shape[1]
    if tuple(lengths.shape) != (N,):
        raise ValueError(
            f"{name}.lengths must have shape (N,) = ({N},), got {tuple(lengths.shape)}"
        )
    bad = (lengths < 1) | (lengths > T)
    if bad.any():
        raise ValueError(
            f"{name}.lengths must be in 1 … T = {T}, got {_first_outside(bad, lengths)}"
        )
    n_ids, known = len(data.vocab), f"{name}.vocab"
    embed = getattr(model, "embed", None)
    if isinstance(embed, nn.Embedding) and embed.num_embeddings < n_ids:
        n_ids, known = embed.num_embeddings, "the model's embedding"
    bad = (ids < 0) | (ids >= n_ids)
    if bad.any():
        raise ValueError(
            f"{name}.ids must be token ids in 0 … {n_ids - 1} ({known}), "
            f"got {_first_outside(bad, ids)}"
        )
    if positions is None:
        if targets.shape != ids.shape:
            raise ValueError(
                f"{name}.targets must have the shape of {name}.ids, (N, T) = {tuple(ids.shape)}, "
                f"for a language model ({name}.positions is None: every position is scored), "
                f"got {tuple(targets.shape)}"
            )
    else:
        for field, value in (("targets", targets), ("positions", positions)):
            if tuple(value.shape) != (N,):
                raise ValueError(
                    f"{name}.{field} must have shape (N,) = ({N},), one answer per example, "
                    f"got {tuple(value.shape)}"
                )
        bad = (positions < 0) | (positions >= lengths)
        if bad.any():
            n = int(bad.nonzero()[0])
            raise ValueError(
                f"{name}.positions[{n}] = {int(positions[n])} is outside its sequence of length "
                f"{int(lengths[n])}: an answer is read at a position in 0 … length − 1"
            )
    C = data.n_outputs
    bad = ((targets < 0) | (targets >= C)) & (targets != IGNORE)
    if bad.any():
        raise ValueError(
            f"{name}.targets must be class ids in 0 … {C - 1} ({name}.n_outputs = {C}) or "
            f"IGNORE = {IGNORE}, got {_first_outside(bad, targets)}"
        )
    if bool((targets == IGNORE).all()):
        raise ValueError(f"every one of {name}.targets is IGNORE: there is no answer to score")


@torch.no_grad()
def evaluate(model: nn.Module, data: TaskData, *, batch_size: int = 256, device=None) -> float:
    """Accuracy of ``model`` on ``data``: the fraction of answers (or next tokens) it gets right."""
    _check_task(model, data)
    _check_data(model, data)
    check_count("batch_size", batch_size)
    device = _check_device(device) if device is not None else next(model.parameters()).device
    was_training = model.training
    model.eval()
    correct = total = 0
    try:
        for start in range(0, len(data), batch_size):
            index = torch.arange(start, min(start + batch_size, len(data)))
            ids, lengths, targets, positions = _batch(data, index, device)
            logits = model(ids, lengths)[1]
            c, n = _count_correct(*_answer_logits(logits, targets, positions))
            correct, total = correct + c, total + n
    finally:
        model.train(was_training)
    return correct / max(total, 1)


def _widget_pusher(widget, model: nn.Module) -> Callable[[], None]:
    """How to push ``model``'s fresh attention to ``widget``, checked once before training.

    The widget needs ``push_trace()`` (or ``refresh()``).  When it shows the
    model's own recurrent part (``widget.model is model.rnn``, a TextRNN), the
    widget's tokens are embedded again first, since training moves the
    embedding too.
    """
    push = getattr(widget, "push_trace", None) or getattr(widget, "refresh", None)
    if not callable(push):
        raise TypeError(
            "widget must have a push_trace() or refresh() method (an AttentionWidget), "
            f"got {type(widget).__name__}"
        )
    shown = getattr(widget, "model", None)
    rnn = getattr(model, "rnn", None)
    if shown is not None and shown is not rnn and shown is not model:
        raise ValueError("the widget shows a different model from the one being trained")
    re_embed = shown is not None and shown is rnn and hasattr(model, "embed_text")

    def push() -> None:
        with torch.no_grad():
            # An AttentionWidget re-embeds by itself the inputs that are its text
            # model's embedding of words (docs/design.md §2), and leaves alone the
            # ones that are not (a zeroed input, a vector put in by edit); any
            # other widget is given its tokens embedded anew.
            if re_embed and not hasattr(widget, "session"):
                _, x = model.embed_text(list(widget.tokens))
                widget.stepper.set_inputs(x.detach())
            (widget.push_trace if hasattr(widget, "push_trace") else widget.refresh)()

    return push


# The models a train() loop is stepping now, by id, with the thread running it: two
# loops updating one model's weights in place at once corrupted PyTorch's heap (a
# segfault in 1 run of 10), so a second is refused.
_TRAINING: dict[int, tuple[nn.Module, str]] = {}
_TRAINING_LOCK = threading.Lock()


@contextlib.contextmanager
def _training_alone(model: nn.Module) -> Iterator[None]:
    """Hold ``model`` for one train() loop: a loop started on it meanwhile, from any
    thread (or from this loop's own callback), is refused by name.  A model that
    shares a parameter with one being trained counts as that model."""
    params = {id(p) for p in model.parameters()}
    with _TRAINING_LOCK:
        for other, thread in _TRAINING.values():
            if other is model or params & {id(p) for p in other.parameters()}:
                shares = (
                    "" if other is model else f", which shares weights with {type(other).__name__}"
                )
                raise ValueError(
                    f"this {type(model).__name__}{shares} is already being trained by train() "
                    f"on thread {thread!r}; two loops updating the same weights at once corrupt "
                    "them: wait for that one to end (or train a copy: copy.deepcopy(model))"
                )
        _TRAINING[id(model)] = (model, threading.current_thread().name)
    try:
        yield
    finally:
        with _TRAINING_LOCK:
            del _TRAINING[id(model)]


def train(
    model: nn.Module,
    data: TaskData,
    *,
    epochs: int = 10,
    batch_size: int = 64,
    lr: float = 1e-2,
    schedule: str = "constant",
    clip: float = 1.0,
    seed: int = 0,
    device: str | torch.device = "cpu",
    eval_data: TaskData | None = None,
    max_steps: int | None = None,
    progress: bool = True,
    widget=None,
    every: int = 10,
    callback: Callable[[nn.Module, int], None] | None = None,
) -> History:
    """Train ``model`` on ``data`` with Adam and gradient clipping; return a :class:`History`.

    The loss is the cross-entropy of the answer: ``logits[n, positions[n]]``
    against ``targets[n]`` for classification, every position against
    ``targets`` (N, T) for language modelling (``IGNORE`` skipped).

    Args:
        model: ``model(ids (B, T), lengths (B,)) -> (trace, logits (B, T, C))``
            with C = ``data.n_outputs``; moved to ``device``.
        data: a :class:`~attn_widget.tasks.TaskData`.
        epochs: passes over ``data``.
        batch_size: examples per optimiser step.
        lr: Adam's learning rate (its peak, with a schedule).
        schedule: how the learning rate moves over the run's optimiser steps
            s = 0 … S−1. ``"constant"``: lr throughout. ``"cosine"``:
            lr · ½(1 + cos(π s / S)), from lr down to near 0 at the end, so a
            run that has learnt a task settles instead of drifting away from
            it late in training (benchmarks/results/forgetting_recipes.md).
        clip: the largest gradient norm ‖∇‖₂; larger gradients are scaled down.
        seed: seeds the batch order (a private generator; global RNGs untouched).
        device: ``"cpu"``, ``"cuda"`` or a ``torch.device``.
        eval_data: measured with :func:`evaluate` after every epoch.
        max_steps: stop after this many optimiser steps in all.
        progress: show a ``tqdm.auto`` bar (needs tqdm); False for none.
        widget: an open ``AttentionWidget`` on this model (or its ``.rnn``);
            every ``every`` steps and at the end it is sent the new attention.
        every: push to the widget and call ``callback`` every this many steps.
        callback: ``callback(model, step)``, called every ``every`` steps and
            at the end, for any other live view.

    Returns:
        A :class:`History` with loss and accuracy per epoch.
    """
    _check_task(model, data)
    _check_data(model, data)
    if schedule not in SCHEDULES:
        raise ValueError(f"schedule must be one of {SCHEDULES}, got {schedule!r}")
    epochs, batch_size, every = (
        check_count(name, value)
        for name, value in (("epochs", epochs), ("batch_size", batch_size), ("every", every))
    )
    if max_steps is not None:
        max_steps = check_count("max_steps", max_steps)
    if not _positive(lr) or math.isinf(lr):
        raise ValueError(f"lr must be a positive finite number, got {lr!r}")
    if not _positive(clip):  # clip ≤ 0 trains backwards or not at all; inf: no clipping
        raise ValueError(f"clip must be a positive number, got {clip!r}")
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or not 0 <= seed < 2**63:
        raise ValueError(f"seed must be an int in 0 … 2**63 - 1, got {seed!r}")
    if eval_data is not None:
        _check_task(model, eval_data)
        _check_data(model, eval_data, "eval_data")
    if callback is not None and not callable(callback):
        raise TypeError(f"callback must be callable as callback(model, step), got {callback!r}")
    device = _check_device(device)
    with _training_alone(model):  # refused if a loop elsewhere trains it now
        model.to(device)
        push = _widget_pusher(widget, model) if widget is not None else None

        def notify(step: int) -> None:
            if push is not None:
                push()
            if callback is not None:
                callback(model, step)

        generator = torch.Generator().manual_seed(int(seed))
        optimizer = torch.optim.Adam(model.parameters(), lr=lr)
        history = History(chance=data.chance)
        n_batches = -(-len(data) // batch_size)
        total = epochs * n_batches if max_steps is None else min(max_steps, epochs * n_batches)
        if schedule == "cosine":
            cosine = lambda s: 0.5 * (1 + math.cos(math.pi * s / max(total, 1)))  # noqa: E731
            scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, cosine)
        else:
            scheduler = None
        bar = None
        if progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=total, desc=f"train {data.name}", leave=False)
        start, step = time.perf_counter(), 0
        model.train()
        try:
            for _ in range(epochs):
                order = torch.randperm(len(data), generator=generator)
                loss_sum = correct = count = 0
                for b in range(n_batches):
                    if max_steps is not None and step >= max_steps:
                        break
                    ids, lengths, targets, positions = _batch(
                        data, order[b * batch_size : (b + 1) * batch_size], device
                    )
                    logits = model(ids, lengths)[1]  # (B, T, C)
                    scored, wanted = _answer_logits(logits, targets, positions)
                    loss = F.cross_entropy(scored, wanted, ignore_index=IGNORE)
                    optimizer.zero_grad(set_to_none=True)
                    loss.backward()
                    norm = nn.utils.clip_grad_norm_(model.parameters(), clip)
                    history.grad_norm.append(float(norm))
                    optimizer.step()
                    if scheduler is not None:
                        scheduler.step()
                    step += 1
                    c, n = _count_correct(scored.detach(), wanted)
                    loss_sum, correct, count = loss_sum + loss.item() * n, correct + c, count + n
                    if bar is not None:
                        bar.update(1)
                        bar.set_postfix(
                            loss=f"{loss.item():.3f}", acc=f"{correct / max(count, 1):.2f}"
                        )
                    if step % every == 0:
                        notify(step)
                if count == 0:
                    break
                history.loss.append(loss_sum / count)
                history.accuracy.append(correct / count)
                if eval_data is not None:
                    history.eval_accuracy.append(evaluate(model, eval_data, device=device))
        finally:
            if bar is not None:
                bar.close()
        history.steps = step
        history.seconds = time.perf_counter() - start
        if step % every != 0:
            notify(step)
        return history
