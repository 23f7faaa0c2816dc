"""Is attention *used*?  Held-out statistics with knockout as the causal control.

A picture where the answering step weights one state most says where the
model looks, not that it needs to look there.  Knockout says it: hide a state
from every step's attention (its α is exactly 0, the others renormalise)
and see whether the answer survives.  :func:`knockout_effect` measures, on
held-out data whose examples name their answer-bearing slot
(``TaskData.answer_slots``, see :mod:`attn_widget.tasks`):

- ``accuracy``: the model as it is;
- ``answer_hidden``: accuracy with the answer-bearing state hidden;
- ``other_hidden``: accuracy with one *other* state hidden, drawn uniformly
  from the slots the answering step could read (1 … t, not the answer's;
  slot 0 is h_0 = 0, the same in every sequence, and is never the one drawn):
  the control that says the first drop is about *that* state, not about
  taking any state away;
- ``argmax_on_answer``: the fraction of examples whose answering step puts
  its largest weight α_{t,i} on the answer-bearing slot (what a picture of
  one example would suggest, measured on all of them);
- ``alpha_on_answer``: the median of that weight.

A model that looks the answer up scores high, loses it when the answer's
state is hidden (down to about chance), and keeps it when another is.

Storing is not using, and not learning either.  :func:`probe_accuracy` asks
what a model's state holds, whatever its own head makes of it: it fits a new
linear read-out (:func:`fit_probe`) on the frozen states that answer
(:func:`answer_states`) and scores it on held-out examples.  An eq1 trained
at a short distance that fails at a long one with its own head, yet whose
states give the key to a new read-out, stores the key and has not learnt to
use it (``python -m benchmarks.probe``, notebook 03).

The shipped demo models are trained with :data:`DEMO_RECIPES` (by
:func:`train_demo_model`, which ``scripts/make_checkpoints.py`` calls), and
:func:`held_out` draws fresh data from the generator a shipped model records.
"""

from __future__ import annotations

import random
import statistics
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from .tasks import GENERATORS, TaskData, check_count
from .text import TextRNN
from .train import train

HELD_OUT_SEED = 1000  # make_checkpoints.py uses 1 (training) and 2 (its own measurement)
TRAIN_SEED = 1  # the data seed of the recipes' training sets

# How the shipped demo models are trained: the demo generator's settings
# (task_args), Adam with clipping (train_args), and either `steps` optimiser
# steps over steps × batch_size fresh sequences (one pass), or `epochs` over
# `train_size` sentences.  benchmarks/results/lesson.md has the measurements
# behind each choice.
DEMO_RECIPES = {
    # Associative recall: 400 steps learn it on every seed tried with eq4/dot.
    "lookup": {
        "task_args": {"n_pairs": 6, "n_keys": 8, "n_values": 8},
        "train_args": {"batch_size": 64, "lr": 1e-2, "clip": 1.0, "schedule": "cosine"},
        "steps": 400,
    },
    # Recall with the key anywhere in the first 21 positions, so the model learns
    # what the key is, not where it sits: it then finds it anywhere in the first 60
    # and at any distance measured.  With a displaced key the smaller learning rate
    # matters: at 0.01, 2 of 10 runs tried reached 0.9; at 0.003, 13 of 13.
    "recall": {
        "task_args": {"distance": 20, "max_prefix": 20, "n_keys": 8, "n_distractors": 8},
        "train_args": {"batch_size": 64, "lr": 3e-3, "clip": 1.0, "schedule": "cosine"},
        "steps": 600,
    },
    # The control task, trained as it always was (the shipped agreement models come
    # from an earlier core, see scripts/make_checkpoints.py).
    "agreement": {
        "task_args": {"max_attractors": 3},
        "train_args": {"batch_size": 64, "lr": 1e-2, "clip": 1.0},
        "epochs": 4,
        "train_size": 4000,
    },
}
EMBED_SIZE, HIDDEN_SIZE = 16, 32  # D and H of every shipped demo model
_ALIGN = {"eq4": "dot", "eq3": "additive", "eq1": "dot", "lstmn": "dot"}  # eq1/lstmn: unused


def recipe_data(task: str) -> TaskData:
    """The training data of ``task``'s recipe (:data:`DEMO_RECIPES`), seed ``TRAIN_SEED``."""
    recipe = DEMO_RECIPES[task]
    n = recipe.get("train_size") or recipe["steps"] * recipe["train_args"]["batch_size"]
    return GENERATORS[task](n, seed=TRAIN_SEED, **recipe["task_args"])


def train_demo_model(
    task: str, update: str = "eq4", *, seed: int = 0, data: TaskData | None = None
) -> TextRNN:
    """A TextRNN (D = 16, H = 32) trained from torch seed ``seed`` with ``task``'s recipe.

    ``update`` is eq4 (dot align), eq3 (additive align), eq1 or lstmn, as the
    shipped models are built.  ``data``: the training data, by default
    :func:`recipe_data`.  Returns the model in eval mode.  On one thread the
    same arguments give the same weights.
    """
    if task not in DEMO_RECIPES:
        raise ValueError(f"task must be one of {tuple(DEMO_RECIPES)}, got {task!r}")
    if update not in _ALIGN:
        raise ValueError(f"update must be one of {tuple(_ALIGN)}, got {update!r}")
    recipe = DEMO_RECIPES[task]
    data = recipe_data(task) if data is None else data
    torch.manual_seed(seed)
    model = TextRNN(
        data.vocab,
        EMBED_SIZE,
        HIDDEN_SIZE,
        update=update,
        align=_ALIGN[update],
        n_outputs=data.n_outputs,
    )
    train(
        model,
        data,
        epochs=recipe.get("epochs", 1),
        max_steps=recipe.get("steps"),
        seed=seed,
        progress=False,
        **recipe["train_args"],
    )
    return model.eval()


@dataclass(frozen=True)
class KnockoutEffect:
    """What :func:`knockout_effect` measured; accuracies are fractions of ``n`` examples.

    Attributes:
        accuracy: accuracy with nothing hidden.
        answer_hidden: accuracy with each example's answer-bearing slot hidden
            from every step's attention.
        other_hidden: accuracy with one other slot per example hidden instead
            (uniform over 1 … t without the answer's; the control).
        argmax_on_answer: fraction of examples whose answering step t weights
            the answer-bearing slot most (argmax_i α_{t,i}).
        alpha_on_answer: median over examples of α_{t, answer slot}.
        n: number of examples measured (those whose answering step reads the
            answer's state, :func:`measurable`).
        chance: the task's chance accuracy.
    """

    accuracy: float
    answer_hidden: float
    other_hidden: float
    argmax_on_answer: float
    alpha_on_answer: float
    n: int
    chance: float

    def __str__(self) -> str:
        return (
            f"accuracy {self.accuracy:.3f}; answer's state hidden {self.answer_hidden:.3f}, "
            f"another hidden {self.other_hidden:.3f}; largest weight on the answer's state "
            f"{self.argmax_on_answer:.3f} (median α {self.alpha_on_answer:.2f}); "
            f"n = {self.n}, chance {self.chance:.3f}"
        )


def held_out(
    model: nn.Module, n: int = 1000, *, seed: int = HELD_OUT_SEED, **overrides
) -> TaskData:
    """``n`` fresh examples from the generator and settings a shipped model was trained on.

    Reads ``model.metadata["task"]`` and ``["task_args"]`` (as
    ``scripts/make_checkpoints.py`` records them); ``overrides`` change
    settings, e.g. ``held_out(model, distance=60, max_prefix=60)`` for recall
    with the key displaced.  ``scripts/make_checkpoints.py`` trains on seed 1
    and measures on seed 2; the default seed is neither.
    """
    metadata = getattr(model, "metadata", None)
    if not isinstance(metadata, dict) or metadata.get("task") not in GENERATORS:
        raise ValueError(
            "model must carry the metadata of a shipped demo model (load it with "
            f"attn_widget.demo_model or load_checkpoint); tasks: {tuple(GENERATORS)}"
        )
    args = {**metadata.get("task_args", {}), **overrides}
    return GENERATORS[metadata["task"]](n, seed=seed, **args)


def other_slots(data: TaskData, seed: int = 0) -> Tensor:
    """One control slot per example: uniform over 1 … positions[n], not the answer's.

    Seeded by ``seed`` alone (a private generator), so two models measured on
    the same data with the same seed lose the same states.  Returns (N,) longs.
    """
    _check_slots(data)
    rng = random.Random(seed)
    out = []
    for t, slot in zip(data.positions.tolist(), data.answer_slots.tolist(), strict=True):
        i = rng.randint(1, t - 1) if t > 1 else 1  # t ≥ 2 has another slot than the answer's
        out.append(i + 1 if i >= slot else i)
    return torch.tensor(out, dtype=torch.long)


def _check_slots(data: TaskData) -> None:
    if not isinstance(data, TaskData):
        raise TypeError(
            f"data must be a TaskData (see attn_widget.tasks), got {type(data).__name__}"
        )
    if data.answer_slots is None or data.positions is None:
        raise ValueError(
            f"the task {data.name!r} names no answer-bearing slot per example "
            "(TaskData.answer_slots is None), so there is no state to hide"
        )
    slots, steps = data.answer_slots, data.positions
    if bool(((slots < 1) | (slots > steps) | (steps < 2)).any()):
        raise ValueError(
            "every answer slot must be a state the answering step reads, 1 … positions[n], "
            "with another one beside it (positions[n] ≥ 2); measurable(data) keeps those"
        )


def measurable(data: TaskData) -> TaskData:
    """The examples of ``data`` whose answer-bearing state the answering step reads.

    That is 1 ≤ answer_slots[n] ≤ positions[n] (and positions[n] ≥ 2, so there
    is another state to hide as the control).  An agreement sentence with no
    modifier fails it: the step that answers reads the subject itself, so no
    earlier state holds the answer.  Lookup and recall examples all pass.
    """
    if not isinstance(data, TaskData):
        raise TypeError(
            f"data must be a TaskData (see attn_widget.tasks), got {type(data).__name__}"
        )
    if data.answer_slots is None or data.positions is None:
        _check_slots(data)  # raises, saying why
    slots, steps = data.answer_slots, data.positions
    keep = (slots >= 1) & (slots <= steps) & (steps >= 2)
    if bool(keep.all()):
        return data
    if not bool(keep.any()):
        raise ValueError("no example's answering step reads its answer-bearing state")
    return data.subset(keep.nonzero().flatten().tolist())


def _check_model(model, data: TaskData) -> None:
    """A torch module whose head, if it has one, has one output per class of ``data``."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    out = getattr(model, "out", None)
    if isinstance(data, TaskData) and out is not None and out.out_features != data.n_outputs:
        raise ValueError(
            f"the model's output head has {out.out_features} outputs but the task "
            f"{data.name!r} needs {data.n_outputs}"
        )


@torch.no_grad()
def _answers(model: nn.Module, data: TaskData, hidden: Tensor | None, batch_size: int):
    """(correct (N,) bool, α at the answering step (N, T+1)) with ``hidden`` (N,) slots hidden."""
    device = next(model.parameters()).device
    correct, alphas = [], []
    for start in range(0, len(data), batch_size):
        rows = torch.arange(start, min(start + batch_size, len(data)))
        lengths = data.lengths[rows]
        T = int(lengths.max())
        ids = data.ids[rows, :T].to(device)
        if hidden is None:
            trace, logits = model(ids, lengths.to(device))
        else:
            knockout = torch.zeros(len(rows), T + 1, dtype=torch.bool, device=device)
            knockout[torch.arange(len(rows)), hidden[rows]] = True
            trace, logits = model(ids, lengths.to(device), knockout=knockout)
        at = torch.arange(len(rows), device=device)
        steps = data.positions[rows].to(device)
        answer = logits[at, steps].argmax(-1)
        correct.append((answer == data.targets[rows].to(device)).cpu())
        alpha = getattr(trace, "alpha", None)
        if alpha is not None:
            row = alpha[at, steps]  # (B, T+1)
            alphas.append(torch.nn.functional.pad(row, (0, data.ids.shape[1] - T)).cpu())
    return torch.cat(correct), (torch.cat(alphas) if alphas else None)


def knockout_effect(
    model: nn.Module, data: TaskData, *, seed: int = 0, batch_size: int = 256
) -> KnockoutEffect:
    """Accuracy with each example's answer-bearing state hidden from attention, against another.

    Args:
        model: a model with attention that takes ``model(ids, lengths,
            knockout=mask)`` (a :class:`~attn_widget.text.TextRNN` with eq3,
            eq4 or the LSTMN): ``mask`` (B, T+1) bool, True hiding state h_i
            from every step's attention.
        data: held-out :class:`~attn_widget.tasks.TaskData` with
            ``answer_slots`` (N,) and ``positions`` (N,), the answering steps.
            Only the examples whose answering step reads the answer's state
            are measured (:func:`measurable`; all of them for lookup and recall).
        seed: picks the control's slots (:func:`other_slots`).
        batch_size: examples per forward pass.

    Returns:
        A :class:`KnockoutEffect` over the ``n`` examples measured.  For
        example, the shipped lookup demo::

            >>> from attn_widget.demo import demo_model
            >>> from attn_widget.tasks import lookup
            >>> effect = knockout_effect(demo_model("lookup"), lookup(500, seed=5))
            >>> effect.accuracy > 0.95, effect.answer_hidden < 0.3, effect.other_hidden > 0.85
            (True, True, True)
    """
    _check_model(model, data)
    data = measurable(data)
    check_count("batch_size", batch_size)
    was_training = model.training
    model.eval()
    try:
        correct, alpha = _answers(model, data, None, batch_size)
        if alpha is None:
            raise ValueError("the model has no attention (eq1): there are no weights to knock out")
        hidden, _ = _answers(model, data, data.answer_slots, batch_size)
        other, _ = _answers(model, data, other_slots(data, seed), batch_size)
    finally:
        model.train(was_training)
    rows = torch.arange(len(data))
    on_answer = alpha[rows, data.answer_slots]
    return KnockoutEffect(
        accuracy=float(correct.float().mean()),
        answer_hidden=float(hidden.float().mean()),
        other_hidden=float(other.float().mean()),
        argmax_on_answer=float((alpha.argmax(-1) == data.answer_slots).float().mean()),
        alpha_on_answer=statistics.median(on_answer.tolist()),
        n=len(data),
        chance=data.chance,
    )


@torch.no_grad()
def answer_states(model: nn.Module, data: TaskData) -> Tensor:
    """The state each example answers from, h_{positions[n] + 1}: shape (N, H).

    ``model(ids, lengths)`` must return ``(trace, logits)`` with ``trace.h`` of
    shape (N, T+1, H), as a :class:`~attn_widget.text.TextRNN` does; the
    answering step t = ``positions[n]`` makes h_{t+1}, the state its head reads.
    """
    _check_model(model, data)
    if data.positions is None:
        raise ValueError(f"the task {data.name!r} has no answering step per example")
    was_training = model.training
    model.eval()
    try:
        trace, _ = model(data.ids, data.lengths)
    finally:
        model.train(was_training)
    return trace.h[torch.arange(len(data)), data.positions + 1]


def fit_probe(states: Tensor, targets: Tensor, n_classes: int) -> nn.Linear:
    """A linear read-out h -> class, fitted on (states (N, H), targets (N,)).

    Multinomial logistic regression: ``nn.Linear(H, n_classes)`` from zeros,
    L-BFGS on the mean cross-entropy plus 1e-3 ‖W‖².  Deterministic for given
    inputs; the states are detached, so nothing reaches the model's weights.
    """
    if not isinstance(states, Tensor) or states.dim() != 2 or not states.is_floating_point():
        raise TypeError("states must be a float tensor of shape (N, H)")
    if not isinstance(targets, Tensor) or targets.shape != states.shape[:1]:
        raise ValueError(f"targets must have shape ({states.shape[0]},), one class per state")
    check_count("n_classes", n_classes, 2)
    states = states.detach()
    probe = nn.Linear(states.shape[1], n_classes, dtype=states.dtype)
    nn.init.zeros_(probe.weight)
    nn.init.zeros_(probe.bias)
    optimizer = torch.optim.LBFGS(probe.parameters(), lr=1.0, max_iter=200, history_size=20)

    def closure():
        optimizer.zero_grad()
        loss = nn.functional.cross_entropy(probe(states), targets)
        loss = loss + 1e-3 * probe.weight.pow(2).sum()
        loss.backward()
        return loss

    with torch.enable_grad():
        optimizer.step(closure)
    return probe.requires_grad_(False)


def probe_accuracy(model: nn.Module, fit_data: TaskData, test_data: TaskData) -> float:
    """What the model's answering state holds: accuracy of a new linear read-out.

    Fits :func:`fit_probe` on :func:`answer_states` of ``fit_data`` and
    scores it on ``test_data`` (other examples of the same task).  The
    model is frozen: only the read-out is fitted.  Compare it with the
    model's own head (:func:`attn_widget.train.evaluate`) and with an
    untrained model's states, the control for what any random recurrence
    carries.
    """
    probe = fit_probe(answer_states(model, fit_data), fit_data.targets, fit_data.n_outputs)
    with torch.no_grad():
        guess = probe(answer_states(model, test_data)).argmax(-1)
    return float((guess == test_data.targets).float().mean())
