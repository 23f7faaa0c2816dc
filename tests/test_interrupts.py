"""Every change of a widget's state is all or nothing under BaseException
(docs/design.md §2, "Interrupts"): a KeyboardInterrupt (Ctrl-C in a notebook,
say during ``train(widget=w)``) may land on any line the widget, its session,
the wire or the stepper runs, and afterwards

- the position is the stepper's (``t == stepper.k``), with its steps computed
  (``k ≤ frontier``), and the trait ``frontier`` is the number of steps held;
- the traits (version, T, tokens, edits, unknown, knockout) are the session's;
- the steps held are what the model computes now from the inputs shown (no old
  weights or old inputs mixed in), and the inputs are the embedding of the words
  shown where the session says they are;
- torch's grad mode is as it was (on);
- ``w.current`` works, and a later move works: the front end then holds every
  step of the version it is told of, with the model's numbers.

The interrupt is raised by a trace function at the n-th line run in those
modules, for n spread over the length of the change (every n with
``ATTN_WIDGET_EVERY_LINE=1``), so no stage is left out.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import attn_widget
import attn_widget.widget as widget_module
from attn_widget.core import SelfAttentionRNN, Stepper
from attn_widget.protocol import decode_steps
from attn_widget.text import TextRNN
from attn_widget.widget import AttentionWidget

PACKAGE = Path(attn_widget.__file__).parent
# Where an interrupt may land: the code that changes a widget's state.  The model's
# own arithmetic (core/rnn.py, align.py, …) is left out: an interrupt there is a step
# that failed, which a step raising covers (test_widget.py), and it would multiply the
# count of lines by the size of the model.
WATCHED = tuple(
    str(PACKAGE / name)
    for name in (
        "widget.py",
        "widget_traits.py",
        "kernel.py",
        "protocol.py",
        "session",
        "wire",
        "core/stepper.py",
    )
)
# How many lines of each change are interrupted: a spread of them by default (the
# suite's time), every one with ATTN_WIDGET_EVERY_LINE=1.
SAMPLES = 1 if os.environ.get("ATTN_WIDGET_EVERY_LINE") else 40
VOCAB = ["<pad>", "<unk>", "the", "key", "to", "cabinets", "is", "are", "on", "table"]
TEXT = "the key to the cabinets is on the table"


@pytest.fixture(autouse=True)
def _stub_bundle(monkeypatch):
    monkeypatch.setattr(widget_module, "_bundle", lambda: ("export default {};", ""))
    yield
    torch.set_grad_enabled(True)  # whatever a failure left, the next test file gets grad


class Interrupt:
    """A trace function that raises KeyboardInterrupt at the n-th line run in the
    watched modules (``n = 0``: never; it then counts the lines)."""

    def __init__(self, n: int):
        self.n, self.lines = n, 0

    def __call__(self, frame, event, _arg):
        if event == "call":
            return self if frame.f_code.co_filename.startswith(WATCHED) else None
        if event == "line":
            self.lines += 1
            if self.lines == self.n:
                raise KeyboardInterrupt  # Python then stops tracing, as after a real one
        return self


class FrontEnd:
    """What the browser's store holds, from what the kernel sent: a newer ``version``
    trait drops every step; a steps message of an older version is dropped, of a
    newer one replaces everything (js/src/store.ts)."""

    def __init__(self, w: AttentionWidget):
        self.version, self.steps = w.version, {}
        w.observe(lambda change: self.told(change["new"]), "version")
        w.send = self.receive

    def told(self, version: int) -> None:
        if version > self.version:
            self.version, self.steps = version, {}

    def receive(self, content, buffers=None) -> None:
        if content.get("type") != "steps" or content["version"] < self.version:
            return
        self.told(content["version"])
        for step in decode_steps(content["steps"], list(buffers or [])):
            self.steps[step["t"]] = step


def text_widget(**kwargs) -> AttentionWidget:
    torch.manual_seed(0)
    config = {"vocab": VOCAB, "embed_size": 3, "hidden_size": 4, "n_outputs": 2,
              "update": "eq4", "align": "dot", "attn_size": None, "tokenizer": "word"}  # fmt: skip
    model = TextRNN.from_config(config).double()
    return AttentionWidget.from_text(model, TEXT, **kwargs)


def vector_widget(**kwargs) -> AttentionWidget:
    torch.manual_seed(0)
    model = SelfAttentionRNN(3, 4, update="eq4", align="additive").double()
    return AttentionWidget(model, inputs=torch.randn(8, 3, dtype=torch.float64), **kwargs)


def nudge(module) -> None:
    """A training update: every weight changes in place."""
    with torch.no_grad():
        for p in module.parameters():
            p.mul_(1.01)


def check(w: AttentionWidget, front: FrontEnd) -> None:
    """The invariants of the module docstring, at the position the widget stands."""
    s = w.session
    # an interrupt as a `with torch.no_grad()` block ends skips its exit: grad mode
    # must still come back, or a later train() fails far from here
    assert torch.is_grad_enabled()
    assert w.t == s.position == s.stepper.k
    assert 0 <= s.position <= s.frontier <= s.T == len(s.tokens)
    assert w.frontier == s.frontier == len(s.steps)
    described = s.describe()
    for name in ("version", "T", "tokens", "edits", "unknown", "knockout"):
        assert getattr(w, name) == described[name], name
    current = w.current
    assert (current is None) == (w.t == 0)
    assert current is None or current.t == w.t - 1
    if s.words is not None and not s.words.stale():
        words = [None if v is None else v for v in s.words.words]
        assert len(words) == s.T
        for i, word in enumerate(words):
            want = (
                torch.zeros(s.inputs.shape[1], dtype=s.inputs.dtype)
                if word is None
                else s.text_model.embed_text([word])[1][0].detach()
            )
            torch.testing.assert_close(s.inputs[i], want.to(s.inputs), rtol=0, atol=1e-12)
    if not s.stale():
        fresh = Stepper(s.model, s.inputs, knockout=s.stepper.knockout)
        fresh.compute(s.frontier)
        for held, again in zip(s.steps, fresh.steps, strict=True):
            # the same computation run twice, but on a cache built at another capacity
            torch.testing.assert_close(held.h, again.h, rtol=0, atol=1e-12)
    assert front.version <= s.version
    if front.version == s.version:
        for t, step in front.steps.items():
            np.testing.assert_allclose(step["h"], s.steps[t].h.numpy(), rtol=1e-6, atol=1e-7)


def later_moves_work(w: AttentionWidget, front: FrontEnd) -> None:
    w.goto(w.T)
    check(w, front)
    assert front.version == w.version and sorted(front.steps) == list(range(w.T))
    hidden = torch.zeros(w.T + 1, dtype=torch.bool)
    hidden[list(w.knockout)] = True
    with torch.no_grad():
        trace = w.model(w.inputs, knockout=hidden)
    for t, step in front.steps.items():  # float32 on the wire, float64 batched
        np.testing.assert_allclose(step["h"], trace.h[t + 1].numpy(), rtol=1e-6, atol=1e-7)
    w.goto(1)
    check(w, front)


def _edit(w):
    w.edit(3, "new", torch.ones(3, dtype=torch.float64))


def _append(w):
    w.edit(w.T + 1, "end", torch.ones(3, dtype=torch.float64), move=True)


def _undo(w):
    w.edit(2, "new", torch.ones(3, dtype=torch.float64))
    return lambda: w.undo()


def _push_after_training(w):
    nudge(w.model)
    return lambda: w.push_trace()


def _refresh_after_training(w):
    nudge(w.model)
    return lambda: w.refresh()


def _goto_after_training(w):
    nudge(w.model)
    return lambda: w.goto(w.T)


def _text_after_training(w):
    nudge(w.session.text_model)  # the embedding, the rnn and the head
    return lambda: w.push_trace()


def _front_end_edit(w):
    def send():  # the version when it is sent
        edit = {"type": "edit", "version": w.version, "i": 2, "token": "are"}
        w._answers.answer(edit, [])  # noqa: SLF001

    return send


def _front_end_text(w):
    return lambda: w._answers.answer({"type": "text", "text": "the cabinets are on the key"}, [])  # noqa: SLF001


def _knockout_again(w):
    w.knockout = [3]
    return lambda: setattr(w, "knockout", [1, 5])


def _front_end_knockout(w):
    message = {"type": "knockout", "version": w.version, "slots": [2]}
    return lambda: w._answers.answer(message, [])  # noqa: SLF001


def _front_end_move(w):
    return lambda: w.set_state({"t": w.T})


# (name, how to build the widget, what to do before, the change interrupted); a
# `before` that returns a callable has done its part and the callable is the change.
CHANGES = {
    "goto past the frontier": (vector_widget, lambda w: lambda: w.goto(w.T)),
    "push_trace after training": (vector_widget, _push_after_training),
    "refresh after training": (vector_widget, _refresh_after_training),
    "a move after training": (vector_widget, _goto_after_training),
    "edit": (vector_widget, lambda w: lambda: _edit(w)),
    "append": (vector_widget, lambda w: lambda: _append(w)),
    "undo": (vector_widget, _undo),
    "set_inputs": (
        vector_widget,
        lambda w: lambda: w.set_inputs(None, torch.randn(5, 3, dtype=torch.float64)),
    ),
    "precomputed edit": (lambda: vector_widget(precompute=True), lambda w: lambda: _edit(w)),
    "text push_trace after training": (text_widget, _text_after_training),
    "replace": (text_widget, lambda w: lambda: w.replace(4, "are")),
    "zero_input": (text_widget, lambda w: lambda: w.zero_input(2)),
    "read_text": (text_widget, lambda w: lambda: w.read_text("the table is on the key")),
    "front-end edit": (text_widget, _front_end_edit),
    "front-end text": (text_widget, _front_end_text),
    "front-end move": (vector_widget, _front_end_move),
    "knockout": (vector_widget, lambda w: lambda: setattr(w, "knockout", [2])),
    "knockout changed": (vector_widget, _knockout_again),
    "session knockout": (vector_widget, lambda w: lambda: w.session.set_knockout([0, 3])),
    "front-end knockout": (vector_widget, _front_end_knockout),
    "edit under a knockout": (lambda: vector_widget(knockout=[2]), lambda w: lambda: _edit(w)),
}


def run_interrupted(make, prepare, n: int) -> tuple[AttentionWidget, FrontEnd, Interrupt, bool]:
    w = make()
    front = FrontEnd(w)
    w.goto(4)
    change = prepare(w)
    tracer = Interrupt(n)
    interrupted = False
    sys.settrace(tracer)
    try:
        change()
    except KeyboardInterrupt:
        interrupted = True
    finally:
        sys.settrace(None)
    return w, front, tracer, interrupted


@pytest.mark.parametrize("name", list(CHANGES))
def test_an_interrupt_on_any_line_of_a_change_leaves_the_widget_consistent(name):
    make, prepare = CHANGES[name]
    _, _, counted, interrupted = run_interrupted(make, prepare, 0)
    assert not interrupted and counted.lines > 20  # the count of lines this change runs
    stride = 1 if SAMPLES == 1 else max(1, counted.lines // SAMPLES)
    for n in range(1, counted.lines + 1, stride):
        w, front, _, interrupted = run_interrupted(make, prepare, n)
        try:
            check(w, front)
            later_moves_work(w, front)
        except Exception as error:
            raise AssertionError(f"{name}: interrupted at line {n} of {counted.lines}") from error
