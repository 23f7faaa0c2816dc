"""A model of the user's own in the widget, in a real JupyterLab in headless Chromium.

``examples/gru_attention.py`` is a GRU cell with additive attention over its
past states, written against the public ``StepModel`` protocol alone.  In the
widget it steps like the shipped models: Step moves the red token, the
shading is the stepper's α, the context strip holds the record's c, Python's
``w.t`` follows, and a what-if from the view is recomputed by the kernel.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from labdriver import eventually
from playwright.sync_api import expect

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
TOKENS = ["the", "keys", "to", "the", "cabinet", "are", "here"]
H = 6

SETUP = f"""
import json, sys
import torch
sys.path.insert(0, {str(EXAMPLES)!r})
from gru_attention import GRUAttention
from attn_widget import AttentionWidget

torch.manual_seed(0)
TOKENS = {TOKENS!r}
model = GRUAttention(4, {H})
x = torch.randn(len(TOKENS), 4)
w = AttentionWidget(model, tokens=TOKENS, inputs=x)
"""
CELL_W = 1


@pytest.fixture(scope="module")
def nb(open_notebook):
    notebook = open_notebook("own_model_e2e.ipynb", [SETUP, "w"])
    expect(notebook.cell(CELL_W).locator(".attn-widget")).to_have_count(1)
    return notebook


def root(nb):
    return nb.cell(CELL_W).locator(".attn-widget")


def shown_alphas(nb) -> dict[int, float]:
    pairs = (
        root(nb)
        .locator("[data-alpha]")
        .evaluate_all("els => els.map(e => [e.dataset.index, e.dataset.alpha])")
    )
    return {int(i): float(v) for i, v in pairs}


def test_steps_with_the_kernel_and_shades_by_the_models_alpha(nb, artifacts):
    nb.run("w.goto(0)")
    expect(root(nb)).to_have_attribute("data-t", "0")
    forward = root(nb).get_by_role("button", name="Step forward", exact=True)
    for k in range(1, 6):
        forward.click()
        expect(root(nb)).to_have_attribute("data-t", str(k))
        current = root(nb).locator('[aria-current="step"]')
        expect(current).to_have_attribute("data-index", str(k))
        expect(current).to_contain_text(TOKENS[k - 1])
        # the batched run of the user's model, in the kernel: the stepper's α is its α
        want = nb.run_json(
            f"print(json.dumps([model(x).alpha[{k - 1}, :{k}].tolist(), "
            f"w.stepper.steps[{k - 1}].alpha.tolist()]))"
        )

        def check(k=k, want=want):
            shown = shown_alphas(nb)
            assert sorted(shown) == list(range(k))
            for i in range(k):
                assert shown[i] == pytest.approx(want[0][i], abs=1e-6)
                assert shown[i] == pytest.approx(want[1][i], abs=1e-6)

        eventually(check, timeout=10)
    assert int(nb.run("print(w.t)").strip()) == 5
    assert nb.run("print(w.update_rule, w.align_name)").split() == ["gru", "additive"]
    root(nb).screenshot(path=artifacts / "own-model-widget.png")


def test_the_context_strip_holds_the_records_c(nb):
    nb.run("w.goto(4)")
    expect(root(nb)).to_have_attribute("data-t", "4")
    labels = [
        e.text_content() for e in root(nb).locator(".aw-vector-label").all() if e.is_visible()
    ]
    assert labels == ["h_k", "h_k-1", "Δh", "c_k-1"]
    c = nb.run_json("print(json.dumps(w.stepper.steps[3].c.tolist()))")
    strip = root(nb).locator(".aw-vectors .aw-strip").nth(3)
    box = strip.bounding_box()
    for i, want in enumerate(c):
        strip.hover(position={"x": (i + 0.5) * box["width"] / H, "y": box["height"] / 2})
        title = strip.get_attribute("title")
        assert title is not None and title.startswith(f"c_3[{i}]"), title
        assert float(title.split("= ")[1]) == pytest.approx(want, rel=1e-5, abs=1e-6), title


def test_a_what_if_from_the_view_is_recomputed_by_the_kernel(nb):
    nb.run("w.goto(5)")
    expect(root(nb)).to_have_attribute("data-t", "5")
    version = int(nb.run("print(w.version)").strip())
    root(nb).locator('.aw-token[data-index="2"]').dblclick()  # the chooser on x_2
    dialog = root(nb).get_by_role("dialog", name="Replace x2")
    expect(dialog).to_be_visible()
    expect(dialog.get_by_role("option")).to_have_count(1)  # vector inputs: only ⟨0⟩
    dialog.locator("[data-zero]").click()
    eventually(lambda: int(nb.run("print(w.version)").strip()) > version or None, timeout=15)
    expect(root(nb).locator('.aw-token[data-index="2"]')).to_contain_text("⟨0⟩")
    check = nb.run_json(
        "x0 = x.clone(); x0[1] = 0\n"
        "w.goto(w.T)\n"
        "with torch.no_grad():\n"
        "    print(json.dumps(float((w.trace().h - model(x0).h).abs().max())))"
    )
    assert check < 1e-6  # float32: stepped against batched, to rounding
