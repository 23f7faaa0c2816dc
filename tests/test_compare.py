"""Compare mode: panels that are AttentionWidgets, one position for all."""

from __future__ import annotations

import pytest
import torch
import traitlets as tl

import attn_widget.widget as widget_module
from attn_widget import LSTMN, SelfAttentionRNN, compare
from attn_widget.comparison import Compare
from attn_widget.demo import demo_model
from attn_widget.widget import AttentionWidget


@pytest.fixture(autouse=True)
def _stub_bundle(monkeypatch):
    if not (widget_module.STATIC / "widget.js").is_file():
        monkeypatch.setattr(widget_module, "_bundle", lambda: ("", ""))


def recall_pair() -> Compare:
    eq4 = demo_model("recall", "eq4")
    return compare(demo_model("recall", "eq1"), eq4, text=eq4.metadata["demo_text"])


def test_every_panel_follows_one_position_from_python_and_from_any_panel():
    cmp = recall_pair()
    a, b = cmp.panels
    assert (a.show_controls, b.show_controls) == (True, False)  # one set of controls
    assert [p.title for p in cmp.panels] == ["eq1 (no attention)", "eq4 / dot"]
    seen = []
    cmp.observe(lambda change: seen.append(change["new"]), "t")
    cmp.goto(4)
    assert cmp.position == 4 and [p.t for p in cmp.panels] == [4, 4]
    cmp.step()
    assert [p.stepper.k for p in cmp.panels] == [5, 5]  # each computed its own step
    b.t = 9  # as the front end of the second panel would
    assert cmp.t == 9 and a.t == 9 and a.stepper.k == 9
    cmp.back()
    assert [p.t for p in cmp.panels] == [8, 8] and seen == [4, 5, 9, 8]
    cmp.reset()
    assert cmp.t == 0 and not a.playing
    cmp.goto(cmp.T)
    with pytest.raises(ValueError, match="cannot step past the end"):
        cmp.step()


def test_each_panel_predicts_from_its_own_state():
    cmp = recall_pair()
    cmp.goto(cmp.T)  # the step that reads "?" and answers
    tokens = demo_model("recall", "eq4").metadata["demo_text"].split()
    key = next(token for token in tokens if token.startswith("k"))  # the one key, by spelling
    eq1, eq4 = (p.prediction() for p in cmp.panels)
    assert next(iter(eq4)) == key and eq4[key] > 0.5
    for p, shown in zip(cmp.panels, (eq1, eq4), strict=True):
        with torch.no_grad():
            probs = torch.softmax(p.session.head.module(p.stepper.steps[-1].h), -1)
        for label, value in shown.items():
            assert value == pytest.approx(float(probs[p.prediction_labels.index(label)]), abs=1e-6)


def test_models_on_vectors_and_an_lstmn_compare_too():
    torch.manual_seed(0)
    x = torch.randn(5, 3)
    cmp = compare(SelfAttentionRNN(3, 4, update="eq1"), LSTMN(3, 4), inputs=x, titles=["a", "b"])
    assert [p.title for p in cmp.panels] == ["a", "b"] and [p.update_rule for p in cmp.panels] == [
        "eq1",
        "lstmn",
    ]
    cmp.goto(5)
    assert [p.stepper.frontier for p in cmp.panels] == [5, 5]


def test_bad_comparisons_are_clear_errors():
    torch.manual_seed(0)
    m = SelfAttentionRNN(3, 4)
    with pytest.raises(ValueError, match="two or more models"):
        compare(m, inputs=torch.randn(3, 3))
    with pytest.raises(ValueError, match="either text"):
        compare(m, m)
    with pytest.raises(ValueError, match="titles must be a list naming each of the 2 models"):
        compare(m, m, inputs=torch.randn(3, 3), titles=["one"])
    a = AttentionWidget(m, inputs=torch.randn(3, 3))
    b = AttentionWidget(m, inputs=torch.randn(4, 3))
    with pytest.raises(ValueError, match="must read the same tokens"):
        Compare([a, b])
    with pytest.raises(TypeError, match=r"panels\[1\] must be an AttentionWidget"):
        Compare([a, "b"])
    with pytest.raises(ValueError, match="direction must be"):
        compare(m, m, inputs=torch.randn(3, 3), direction="diagonal")


def test_panels_cannot_change_their_inputs_alone_and_a_failed_move_moves_no_panel():
    torch.manual_seed(0)
    x = torch.randn(4, 3)
    broken = SelfAttentionRNN(3, 4)
    cmp = compare(SelfAttentionRNN(3, 4, update="eq1"), broken, inputs=x)
    cmp.goto(2)
    for panel in cmp.panels:
        with pytest.raises(ValueError, match="panel of a comparison"):
            panel.step(torch.randn(3), token="new")
        with pytest.raises(ValueError, match="panel of a comparison"):
            panel.set_inputs(None, torch.randn(5, 3))
    assert [p.T for p in cmp.panels] == [4, 4] and [p.t for p in cmp.panels] == [2, 2]
    with torch.no_grad():
        broken.A.weight[0, 0] = float("nan")
    with pytest.raises(ValueError, match=r"A\.weight contains NaN"):  # says which model's weight
        cmp.goto(4)
    # the broken panel falls back to the last step it can show, and the others with it
    assert len({cmp.t, *(p.t for p in cmp.panels)}) == 1
    at = cmp.t
    with pytest.raises(ValueError, match=r"must be in 0 … T = 4"):
        cmp.t = 99
    assert cmp.t == at and cmp.position == at
    with pytest.raises(ValueError, match="titles must be a list"):
        compare(broken, broken, inputs=x, titles="ab")
    with pytest.raises(TypeError, match="titles="):
        compare(broken, broken, inputs=x, title="X")


def test_a_forged_or_wrong_children_list_is_refused_and_every_panel_stays():
    """A forged ``children=[]`` on a comparison's Box was accepted by the kernel,
    and the comparison then raised IndexError everywhere."""
    torch.manual_seed(0)
    x = torch.randn(5, 3)
    cmp = compare(SelfAttentionRNN(3, 4, update="eq1"), SelfAttentionRNN(3, 4), inputs=x)
    panels = cmp.panels
    sent = []
    cmp._send = lambda msg, buffers=None: sent.append(msg)  # noqa: SLF001 - what reaches the comm
    other = AttentionWidget(SelfAttentionRNN(3, 4), inputs=x)
    for forged in ([], [f"IPY_MODEL_{panels[0].model_id}"],
                   [f"IPY_MODEL_{p.model_id}" for p in (panels[0], other)],
                   [f"IPY_MODEL_{p.model_id}" for p in reversed(panels)],
                   ["IPY_MODEL_nonexistent", "IPY_MODEL_x"]):  # fmt: skip
        sent.clear()
        with pytest.raises(ValueError, match="children are its 2 panels"):
            cmp.set_state({"children": forged})
        assert cmp.panels == panels and list(cmp.children) == panels
        # every view is told the panels again
        (update,) = [m for m in sent if m["method"] == "update"]
        assert update["state"]["children"] == [f"IPY_MODEL_{p.model_id}" for p in panels]
    with pytest.raises(tl.TraitError, match="children are its 2 panels"):
        cmp.children = (panels[0],)
    cmp.set_state({"children": [f"IPY_MODEL_{p.model_id}" for p in panels]})  # the same: fine
    cmp.goto(4)
    assert [p.t for p in cmp.panels] == [4, 4] and cmp.T == 5
