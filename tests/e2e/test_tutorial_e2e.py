"""The quickstart notebook as a new user meets it: opened in JupyterLab, run, read.

The widget's saved state must show the trained demo to a reader who has not
run anything, and running the notebook must show the lookup demo (``demo()``)
at the step that answers, attending to the value paired with the query key.
The README's screenshot is taken here: every run saves it among the artifacts,
and ``ATTN_UPDATE_SCREENSHOT=1`` also copies it to docs/widget.png (a test run
should not rewrite a tracked file).
"""

from __future__ import annotations

import os
import shutil

import pytest
from labdriver import REPO, LabNotebook, eventually
from playwright.sync_api import expect

QUICKSTART = "01_quickstart.ipynb"
# "k3 v6 k6 v4 k4 v1 k7 v7 k0 v4 k2 v4 ? k2 .": the query is k2, its value v4 = x_12,
# and the answering step reads "." = x_15.
ANSWER, CURRENT = 12, 15
POSITION_CELL = 8  # the cell that prints "position: 15 of 15"


def shown(widget) -> dict[int, float]:
    pairs = widget.locator("[data-alpha]").evaluate_all(
        "els => els.map(e => [Number(e.dataset.index), Number(e.dataset.alpha)])"
    )
    return dict(pairs)


def check_demo_view(widget) -> dict[int, float]:
    expect(widget.locator('[aria-current="step"]')).to_have_attribute(
        "data-index", str(CURRENT), timeout=30_000
    )
    expect(widget.locator(f'[data-index="{CURRENT}"]')).to_have_text(".")
    expect(widget.locator(f'[data-index="{ANSWER}"]')).to_have_text("v4")

    def weights():
        alpha = shown(widget)
        assert sorted(alpha) == list(range(CURRENT)), alpha
        return alpha

    alpha = eventually(weights, timeout=15)
    assert sum(alpha.values()) == pytest.approx(1.0, abs=1e-5)
    assert max(alpha, key=alpha.get) == ANSWER, f"the step attends most to {alpha}"
    return alpha


@pytest.fixture(scope="module")
def quickstart(lab_server):
    shutil.copyfile(REPO / "notebooks" / QUICKSTART, lab_server.root / QUICKSTART)
    return QUICKSTART


def test_saved_notebook_shows_the_demo_before_anything_runs(page, lab_server, quickstart):
    # Lab shows the widget outputs of a notebook its reader has not trusted as
    # plain text; trusting it (File › Trust Notebook) is the reader's one step.
    lab_server.trust(lab_server.root / quickstart)
    nb = LabNotebook(page, lab_server, quickstart).open()
    widget = nb.cell(3).locator(".attn-widget")
    expect(widget).to_be_visible(timeout=30_000)
    check_demo_view(widget)
    assert nb.page.evaluate("() => window.__attnPanel.content.model.cells.get(3).executionCount")


def test_running_the_quickstart_shows_the_value_attended(page, lab_server, quickstart, artifacts):
    nb = LabNotebook(page, lab_server, quickstart).open()
    outputs = nb.run_all()
    assert "position: 15 of 15" in outputs[POSITION_CELL]
    widget = nb.cell(3).locator(".attn-widget")
    alpha = check_demo_view(widget)
    assert alpha[ANSWER] > 0.9
    assert nb.run("print(w.t, w.tokens[w.t - 1])").strip() == "15 ."
    # Tall enough for the whole widget, centred so Lab's sticky toolbar covers none of it.
    page.set_viewport_size({"width": 1280, "height": 2000})
    widget.evaluate("e => e.scrollIntoView({block: 'center'})")
    widget.screenshot(path=artifacts / "quickstart.png")
    page.set_viewport_size({"width": 1280, "height": 900})
    if os.environ.get("ATTN_UPDATE_SCREENSHOT") == "1":
        shutil.copyfile(artifacts / "quickstart.png", REPO / "docs" / "widget.png")
