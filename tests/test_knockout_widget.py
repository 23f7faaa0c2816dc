"""Knockout in the session, the widget, its messages, the export, the figure and a
comparison (docs/design.md §2, §3): the slots hidden from attention are session
state, changed like an edit, and every consumer shows the numbers the batched
``model(x, knockout=mask)`` gives."""

from __future__ import annotations

import base64
import json
import re

import pytest
import torch
from torch import nn

import attn_widget.widget as widget_module
from attn_widget import SelfAttentionRNN, compare
from attn_widget.protocol import unpack_snapshot
from attn_widget.render import bundle
from attn_widget.render.export import export_page
from attn_widget.session import NewVersion, Session
from attn_widget.widget import AttentionWidget

D, H, C = 3, 5, 4


@pytest.fixture(autouse=True)
def _stub_bundle(monkeypatch):
    monkeypatch.setattr(widget_module, "_bundle", lambda: ("export default {};", ""))


def model64(update="eq4", seed=0) -> SelfAttentionRNN:
    torch.manual_seed(seed)
    model = SelfAttentionRNN(D, H, update=update, align="additive").double()
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(2.0)  # sharp weights: a hidden slot's share is large enough to matter
    return model


def head64(seed=1) -> nn.Linear:
    torch.manual_seed(seed)
    return nn.Linear(H, C).double()


def batched(model, x, slots):
    """The batched run with ``slots`` hidden: the reference every view must show."""
    mask = torch.zeros(len(x) + 1, dtype=torch.bool)
    mask[list(slots)] = True
    with torch.no_grad():
        return model(x, knockout=mask)


def probs_at(head, trace, k: int) -> torch.Tensor:
    with torch.no_grad():
        return torch.softmax(head(trace.h[k]).float(), dim=-1)


class NoMask(SelfAttentionRNN):
    """A model whose step takes no hidden= mask: it cannot hide a slot."""

    def step_record(self, t, x_next, cache):
        return super().step_record(t, x_next, cache)


def widget64(T=7, update="eq4", **kwargs):
    model, head = model64(update), head64()
    x = torch.randn(T, D, dtype=torch.float64)
    w = AttentionWidget(model, inputs=x, head=head, **kwargs)
    sent: list[dict] = []
    w.send = lambda content, buffers=None: sent.append(content)
    return w, model, head, x, sent


# -- the session ---------------------------------------------------------------


def test_a_knockout_is_a_new_version_that_keeps_the_position_and_earlier_steps():
    model = model64()
    x = torch.randn(7, D, dtype=torch.float64)
    s = Session(model, x, head=head64())
    s.goto(6)
    before = list(s.steps)
    heard = []
    s.subscribe(heard.append)
    s.set_knockout([3])
    assert heard == [NewVersion(1, 6, "reset")] and s.version == 1
    assert (s.knockout, s.position, s.frontier) == ((3,), 6, 6)
    # Steps 0 … 2 read no slot ≥ 3: kept as they were (the same records); 3 … 5 anew.
    assert all(s.steps[t] is before[t] for t in range(3))
    assert all(s.steps[t] is not before[t] for t in range(3, 6))
    ref = batched(model, x[:6], [3])
    # Stepped against batched: two computations, float64 to 1e-12 (docs/design.md §5).
    torch.testing.assert_close(s.trace().h, ref.h, rtol=0, atol=1e-12)
    torch.testing.assert_close(s.trace().alpha, ref.alpha, rtol=0, atol=1e-12)
    assert all(float(s.steps[t].alpha[3]) == 0.0 for t in range(3, 6))  # exactly 0
    assert float(s.steps[5].alpha.sum()) == pytest.approx(1.0, abs=1e-12)
    # the prediction follows: softmax(head(h_6)) of the knocked-out run
    want = probs_at(s.head.module, ref, 6)
    for label, p in s.prediction(6).items():
        assert p == pytest.approx(float(want[s.head.labels.index(label)]), abs=1e-6)
    # the same knockout again changes nothing, not even the version
    s.set_knockout((3,))
    assert s.version == 1 and len(heard) == 1
    s.set_knockout([])
    torch.testing.assert_close(s.trace().h, model(x[:6]).h.detach(), rtol=0, atol=1e-12)
    assert s.describe()["knockout"] == [] and s.version == 2


def test_a_knockout_is_not_on_the_undo_history():
    """Undo takes back edits of the inputs; the knockout, on screen at every moment and
    undone by setting it again, stays through edits and undo."""
    model = model64()
    x = torch.randn(6, D, dtype=torch.float64)
    s = Session(model, x)
    s.goto(6)
    s.edit(2, "new", torch.ones(D, dtype=torch.float64))
    s.set_knockout([2])
    assert s.edits == [[2, "x2", "new"]]
    assert s.undo() and s.knockout == (2,) and s.edits == []
    assert not s.undo()  # the knockout was never on the history
    torch.testing.assert_close(s.trace().h, batched(model, x, [2]).h, rtol=0, atol=1e-12)
    s.set_inputs(None, torch.randn(3, D, dtype=torch.float64))
    assert s.knockout == (2,)
    s.set_knockout([3])
    s.set_inputs(None, torch.randn(2, D, dtype=torch.float64))
    assert s.knockout == ()  # slot 3 names a state two inputs do not make


@pytest.mark.parametrize(
    ("slots", "error", "match"),
    [
        ([8], ValueError, r"in 0 … T = 7.*got \[8\]"),
        ([-1], ValueError, "≥ 0"),
        ([True], TypeError, "must be ints"),
        ([1.0], TypeError, "must be ints"),
        (["2"], TypeError, "must be ints"),
        ("3", TypeError, "iterable of slot indices"),
        (3, TypeError, "iterable of slot indices"),
    ],
)
def test_a_bad_knockout_is_refused_and_changes_nothing(slots, error, match):
    s = Session(model64(), torch.randn(7, D, dtype=torch.float64))
    s.goto(4)
    s.set_knockout([1])
    steps, version = list(s.steps), s.version
    with pytest.raises(error, match=match):
        s.set_knockout(slots)
    assert (s.knockout, s.version, s.position) == ((1,), version, 4)
    assert all(a is b for a, b in zip(s.steps, steps, strict=True))


def test_a_model_without_a_mask_and_eq1_say_so():
    s = Session(NoMask(D, H).double(), torch.randn(4, D, dtype=torch.float64))
    assert not s.can_knockout and s.describe()["can_knockout"] is False
    with pytest.raises(TypeError, match="NoMask does not support knockout"):
        s.set_knockout([1])
    s.set_knockout([])  # showing everything is always possible
    eq1 = Session(model64("eq1"), torch.randn(4, D, dtype=torch.float64))
    assert not eq1.can_knockout  # nothing to hide from: it attends to no past state
    eq1.goto(4)
    h = eq1.trace().h.clone()
    eq1.set_knockout([1])  # accepted, as model(x, knockout=...) accepts it, and changes nothing
    assert eq1.knockout == (1,)
    assert torch.equal(eq1.trace().h, h)  # the same computation, bit for bit


# -- the widget's trait ----------------------------------------------------------


def test_the_trait_hides_slots_and_the_view_hears_it():
    w, model, head, x, sent = widget64()
    w.goto(7)
    assert w.knockout == [] and w.can_knockout
    heard = []
    w.observe(lambda change: heard.append(change["new"]), names="knockout")
    version = w.version
    sent.clear()
    w.knockout = [5, 0, 5]
    assert w.knockout == [0, 5] and heard == [[0, 5]] and w.session.knockout == (0, 5)
    assert w.version == version + 1 and w.t == 7
    (message,) = sent
    assert (message["type"], message["reason"], message["version"]) == ("steps", "reset", w.version)
    ref = batched(model, x, [0, 5])
    torch.testing.assert_close(w.trace().alpha, ref.alpha, rtol=0, atol=1e-12)
    assert float(w.current.alpha[0]) == 0.0 and float(w.current.alpha[5]) == 0.0
    want = probs_at(head, ref, 7)
    for label, p in w.prediction().items():
        assert p == pytest.approx(float(want[w.prediction_labels.index(label)]), abs=1e-6)
    w.knockout = []
    assert heard == [[0, 5], []]
    torch.testing.assert_close(w.trace().h, model(x).h.detach(), rtol=0, atol=1e-12)


@pytest.mark.parametrize(
    ("value", "error"),
    [([8], ValueError), ([-2], ValueError), ([1, "a"], TypeError), ([False], TypeError)],
)
def test_a_bad_trait_value_is_refused_and_left_as_it_was(value, error):
    w, *_ = widget64()
    w.knockout = [2]
    heard = []
    w.observe(heard.append, names="knockout")
    version = w.version
    with pytest.raises(error, match="knockout slots"):
        w.knockout = value
    assert w.knockout == [2] and w.session.knockout == (2,) and w.version == version
    assert heard == []


def test_the_trait_refuses_what_is_not_a_list_and_a_model_without_a_mask():
    w, *_ = widget64()
    with pytest.raises(TypeError, match="iterable of slot indices"):
        w.knockout = 3
    assert w.knockout == []
    torch.manual_seed(0)
    v = AttentionWidget(NoMask(D, H), inputs=torch.randn(4, D))
    assert not v.can_knockout
    with pytest.raises(TypeError, match="does not support knockout"):
        v.knockout = [1]
    assert v.knockout == []


def test_a_widget_can_start_with_a_knockout():
    model = model64()
    x = torch.randn(5, D, dtype=torch.float64)
    w = AttentionWidget(model, inputs=x, knockout=[2])
    w.goto(5)
    assert w.knockout == [2]
    torch.testing.assert_close(w.trace().h, batched(model, x, [2]).h, rtol=0, atol=1e-12)


# -- the front end's message -------------------------------------------------------


def test_the_knockout_message_applies_a_current_request_and_refuses_a_stale_one():
    w, model, _, x, sent = widget64()
    w.goto(6)
    version = w.version
    w._answers.answer({"type": "knockout", "version": version, "slots": [4]}, [])  # noqa: SLF001
    assert w.knockout == [4] and w.version == version + 1 and w.status == ""
    assert sent[-1]["type"] == "steps" and sent[-1]["version"] == w.version
    torch.testing.assert_close(w.trace().h, batched(model, x[:6], [4]).h, rtol=0, atol=1e-12)
    # A request made for the old version: refused, never applied to the data there is now.
    sent.clear()
    w._answers.answer({"type": "knockout", "version": version, "slots": [1]}, [])  # noqa: SLF001
    assert w.knockout == [4] and w.version == version + 1
    assert [m["type"] for m in sent] == ["error"] and sent[0]["request"] == "knockout"
    assert "changed before this knockout arrived" in w.status


@pytest.mark.parametrize(
    ("content", "match"),
    [
        ({"slots": [9]}, r"in 0 … T = 7"),
        ({"slots": ["2"]}, "must be ints"),
        ({"slots": [True]}, "must be ints"),
        ({"slots": 2}, "must be a list of slot indices"),
        ({"slots": None}, "must be a list of slot indices"),
        ({"version": "0", "slots": [1]}, "version must be an int"),
        ({"version": None, "slots": [1]}, "version must be an int"),
    ],
)
def test_a_bad_knockout_message_is_refused_with_a_reason(content, match):
    w, *_, sent = widget64()
    w.knockout = [3]
    version = w.version
    sent.clear()
    w._answers.answer({"type": "knockout", "version": version, **content}, [])  # noqa: SLF001
    assert w.knockout == [3] and w.version == version
    assert [m["type"] for m in sent] == ["error"]
    assert re.search(match, sent[0]["message"])


def test_eq1_keeps_slots_from_python_and_from_a_message_alike_and_says_they_do_nothing():
    """eq1 attends to no past state: knockout cannot change a number.  The slots are
    kept (a comparison's panels run one experiment), the same way whether set from
    Python or by a message, the steps are not recomputed, and status says so."""
    w, model, _, x, sent = widget64(update="eq1")
    assert not w.can_knockout and w.status == ""  # the view does not offer it
    w.goto(7)
    steps = list(w.session.steps)
    w.knockout = [1, 3]
    assert w.knockout == [1, 3] and w.session.knockout == (1, 3)
    assert "eq1 attends to no past state" in w.status and "[1, 3]" in w.status
    # no step reads a slot: the records are the ones computed before, and the numbers
    # are model(x)'s (the same records, compared by identity, then stepped vs batched)
    assert all(a is b for a, b in zip(w.session.steps, steps, strict=True))
    with torch.no_grad():
        torch.testing.assert_close(w.trace().h, model(x).h, rtol=0, atol=1e-12)
    w.knockout = []
    assert w.status == ""
    # the message takes the same path, and gets the same answer
    w._answers.answer({"type": "knockout", "version": w.version, "slots": [2]}, [])  # noqa: SLF001
    assert w.knockout == [2] and "hiding slots [2] changes no number" in w.status
    assert not [m for m in sent if m["type"] == "error"]
    assert all(a is b for a, b in zip(w.session.steps, steps, strict=True))
    # a widget made with slots says so from the start
    v = AttentionWidget(model, inputs=x, knockout=[4])
    assert v.knockout == [4] and "changes no number" in v.status


def test_a_model_without_a_mask_refuses_from_python_and_from_a_message_alike():
    torch.manual_seed(0)
    v = AttentionWidget(NoMask(D, H), inputs=torch.randn(4, D))
    sent: list[dict] = []
    v.send = lambda content, buffers=None: sent.append(content)
    with pytest.raises(TypeError) as raised:
        v.knockout = [1]
    v._answers.answer({"type": "knockout", "version": v.version, "slots": [1]}, [])  # noqa: SLF001
    assert v.knockout == [] and sent[-1]["type"] == "error"
    assert sent[-1]["message"] == str(raised.value)
    assert "NoMask does not support knockout" in sent[-1]["message"]


# -- the export and the figure -----------------------------------------------------


def test_an_export_carries_the_mask_with_what_was_computed_with_it():
    if not (bundle.STATIC / "standalone.js").is_file():
        pytest.skip("the front end is not built")
    model = model64()
    x = torch.randn(6, D, dtype=torch.float64)
    s = Session(model, x)
    s.goto(6)
    s.set_knockout([0, 2])
    page = export_page(s)
    block = page.split('class="attn-widget-state">', 1)[1].split("</script>", 1)[0]
    (panel,) = json.loads(block)["panels"]
    assert panel["knockout"] == [0, 2] and panel["can_knockout"] is False  # no kernel
    _, steps, _ = unpack_snapshot(base64.b64decode(panel["_snapshot"]))
    ref = batched(model, x, [0, 2])
    for t, step in enumerate(steps):
        alpha = step["alpha"]
        assert alpha[0] == 0.0 and (t < 2 or alpha[2] == 0.0)  # exactly 0, also in float32
        # float32 on the page against the float64 batched run: rounding only
        assert abs(alpha - ref.alpha[t, : t + 1].numpy()).max() < 1e-6


def test_the_figure_marks_the_hidden_slots():
    HATCH = pytest.importorskip("attn_widget.render.figure").HATCH  # needs matplotlib
    w, *_ = widget64(T=5)
    w.goto(5)
    w.knockout = [2]
    fig = w.figure()
    texts = {t.get_gid(): t for t in fig.axes[0].texts if t.get_gid()}
    assert texts["token-2"].get_bbox_patch().get_hatch() == HATCH
    assert [t for t in texts if texts[t].get_bbox_patch().get_hatch()] == ["token-2"]
    assert "hidden from attention: slot 2" in fig.axes[0].get_title(loc="left")
    # the α matrix's column 2 is hatched from row 2 (the first step that reads slot 2) on
    (cover,) = [p for p in fig.axes[1].patches if p.get_hatch() == HATCH]
    assert (cover.get_x(), cover.get_y(), cover.get_width(), cover.get_height()) == (
        1.5,
        1.5,
        1,
        3,
    )


# -- a comparison ------------------------------------------------------------------


def test_a_comparisons_panels_hide_the_same_slots():
    x = torch.randn(6, D, dtype=torch.float64)
    models = [model64("eq4", seed=0), model64("eq3", seed=1), model64("eq1", seed=2)]
    cmp = compare(*models, inputs=x)
    cmp.goto(6)
    cmp.knockout = [3]
    assert [p.knockout for p in cmp.panels] == [[3]] * 3
    for panel, model in zip(cmp.panels, models, strict=True):
        torch.testing.assert_close(panel.trace().h, batched(model, x, [3]).h, rtol=0, atol=1e-12)
    # a click in the second panel's view hides a slot in all of them
    b = cmp.panels[1]
    b.send = lambda content, buffers=None: None
    b._answers.answer({"type": "knockout", "version": b.version, "slots": [1, 3]}, [])  # noqa: SLF001
    assert cmp.knockout == [1, 3] and [p.knockout for p in cmp.panels] == [[1, 3]] * 3
    # a bad value is refused before any panel changes
    with pytest.raises(ValueError, match="T = 6"):
        cmp.knockout = [7]
    assert cmp.knockout == [1, 3] and [p.knockout for p in cmp.panels] == [[1, 3]] * 3
    assert [p.can_knockout for p in cmp.panels] == [True, True, False]  # eq1 has no α


def test_a_comparison_with_a_model_that_takes_no_mask_hides_no_slot():
    torch.manual_seed(0)
    x = torch.randn(4, D)
    cmp = compare(SelfAttentionRNN(D, H), NoMask(D, H), inputs=x, titles=["eq4", "no mask"])
    assert [p.can_knockout for p in cmp.panels] == [False, False]
    with pytest.raises(ValueError, match="no mask's model takes no knockout mask"):
        cmp.knockout = [1]
    with pytest.raises(ValueError, match="no panel can"):
        cmp.panels[0].knockout = [1]
    assert [p.knockout for p in cmp.panels] == [[], []] and cmp.knockout == []


def test_the_trait_takes_what_the_stepper_takes_and_says_what_is_wrong():
    """``w.knockout = None`` shows everything and a 1-D bool mask hides its True
    slots, as for the stepper; a bad value gets the stepper's error, not traitlets'."""
    w, model, _, x, _ = widget64()
    w.goto(6)
    w.knockout = torch.tensor([False, False, True, False, False, False, False, False])
    assert w.knockout == [2]
    torch.testing.assert_close(w.trace().h, batched(model, x[:6], [2]).h, rtol=0, atol=1e-12)
    w.knockout = None
    assert w.knockout == [] and w.stepper.knockout == ()
    with pytest.raises(ValueError, match="must be 1-D"):
        w.knockout = torch.ones(2, 8, dtype=torch.bool)
    with pytest.raises(TypeError, match="iterable of slot indices"):
        w.knockout = 3
    assert w.knockout == []


def test_a_forged_list_of_every_slot_gets_a_short_answer():
    """A message naming a hundred thousand slots is refused with an error that
    names a few of them and how many there were: nothing echoes megabytes back."""
    w, *_, sent = widget64()
    version = w.version
    sent.clear()
    w._answers.answer({"type": "knockout", "version": version, "slots": list(range(10**5))}, [])  # noqa: SLF001
    assert w.knockout == [] and w.version == version
    (reply,) = sent
    assert reply["type"] == "error" and "99992 of them" in reply["message"]
    assert len(reply["message"]) <= 500 and len(w.status) <= 510
