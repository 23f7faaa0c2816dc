"""Bring your own model (docs/design.md §3, ``StepModel``): the GRU with additive
attention of ``examples/gru_attention.py``, written against the public protocol
alone, steps exactly like its own batched run and gets the stepper, the session,
the widget, the export, the figure, the gradient shading and knockout."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import attn_widget.widget as widget_module
from attn_widget.core import StepModel, Stepper, input_sensitivity, supports_knockout
from attn_widget.protocol import decode_steps
from attn_widget.session import Session
from attn_widget.widget import AttentionWidget

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
sys.path.insert(0, str(EXAMPLES))
from gru_attention import GRUAttention  # noqa: E402

D, H = 3, 5


@pytest.fixture(autouse=True)
def _stub_bundle(monkeypatch):
    monkeypatch.setattr(widget_module, "_bundle", lambda: ("export default {};", ""))


def model_and_inputs(T=8, seed=0):
    torch.manual_seed(seed)
    model = GRUAttention(D, H, attn_size=4).double()
    return model, torch.randn(T, D, dtype=torch.float64)


def test_the_example_uses_public_names_only():
    tree = ast.parse((EXAMPLES / "gru_attention.py").read_text(encoding="utf-8"))
    taken = [
        (node.module, alias.name)
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("attn_widget")
        for alias in node.names
    ]
    assert taken and all(not name.startswith("_") for _, name in taken)
    assert all(not part.startswith("_") for module, _ in taken for part in module.split("."))
    assert isinstance(GRUAttention(D, H), StepModel) and supports_knockout(GRUAttention(D, H))


@pytest.mark.parametrize("knockout", [(), (0,), (2, 5), tuple(range(9))])
def test_it_steps_exactly_like_its_batched_run(knockout):
    model, x = model_and_inputs()
    mask = torch.zeros(9, dtype=torch.bool)
    mask[list(knockout)] = True
    stepper = Stepper(model, x, knockout=knockout)
    stepper.goto(8)
    with torch.no_grad():
        batched = model(x, knockout=mask)
    # Stepped against batched: two computations, float64 to 1e-12 (docs/design.md §5).
    trace = stepper.trace()
    for name in ("h", "c", "alpha"):
        torch.testing.assert_close(getattr(trace, name), getattr(batched, name), rtol=0, atol=1e-12)
    for step in stepper.steps:
        hidden = [i for i in knockout if i <= step.t]
        assert torch.all(step.alpha[hidden] == 0)  # a hidden slot's α is exactly 0
        if len(hidden) < step.t + 1:
            assert step.alpha.sum().item() == pytest.approx(1.0, abs=1e-12)
        # the record is the equations, recomputed from its own fields
        h_t = stepper.h_at(step.t)
        torch.testing.assert_close(step.h, (1 - step.u) * h_t + step.u * step.h_hat)
        torch.testing.assert_close(step.h_hat, torch.tanh(step.pre))
        # the same concatenation of the same tensors: bit for bit
        torch.testing.assert_close(step.z, torch.cat([step.x, step.c]), rtol=0, atol=0)


def test_an_edit_and_a_knockout_drop_only_the_steps_after_them():
    model, x = model_and_inputs()
    stepper = Stepper(model, x)
    stepper.goto(8)
    before = list(stepper.steps)
    stepper.set_knockout([4])
    assert stepper.steps[:4] == before[:4] and stepper.frontier == 8  # recomputed to k
    assert stepper.steps[4] is not before[4]
    stepper.goto(3)
    stepper.step(torch.zeros(D, dtype=torch.float64))  # x_4 becomes 0
    stepper.goto(8)
    x0 = x.clone()
    x0[3] = 0
    mask = torch.zeros(9, dtype=torch.bool)
    mask[4] = True
    with torch.no_grad():
        torch.testing.assert_close(
            stepper.trace().h, model(x0, knockout=mask).h, rtol=0, atol=1e-12
        )


def test_it_is_a_widget_like_the_others():
    model, x = model_and_inputs(T=6)
    head = torch.nn.Linear(H, 3).double()
    w = AttentionWidget(model, tokens=list("abcdef"), inputs=x, head=head)
    sent = []
    w.send = lambda content, buffers=None: sent.append((content, list(buffers or [])))
    assert (w.update_rule, w.align_name) == ("gru", "additive")
    assert w.z_layout == [["x", D], ["c", H]]
    w.goto(6)
    got = {s["t"]: s for c, b in sent if c["type"] == "steps" for s in decode_steps(c["steps"], b)}
    with torch.no_grad():
        batched = model(x)
    assert sorted(got) == list(range(6))
    for t, s in got.items():  # float32 on the wire against the float64 batched run
        np.testing.assert_allclose(s["h"], batched.h[t + 1].numpy(), rtol=1e-6, atol=1e-7)
        np.testing.assert_allclose(s["alpha"], batched.alpha[t, : t + 1].numpy(), atol=1e-7)
        np.testing.assert_allclose(s["c"], batched.c[t].numpy(), rtol=1e-6, atol=1e-7)
        assert s["pred_p"] is not None and s["m"] is None
        # z = [x; c]: the same values through the same float32 codec, bit for bit
        np.testing.assert_allclose(s["z"][D:], s["c"], rtol=0, atol=0)
    # bit for bit: the widget calls this very function on these inputs
    torch.testing.assert_close(w.sensitivity(4), input_sensitivity(model, x[:4]), rtol=0, atol=0)
    assert sum(w.prediction(6).values()) == pytest.approx(1.0, abs=1e-6)
    w.zero_input(2)
    w.goto(6)
    x0 = x.clone()
    x0[1] = 0
    with torch.no_grad():
        torch.testing.assert_close(w.trace().h, model(x0).h, rtol=0, atol=1e-12)
    assert w.undo() and torch.equal(w.inputs, x)


def test_it_exports_and_draws():
    from attn_widget.render import bundle

    model, x = model_and_inputs(T=5)
    session = Session(model, x, list("vwxyz"))
    pytest.importorskip("matplotlib")
    from attn_widget.render.figure import step_figure

    fig = step_figure(session, 4)
    assert session.frontier == 4 and fig.axes
    if (bundle.STATIC / "standalone.js").is_file():
        from attn_widget.render.export import export_page

        page = export_page(session)
        assert '"update_rule":"gru"' in page


def test_a_model_that_misses_the_protocol_is_refused_clearly():
    class NoSteps(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = torch.nn.Linear(D, H)
            self.input_size, self.hidden_size = D, H

    with pytest.raises(TypeError, match=r"another StepModel .*got NoSteps"):
        AttentionWidget(NoSteps(), inputs=torch.randn(3, D))

    class NoKnockout(GRUAttention):
        def step_record(self, t, x_next, past):
            return super().step_record(t, x_next, past)

    model = NoKnockout(D, H)
    assert isinstance(model, StepModel) and not supports_knockout(model)
    stepper = Stepper(model, torch.randn(4, D))
    stepper.goto(4)  # it steps
    with pytest.raises(TypeError, match="NoKnockout does not support knockout"):
        stepper.set_knockout([1])
    assert stepper.knockout == () and stepper.frontier == 4
