"""An LSTMN in the widget, in a real JupyterLab in headless Chromium.

The paper's cell steps like the SelfAttentionRNN does: Step moves the red
token, the shading is softmax of the stepper's scores s_{t,i}, Python's
``w.t`` follows, and the view shows the LSTMN's own equations (with the
departures from the paper in words), its summaries h̃ and m̃, the memory m
and the gates i, f, o with the candidate ĉ.
"""

from __future__ import annotations

import pytest
from labdriver import eventually
from playwright.sync_api import expect

TOKENS = ["the", "keys", "to", "the", "cabinet", "are", "here"]
T = len(TOKENS)
H = 6

SETUP = f"""
import json
import torch
from attn_widget import LSTMN, AttentionWidget

torch.manual_seed(0)
TOKENS = {TOKENS!r}
model = LSTMN(4, {H})
x = torch.randn(len(TOKENS), 4)
w = AttentionWidget(model, tokens=TOKENS, inputs=x)
"""
CELL_W = 1


@pytest.fixture(scope="module")
def nb(open_notebook):
    notebook = open_notebook("lstmn_e2e.ipynb", [SETUP, "w"])
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


def test_steps_with_the_kernel_and_shades_by_softmax_of_the_steppers_scores(nb, artifacts):
    nb.run("w.goto(0)")
    expect(root(nb)).to_have_attribute("data-t", "0")
    forward = root(nb).get_by_role("button", name="Step forward", exact=True)
    for k in range(1, 5):
        forward.click()
        expect(root(nb)).to_have_attribute("data-t", str(k))
        current = root(nb).locator('[aria-current="step"]')
        expect(current).to_have_attribute("data-index", str(k))
        expect(current).to_contain_text(TOKENS[k - 1])
        # α_{k-1,i} = softmax_i(s_{k-1,i}), recomputed in the kernel from the record
        want = nb.run_json(
            f"s = w.stepper.steps[{k - 1}]\n"
            "print(json.dumps([torch.softmax(s.scores, 0).tolist(), s.alpha.tolist()]))"
        )

        def check(k=k, want=want):
            shown = shown_alphas(nb)
            assert sorted(shown) == list(range(k))
            for i in range(k):
                assert shown[i] == pytest.approx(want[0][i], abs=1e-6)
                assert shown[i] == pytest.approx(want[1][i], abs=1e-6)

        eventually(check, timeout=10)
    assert int(nb.run("print(w.t)").strip()) == 4
    root(nb).screenshot(path=artifacts / "lstmn-widget.png")


def test_shows_the_lstmn_equations_tapes_and_gates(nb):
    nb.run("w.goto(3)")
    expect(root(nb)).to_have_attribute("data-t", "3")
    expect(root(nb)).to_have_attribute("data-model", "lstmn")
    tex = " ".join(root(nb).locator("annotation").all_text_contents())
    assert r"\tilde m_t = \sum_{i=0}^{t} \alpha_{t,i} m_i" in tex
    assert r"h_{t+1} = o_t \odot \tanh(m_{t+1})" in tex
    expect(root(nb).locator(".aw-departures")).to_contain_text("h₀ = m₀ = 0")
    labels = [
        e.text_content() for e in root(nb).locator(".aw-vector-label").all() if e.is_visible()
    ]
    assert labels == ["h_k", "h_k-1", "Δh", "h̃_k-1", "m̃_k-1", "m_k"]
    pieces = root(nb).locator(".aw-pieces [data-piece]")
    assert pieces.evaluate_all("els => els.map(e => e.dataset.piece)") == [
        "i", "f", "o", "c_hat", "m", "h",
    ]  # fmt: skip
    cells = pieces.evaluate_all("els => els.map(e => Number(e.dataset.cells))")
    assert cells == [H] * 6, cells
    # Each piece holds this step's values: hover every cell of each strip and read
    # the value it names against the kernel's record of step 2.
    record = nb.run_json(
        "s = w.stepper.steps[2]\n"
        "print(json.dumps({n: getattr(s, n).tolist() for n in ('i', 'f', 'o', 'c_hat', 'm', 'h')}))"
    )
    for name, values in record.items():
        strip = root(nb).locator(f'.aw-pieces [data-piece="{name}"]')
        box = strip.bounding_box()
        for i, want in enumerate(values):
            strip.hover(position={"x": (i + 0.5) * box["width"] / H, "y": box["height"] / 2})
            title = strip.get_attribute("title")
            assert title is not None and title.split("[")[1].startswith(f"{i}]"), title
            assert float(title.split("= ")[1]) == pytest.approx(want, rel=1e-5, abs=1e-6), title
    assert all(0.0 < v < 1.0 for v in record["f"])  # a gate is a sigmoid
    assert int(nb.run("print(w.t)").strip()) == 3
