"""The widget's side of issue 25: bounds that hold on every path, threads, and
the small refusals (docs/design.md §2 and README "Errors and limits").

- A precomputed widget computes and sends what the saved state can hold, not
  T² numbers (T = 3000: every step, 37 MB, used to go out after a sync).
- ``read_text`` of a long text answers: past ``MAX_TEXT_CHARS_READ`` characters
  or ``MAX_INPUTS`` tokens it is refused at once; below it a precomputed widget
  computes what fits, not every step.
- The gradient shading asked past the core's bounds is refused by name.
- ``w.goto()`` on the main thread while ``train(widget=w)`` runs on another:
  no IndexError, no WeightsChangedError, steps in order, with the numbers of the
  weights they were computed with.
- An output head with NaN or Inf says so; ``speed = True`` and an ``edit``
  message without its ``token`` are refused.
"""

from __future__ import annotations

import itertools
import json
import math
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
import torch

import attn_widget.widget as widget_module
from attn_widget.core import SelfAttentionRNN
from attn_widget.protocol import STEP_DATA_LIMIT, step_bytes
from attn_widget.session import MAX_INPUTS, MAX_TEXT_CHARS_READ
from attn_widget.tasks import recall
from attn_widget.text import TextRNN
from attn_widget.train import train
from attn_widget.widget import AttentionWidget


@pytest.fixture(autouse=True)
def _stub_bundle(monkeypatch):
    monkeypatch.setattr(widget_module, "_bundle", lambda: ("export default {};", ""))


class Recorder:
    def __init__(self):
        self.sent: list[tuple[dict, list]] = []

    def __call__(self, content, buffers=None):
        self.sent.append((content, list(buffers or [])))

    def bytes_of_steps(self) -> list[int]:
        return [sum(len(b) for b in bufs) for c, bufs in self.sent if c["type"] == "steps"]

    def errors(self) -> list[str]:
        return [c["message"] for c, _ in self.sent if c["type"] == "error"]


# -- bounds on every path ----------------------------------------------------------


def test_a_precomputed_long_widget_computes_and_sends_what_the_saved_state_holds():
    torch.manual_seed(0)
    T = 3000
    model = SelfAttentionRNN(4, 64)
    start = time.perf_counter()
    w = AttentionWidget(model, inputs=torch.randn(T, 4), precompute=True)
    built = time.perf_counter() - start
    steps = w.stepper.steps
    held = sum(step_bytes(s) for s in steps)
    # The steps from step 0 that fit in the bound, and the one that did not fit: the
    # rest (here 38 MB more, T² of α) wait for a move, as without precompute.
    assert 0 < w.frontier < T and held - step_bytes(steps[-1]) <= STEP_DATA_LIMIT < held
    assert len(w._snapshot) <= STEP_DATA_LIMIT + 200_000  # its JSON header  # noqa: SLF001
    assert built < 30  # computing every step took minutes' worth of work at T = 7000
    rec = Recorder()
    w.send = rec
    # The page displays it: a controller and a view each ask for what they lack.
    for _ in range(2):
        w._answers.answer({"type": "sync", "version": w.version, "have": 0}, [])  # noqa: SLF001
    assert max(rec.bytes_of_steps()) <= STEP_DATA_LIMIT
    assert sum(rec.bytes_of_steps()) <= 2 * STEP_DATA_LIMIT
    w.goto(T)  # asked for: every step, in messages within the bound
    assert w.frontier == T and max(rec.bytes_of_steps()) <= STEP_DATA_LIMIT
    with torch.no_grad():  # stepped against batched, float32: the sizes' tolerance
        torch.testing.assert_close(w.trace().h, model(w.inputs).h, rtol=1e-5, atol=1e-5)


_READ_LONG_TEXT = """
import json, time
import attn_widget.widget as widget_module
widget_module._bundle = lambda: ("export default {};", "")
from attn_widget import demo
w = demo()  # precompute on
words = ("the key to the cabinets is on the table . " * 10_000).split()
out = {}
for n in (100_000, 5_000):
    start = time.perf_counter()
    try:
        w.read_text(" ".join(words[:n]))
        out[n] = ["read", w.T, w.frontier, len(w._snapshot)]
    except ValueError as error:
        out[n] = ["refused", str(error)]
    out[n].append(time.perf_counter() - start)
print(json.dumps(out))
"""


def test_read_text_of_a_long_text_answers_on_a_precomputed_demo():
    """100,000 words never answered: every step was computed, O(T²)."""
    result = subprocess.run(
        [sys.executable, "-c", _READ_LONG_TEXT], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout.strip().splitlines()[-1])
    refused, message, seconds = out["100000"]
    assert refused == "refused" and f"MAX_INPUTS = {MAX_INPUTS:,}" in message
    assert "419,999 characters" in message and seconds < 1  # before it is tokenized
    read, T, frontier, saved, seconds = out["5000"]
    assert read == "read" and T == 5000 and 0 < frontier < T and saved <= STEP_DATA_LIMIT + 200_000
    assert seconds < 30


def test_more_inputs_than_the_bound_are_refused_on_every_path():
    torch.manual_seed(0)
    model = SelfAttentionRNN(2, 3)
    with pytest.raises(ValueError, match="MAX_INPUTS"):
        AttentionWidget(model, inputs=torch.randn(MAX_INPUTS + 1, 2))
    w = AttentionWidget(model, inputs=torch.randn(MAX_INPUTS, 2))
    with pytest.raises(ValueError, match="MAX_INPUTS"):
        w.edit(MAX_INPUTS + 1, "one more", torch.randn(2))
    with pytest.raises(ValueError, match="MAX_INPUTS"):
        w.set_inputs(None, torch.randn(MAX_INPUTS + 5, 2))
    assert w.T == MAX_INPUTS and w.version == 0


def test_the_gradient_shading_past_the_cores_bound_is_refused_by_name_at_once():
    torch.manual_seed(0)
    w = AttentionWidget(SelfAttentionRNN(4, 128), inputs=torch.randn(2000, 4))
    rec = Recorder()
    w.send = rec
    w.goto(2000)
    start = time.perf_counter()
    w._answers.answer({"type": "sensitivity", "version": w.version, "k": 2000}, [])  # noqa: SLF001
    assert time.perf_counter() - start < 1  # it allocated 3.2 GB
    (message,) = rec.errors()
    assert message.startswith("gradient shading at position 2000: ")
    assert "CHUNK_BYTES" in message and "α works at every position" in message
    assert w.status == f"error: {message}"
    w._answers.answer({"type": "sensitivity", "version": w.version, "k": 20}, [])  # noqa: SLF001
    (answer,) = [c for c, _ in rec.sent if c["type"] == "sensitivity"]
    assert answer["k"] == 20


# -- threads -----------------------------------------------------------------------


def test_moves_on_the_main_thread_while_train_pushes_from_another_stay_whole():
    """goto() on the main thread during train(widget=w) in a thread raised IndexError or
    WeightsChangedError 11 times in 3 runs, and once left the steps out of order."""
    torch.set_num_threads(1)
    data = recall(256, distance=4, n_keys=4, seed=0)
    torch.manual_seed(0)
    model = TextRNN(data.vocab, 8, 16, update="eq4", align="dot", n_outputs=data.n_outputs)
    w = AttentionWidget.from_text(model, data.tokens[0])
    w.send = lambda content, buffers=None: None
    T = w.T
    failures: list[BaseException] = []

    def training():
        try:
            train(model, data, epochs=4, batch_size=4, every=1, progress=False, widget=w)
        except BaseException as error:  # reported below
            failures.append(error)

    thread = threading.Thread(target=training)
    thread.start()
    rng = np.random.default_rng(0)
    moves = 0
    deadline = time.perf_counter() + 20
    while thread.is_alive() and time.perf_counter() < deadline:
        k = int(rng.integers(0, T + 1))
        try:
            step = w.goto(k)
            assert (step is None) == (k == 0) and (step is None or step.t == k - 1)
            assert [s.t for s in w.session.steps] == list(range(w.frontier))
        except BaseException as error:  # every one is a failure
            failures.append(error)
        moves += 1
    thread.join()
    assert not failures, [f"{type(e).__name__}: {e}" for e in failures[:5]]
    assert moves > 50
    w.goto(T)
    assert w.t == w.stepper.k == T and [s.t for s in w.stepper.steps] == list(range(T))
    with torch.no_grad():  # the weights training left: stepped against batched
        trace, _ = model(torch.tensor(model.vocab.encode(data.tokens[0])))
    torch.testing.assert_close(w.trace().h, trace.h, rtol=1e-5, atol=1e-6)


# -- silent numbers and small ones ---------------------------------------------------


@pytest.mark.parametrize("bad", [math.nan, math.inf])
def test_a_head_with_nan_or_inf_says_so(bad):
    torch.manual_seed(0)
    model = SelfAttentionRNN(3, 4)
    head = torch.nn.Linear(4, 3)
    w = AttentionWidget(model, inputs=torch.randn(5, 3), head=head)
    rec = Recorder()
    w.send = rec
    with torch.no_grad():
        head.weight[1, 2] = bad
    w.goto(3)
    assert w.t == 3 and "head's weight weight holds NaN or Inf" in w.status
    with pytest.raises(ValueError, match="head's weight weight holds NaN or Inf"):
        w.prediction()
    sent = [s for c, _ in rec.sent if c["type"] == "steps" for s in c["steps"]]
    assert sent and all(s["pred_p"] is None for s in sent)  # no NaN shown as a number
    with pytest.raises(ValueError, match="head's weight weight holds NaN or Inf"):
        AttentionWidget(model, inputs=torch.randn(5, 3), head=head)


class Overflowing(torch.nn.Module):
    """Finite weights whose logits overflow float32."""

    def __init__(self):
        super().__init__()
        self.lin = torch.nn.Linear(4, 3)

    def forward(self, h):
        return self.lin(h) * 1e39


def test_a_head_whose_logits_overflow_says_so():
    torch.manual_seed(0)
    w = AttentionWidget(SelfAttentionRNN(3, 4), inputs=torch.randn(5, 3))
    with pytest.raises(ValueError, match="NaN or Inf logits"):
        AttentionWidget(SelfAttentionRNN(3, 4), inputs=torch.randn(5, 3), head=Overflowing())
    assert w.prediction(2) == {}


def test_speed_true_is_refused_as_the_constructor_refuses_it():
    torch.manual_seed(0)
    w = AttentionWidget(SelfAttentionRNN(3, 4), inputs=torch.randn(4, 3))
    with pytest.raises(TypeError, match="speed must be a number"):
        AttentionWidget(SelfAttentionRNN(3, 4), inputs=torch.randn(4, 3), speed=True)
    for bad in (True, False):
        with pytest.raises(TypeError, match="speed must be a number"):
            w.speed = bad
    with pytest.raises(ValueError, match="speed must be in"):
        w.speed = 1000
    w.speed = 2
    assert w.speed == 2.0 and isinstance(w.speed, float)


def test_an_edit_message_without_its_token_is_refused_not_read_as_zero():
    vocab = ["<pad>", "<unk>", "the", "key", "is", "here"]
    config = {"vocab": vocab, "embed_size": 3, "hidden_size": 4, "n_outputs": 2,
              "update": "eq4", "align": "dot", "attn_size": None, "tokenizer": "word"}  # fmt: skip
    torch.manual_seed(0)
    w = AttentionWidget.from_text(TextRNN.from_config(config), "the key is here")
    rec = Recorder()
    w.send = rec
    x = w.inputs.clone()
    w._answers.answer({"type": "edit", "version": w.version, "i": 2}, [])  # noqa: SLF001
    assert rec.errors() == ["edit.token is missing: give a word of the vocabulary, or null"]
    assert torch.equal(w.inputs, x) and w.edits == [] and w.version == 0
    w._answers.answer({"type": "edit", "version": w.version, "i": 2, "token": None}, [])  # noqa: SLF001
    assert w.tokens[1] == "⟨0⟩" and not w.inputs[1].any()


def test_steps_from_two_threads_are_never_lost_or_mixed():
    """``w.t += 1`` read and wrote t outside the lock: two threads stepping at once
    lost steps, and a step returned could be another position's."""
    torch.manual_seed(0)
    T, n = 400, 150
    model = SelfAttentionRNN(4, 16).double()
    w = AttentionWidget(model, inputs=torch.randn(T, 4, dtype=torch.float64))
    w.send = lambda content, buffers=None: None
    failures: list[BaseException] = []
    returned: list[list[int]] = [[], []]

    def stepping(mine: list[int]):
        try:
            for _ in range(n):
                mine.append(w.step().t)
        except BaseException as error:  # every one is a failure
            failures.append(error)

    threads = [threading.Thread(target=stepping, args=(r,)) for r in returned]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert time.perf_counter() - start < 60 and not failures, failures[:3]
    assert w.t == w.stepper.k == 2 * n  # no step lost
    # each call returned the step of the position it moved to: all distinct, in order
    assert sorted(returned[0] + returned[1]) == list(range(2 * n))
    assert all(a < b for r in returned for a, b in itertools.pairwise(r))
    with torch.no_grad():  # stepped against batched: float64, the sizes' tolerance
        torch.testing.assert_close(w.trace().h, model(w.inputs).h[: 2 * n + 1], rtol=0, atol=1e-12)


def test_a_huge_text_from_python_is_refused_before_it_is_tokenized():
    """read_text of a 100,000-word string never answered; the 2,000-character cap
    guarded only the text box.  From Python the cap is MAX_TEXT_CHARS_READ."""
    vocab = ["<pad>", "<unk>", "the", "key", "is", "here"]
    config = {"vocab": vocab, "embed_size": 3, "hidden_size": 4, "n_outputs": 2,
              "update": "eq4", "align": "dot", "attn_size": None, "tokenizer": "word"}  # fmt: skip
    torch.manual_seed(0)
    model = TextRNN.from_config(config)
    w = AttentionWidget.from_text(model, "the key is here", precompute=True)
    huge = "the key " * 5_000_000  # 40 MB
    start = time.perf_counter()
    with pytest.raises(ValueError, match=f"MAX_TEXT_CHARS_READ = {MAX_TEXT_CHARS_READ:,}"):
        w.read_text(huge)
    with pytest.raises(ValueError, match="40,000,000 characters"):
        AttentionWidget.from_text(model, huge)
    with pytest.raises(ValueError, match=f"MAX_INPUTS = {MAX_INPUTS:,}"):
        w.read_text(["the"] * (MAX_INPUTS + 1))
    assert time.perf_counter() - start < 2  # refused before a tokenizer runs
    assert w.tokens == ["the", "key", "is", "here"] and w.version == 0
    # At the cap it is read (and held to MAX_INPUTS tokens): a one-character-word
    # text of the cap's length has too many tokens, refused by that count instead.
    assert len(" ".join(["the"] * (MAX_INPUTS // 2))) <= MAX_TEXT_CHARS_READ
    w.read_text(" ".join(["the", "key"] * (MAX_INPUTS // 4)))
    assert w.T == MAX_INPUTS // 2
