"""The session without a widget: a plain object that steps like the batched model,
tells its subscribers of each new version, and whose one lock every path takes
(docs/design.md §2).  Export and figure take sessions."""

from __future__ import annotations

import json
import os
import threading

import anywidget
import pytest
import torch

import attn_widget.widget as widget_module
from attn_widget.core import SelfAttentionRNN
from attn_widget.render import bundle
from attn_widget.render.export import EXPORT_FORMAT, Presentation, export_page
from attn_widget.session import Moved, NewVersion, Problem, Session
from attn_widget.text import TextRNN, Vocab
from attn_widget.widget import AttentionWidget

D, H = 3, 5
WORDS = ["the", "key", "to", "the", "cabinets", "is", "on", "the", "table"]


@pytest.fixture(autouse=True)
def _stub_bundle(monkeypatch):
    monkeypatch.setattr(widget_module, "_bundle", lambda: ("export default {};", ""))


def session64(T=7, seed=0, **kwargs) -> tuple[Session, SelfAttentionRNN, torch.Tensor]:
    torch.manual_seed(seed)
    model = SelfAttentionRNN(D, H, update="eq4", align="additive").double()
    x = torch.randn(T, D, dtype=torch.float64)
    return Session(model, x, **kwargs), model, x


def test_a_session_steps_like_the_batched_model():
    s, model, x = session64()
    assert (s.position, s.frontier, s.version, s.tokens[:2]) == (0, 0, 0, ["x1", "x2"])
    s.goto(5)
    assert (s.position, s.frontier, s.current.t) == (5, 5, 4)
    s.goto(2)
    assert s.frontier == 5 and s.current.t == 1  # moving back computes nothing
    s.compute(7)
    assert s.position == 2 and s.frontier == 7
    # Stepped against batched: two computations, float64 to 1e-12 (docs/design.md §5).
    torch.testing.assert_close(s.trace().h, model(x).h, rtol=0, atol=1e-12)
    torch.testing.assert_close(s.trace().alpha, model(x).alpha, rtol=0, atol=1e-12)


def test_subscribers_hear_each_new_version():
    s, model, _ = session64(T=6)
    heard = []
    s.subscribe(heard.append)
    s.goto(4)
    assert heard == [Moved(4, 4)]  # a move is not a new version: it is told as a move
    s.goto(4)
    assert heard == [Moved(4, 4)]  # nor is standing still
    heard.clear()
    s.edit(2, "new", torch.ones(D, dtype=torch.float64))
    s.zero_input(5)
    assert s.undo()
    s.recompute(reason="trace", snapshot=False)
    s.set_inputs(["a", "b"], torch.randn(2, D, dtype=torch.float64))
    assert heard == [
        NewVersion(1, 4, "reset"),
        NewVersion(2, 4, "reset"),
        NewVersion(3, 4, "reset"),
        NewVersion(4, 4, "trace", snapshot=False),
        NewVersion(5, 0, "reset"),
    ]
    assert s.tokens == ["a", "b"] and s.edits == []
    s.goto(2)
    with torch.no_grad():
        model.A.weight.mul_(1.1)  # the weights change: the next move makes a version
    s.goto(1)
    assert heard[-2:] == [Moved(2, 2), NewVersion(6, 1, "reset")]  # the new version says where
    s.unsubscribe(heard.append)
    s.recompute()
    assert len(heard) == 7


def test_a_failing_step_is_a_new_version_that_says_so(monkeypatch):
    s, model, _ = session64(T=6)
    s.goto(5)
    heard = []
    s.subscribe(heard.append)
    advance = model._advance  # noqa: SLF001

    def failing(t, *args):
        if t >= 3:
            raise RuntimeError("step 3 cannot run")
        return advance(t, *args)

    monkeypatch.setattr(model, "_advance", failing)
    with pytest.raises(RuntimeError, match="step 3"):
        s.recompute()
    assert heard == [NewVersion(1, 3, "reset", complete=False)]
    assert (s.position, s.frontier) == (3, 3)


def test_a_failing_head_is_a_problem_not_an_error():
    class Broken(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = torch.nn.Linear(H, 2).double()
            self.calls = 0

        def forward(self, h):
            self.calls += 1
            if self.calls > 1:  # the first call is the check when the head is given
                raise RuntimeError("broken head")
            return self.lin(h)

    s, _, _ = session64(head=Broken())
    heard = []
    s.subscribe(heard.append)
    s.goto(2)
    shown = s.predicted(s.steps)
    assert [step.t for step in shown] == [0, 1] and not hasattr(shown[0], "pred_p")
    assert heard == [Moved(2, 2), Problem("the head could not predict: broken head")]


def test_a_text_session_follows_its_embedding():
    torch.manual_seed(0)
    tm = TextRNN(Vocab(WORDS), D, H, n_outputs=2).double()
    s = Session.from_text(tm, "the key is on the zebra")
    assert s.unknown == [[6, "zebra"]] and s.tokens[5] == "<unk>" and s.head is not None
    assert "cabinets" in s.vocabulary and "<pad>" not in s.vocabulary
    s.goto(6)
    with torch.no_grad():
        tm.embed.weight.mul_(2.0)
    s.goto(6)  # the embedding changed: the inputs are embedded anew
    assert s.version == 1
    with torch.no_grad():
        x = tm.embed(torch.tensor(tm.vocab.encode(s.tokens)))
    torch.testing.assert_close(s.inputs, x, rtol=0, atol=0)  # the same embedding lookup
    assert Session.from_text(tm, "the key", head=None).head is None


def _blocks_until_released(lock, call) -> None:
    """``call`` in another thread waits while this thread holds ``lock``."""
    done = threading.Event()
    errors = []

    def run():
        try:
            call()
        except Exception as error:  # pragma: no cover - reported below
            errors.append(error)
        done.set()

    with lock:
        worker = threading.Thread(target=run)
        worker.start()
        assert not done.wait(0.3), "it ran without the session's lock"
    assert done.wait(60) and errors == []
    worker.join()


@pytest.mark.parametrize(
    "path",
    [
        "goto",
        "current",
        "prediction",
        "sensitivity",
        "figure",
        "save_html",
        "push_trace",
        "refresh",
        "snapshot",
        "trace",
        "zero_input",
        "sync",
        "knockout",
        "knockout_message",
    ],
)
def test_every_path_takes_the_one_lock(path):
    torch.manual_seed(0)
    model = SelfAttentionRNN(D, H)
    w = AttentionWidget(model, inputs=torch.randn(6, D), head=torch.nn.Linear(H, 3))
    w.send = lambda content, buffers=None: None
    w.goto(2)
    calls = {
        "goto": lambda: w.goto(5),
        "current": lambda: w.current,
        "prediction": lambda: w.prediction(4),
        "sensitivity": lambda: w.sensitivity(3),
        "figure": lambda: w.figure(4),
        "save_html": lambda: w.save_html(os.devnull),
        "push_trace": w.push_trace,
        "refresh": w.refresh,
        "snapshot": w.snapshot,
        "trace": w.trace,
        "zero_input": lambda: w.zero_input(1),
        "sync": lambda: w._answers.answer({"type": "sync", "version": 0, "have": 0}, []),  # noqa: SLF001
        "knockout": lambda: setattr(w, "knockout", [1]),
        "knockout_message": lambda: w._answers.answer(  # noqa: SLF001
            {"type": "knockout", "version": w.version, "slots": [2]}, []
        ),
    }
    if path == "figure":
        pytest.importorskip("matplotlib")
    if path == "save_html" and not (bundle.STATIC / "standalone.js").is_file():
        pytest.skip("the front end is not built")
    _blocks_until_released(w.session.lock, calls[path])


def test_an_export_of_a_session_holds_what_a_widget_would_sync():
    """The page's traits are the widget's synced traits, from the session alone."""
    if not (bundle.STATIC / "standalone.js").is_file():
        pytest.skip("the front end is not built")
    s, _, _ = session64(T=5)
    s.goto(3)
    page = export_page(s, presentations=[Presentation(title="alone", speed=2.0)])
    block = page.split('class="attn-widget-state">', 1)[1].split("</script>", 1)[0]
    state = json.loads(block)
    assert state["format"] == EXPORT_FORMAT
    (panel,) = state["panels"]
    assert (panel["t"], panel["frontier"], panel["title"], panel["speed"]) == (3, 5, "alone", 2.0)
    w = AttentionWidget(session=session64(T=5)[0])
    synced = set(w.trait_names(sync=True)) - set(anywidget.AnyWidget.class_trait_names(sync=True))
    assert set(panel) == synced - {"_esm", "_css", "_anywidget_id"}
    with pytest.raises(TypeError, match=r"sessions\[0\] must be a Session"):
        export_page([w])


def test_new_inputs_keep_the_steppers_knockout():
    """A knockout belongs to the stepper, not to the inputs (docs/design.md §3): a
    session that reads new inputs keeps it."""
    s, model, _ = session64(T=5)
    s.stepper.set_knockout([1])
    y = torch.randn(4, D, dtype=torch.float64)
    s.set_inputs(None, y)
    assert s.stepper.knockout == (1,)
    s.goto(4)
    mask = torch.tensor([False, True, False, False, False])
    with torch.no_grad():  # stepped against batched: float64 to 1e-12
        torch.testing.assert_close(s.trace().h, model(y, knockout=mask).h, rtol=0, atol=1e-12)
