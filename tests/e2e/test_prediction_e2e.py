"""What the model predicts, in a real JupyterLab in headless Chromium: the
shipped agreement model's head, read live as each word arrives.  The bars
shown are the head's softmax computed in the kernel, at every position."""

from __future__ import annotations

import pytest
from labdriver import eventually
from playwright.sync_api import expect

SETUP = """
import json
from attn_widget import demo

w = demo("agreement", text="the keys near the cabinet are lost .")
w.goto(0)
"""
CELL_W = 1


@pytest.fixture(scope="module")
def nb(open_notebook):
    notebook = open_notebook("prediction_e2e.ipynb", [SETUP, "w"])
    expect(notebook.cell(CELL_W).locator(".attn-widget")).to_have_count(1)
    return notebook


def test_the_bars_are_the_heads_softmax_at_every_position(nb, artifacts):
    root = nb.cell(CELL_W).locator(".attn-widget")
    T = int(nb.run("print(w.T)").strip())
    title = root.locator(".aw-prediction .aw-panel-title")
    forward = root.get_by_role("button", name="Step forward", exact=True)
    expect(title).to_have_text("prediction: nothing read yet")
    for k in range(1, T + 1):
        forward.click()
        expect(root).to_have_attribute("data-t", str(k))
        want = nb.run_json(f"print(json.dumps(list(w.prediction({k}).items())))")

        def check(k=k, want=want):
            rows = root.locator(".aw-prediction-row").evaluate_all(
                "rs => rs.filter(r => r.style.display !== 'none')"
                ".map(r => [r.dataset.label, Number(r.dataset.p)])"
            )
            assert [label for label, _ in rows] == [label for label, _ in want], k
            for (_, shown), (_, p) in zip(rows, want, strict=True):
                assert shown == pytest.approx(p, abs=1e-6)

        eventually(check, timeout=10)
        expect(title).to_have_text(f"prediction from h_{k}")
    # at k = 5 the state has read "the keys near the cabinet": plural, against the attractor
    top = nb.run_json("print(json.dumps(list(w.prediction(5))))")
    assert top[0] == "pl"
    nb.run("w.goto(5)")
    expect(root).to_have_attribute("data-t", "5")
    root.screenshot(path=artifacts / "prediction-widget.png")
