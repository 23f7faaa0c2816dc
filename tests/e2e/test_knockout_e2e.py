"""Knockout from the widget, in a real JupyterLab in headless Chromium, on the
shipped recall demo: the key's state is hidden from attention with a click in
knockout mode, and the prediction bars become what ``model(x, knockout=...)``
gives, computed in the kernel apart from the widget; K on the focused token
shows it again, and the bars come back.  ``w.knockout`` agrees at each step,
and ``w.observe`` hears both changes.

The answer-bearing slot comes from the demo's metadata: ``answer_slot`` where
the checkpoint names it, else the key's token index ``key_pos`` plus one (slot
i is h_i, the state made after reading x_i).
"""

from __future__ import annotations

import re

import numpy as np
import pytest
from labdriver import eventually
from playwright.sync_api import expect

SETUP = """
import json
import torch
from attn_widget import demo
from attn_widget.demo import demo_model

w = demo("recall")
reference = demo_model("recall")  # the same checkpoint, loaded apart from the widget
meta = reference.metadata
slot = int(meta["answer_slot"]) if "answer_slot" in meta else int(meta["key_pos"]) + 1
heard = []
w.observe(lambda change: heard.append(change["new"]), names="knockout")

def core(hidden):
    # the batched core with these slots hidden: the head's softmax at the widget's
    # position, largest first, and the α of the step shown there
    with torch.no_grad():
        x = reference.embed(torch.tensor(reference.vocab.encode(w.tokens)))
        mask = torch.zeros(len(w.tokens) + 1, dtype=torch.bool)
        mask[list(hidden)] = True
        trace = reference.rnn(x, knockout=mask)
        p = torch.softmax(reference.out(trace.h[w.t]), -1)
        top = p.topk(len(w.prediction_labels))
    labels = [w.prediction_labels[i] for i in top.indices.tolist()]
    return {"bars": list(zip(labels, top.values.tolist())), "alpha": trace.alpha[w.t - 1].tolist()}
"""
CELL_W = 1
HIDDEN = re.compile(r"(^|\s)is-hidden(\s|$)")  # one class among the token's others


@pytest.fixture(scope="module")
def nb(open_notebook):
    notebook = open_notebook("knockout_e2e.ipynb", [SETUP, "w"])
    expect(notebook.cell(CELL_W).locator(".attn-widget")).to_have_count(1)
    return notebook


def shown_bars(root) -> list[tuple[str, float]]:
    rows = root.locator(".aw-prediction-row").evaluate_all(
        "rs => rs.filter(r => r.style.display !== 'none')"
        ".map(r => [r.dataset.label, Number(r.dataset.p)])"
    )
    return [(label, p) for label, p in rows]


def assert_bars(root, want: list[tuple[str, float]], what: str) -> None:
    """The bars shown are the top of the core's softmax, to float32 rounding (the
    widget's stepper and the batched run sum in other orders)."""

    def check():
        shown = shown_bars(root)
        assert shown, what
        assert [label for label, _ in shown] == [label for label, _ in want[: len(shown)]], what
        np.testing.assert_allclose(
            [p for _, p in shown],
            [p for _, p in want[: len(shown)]],
            rtol=1e-5,
            atol=1e-6,
            err_msg=what,
        )

    eventually(check, timeout=15)


def shown_alpha(root) -> list[float]:
    return root.locator(".aw-token[data-alpha]").evaluate_all(
        "els => els.map(e => [Number(e.dataset.index), Number(e.dataset.alpha)])"
        ".sort((a, b) => a[0] - b[0]).map(p => p[1])"
    )


def test_hiding_the_keys_state_changes_the_prediction_to_the_cores(nb, artifacts):
    root = nb.cell(CELL_W).locator(".attn-widget")
    slot, T, k = nb.run_json("print(json.dumps([slot, w.T, w.t]))")
    assert 1 <= slot < k <= T  # the answering step reads the key's state
    plain = nb.run_json("print(json.dumps(core([])))")
    hidden = nb.run_json("print(json.dumps(core([slot])))")
    assert_bars(root, plain["bars"], "before the knockout")
    # the bars must visibly change for the test to mean anything (on a demo whose
    # model needs the key's state the answer changes too; that is the lesson's
    # benchmark's claim, not this test's)
    before, after = dict(plain["bars"]), dict(hidden["bars"])
    assert max(abs(before[label] - after[label]) for label in before) > 0.01

    mode = root.get_by_role("button", name="Knockout", exact=True)
    expect(mode).to_have_attribute("aria-pressed", "false")
    mode.click()
    expect(mode).to_have_attribute("aria-pressed", "true")
    token = root.locator(f'.aw-token[data-index="{slot}"]')
    token.click()
    expect(root).to_have_attribute("data-t", str(k))  # in knockout mode a click does not move
    # a str would have to equal the whole class attribute: the pattern is a regex
    expect(token).to_have_class(HIDDEN)
    expect(token).to_have_attribute("aria-label", f"{token.text_content()}: hidden from attention")
    expect(root.locator(".aw-token.is-hidden")).to_have_count(1)
    eventually(lambda: _equal(nb.run_json("print(json.dumps(w.knockout))"), [slot]), timeout=15)
    assert nb.run_json("print(json.dumps(heard))") == [[slot]]
    assert_bars(root, hidden["bars"], "with the key's state hidden")
    # its α is exactly 0, and the other weights are the core's, renormalised
    alpha = eventually(lambda: _alpha_with_zero(root, slot, k), timeout=15)
    np.testing.assert_allclose(alpha, hidden["alpha"][:k], rtol=1e-5, atol=1e-7)
    root.screenshot(path=artifacts / "knockout-hidden.png")

    token.press("k")  # the focused token: shown to attention again
    expect(token).not_to_have_class(HIDDEN)
    eventually(lambda: _equal(nb.run_json("print(json.dumps(w.knockout))"), []), timeout=15)
    assert nb.run_json("print(json.dumps(heard))") == [[slot], []]
    assert_bars(root, plain["bars"], "after showing the key's state again")
    np.testing.assert_allclose(
        eventually(lambda: _alpha_len(root, k), timeout=15),
        plain["alpha"][:k],
        rtol=1e-5,
        atol=1e-7,
    )
    mode.click()
    expect(mode).to_have_attribute("aria-pressed", "false")
    root.screenshot(path=artifacts / "knockout-restored.png")


def _equal(got, want):
    assert got == want, (got, want)
    return got


def _alpha_with_zero(root, slot: int, k: int) -> list[float]:
    alpha = _alpha_len(root, k)
    assert alpha[slot] == 0.0, alpha
    return alpha


def _alpha_len(root, k: int) -> list[float]:
    alpha = shown_alpha(root)
    assert len(alpha) == k, alpha
    return alpha
