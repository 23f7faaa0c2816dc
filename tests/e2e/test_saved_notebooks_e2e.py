"""Every shipped tutorial, as a reader meets it before running anything.

Once trusted, each saved notebook must draw every one of its widgets from its
saved state alone: the tokens, the current (red) token at the saved
position, and at that step the weights α that the saved snapshot holds.
A screenshot of each goes to test-artifacts/ for a person to look at.
"""

from __future__ import annotations

import json
import shutil

import pytest
from labdriver import REPO, LabNotebook, eventually
from playwright.sync_api import expect

NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))
VIEW = "application/vnd.jupyter.widget-view+json"


def saved_widgets(path) -> list[tuple[int, int, dict]]:
    """(cell index, which .attn-widget of that cell, saved model state) of every
    AttentionWidget a widget output shows: itself, or the panels of a comparison."""
    nb = json.loads(path.read_text(encoding="utf-8"))
    state = nb["metadata"]["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]
    found = []
    for index, cell in enumerate(nb["cells"]):
        for output in cell.get("outputs", []):
            view = output.get("data", {}).get(VIEW)
            if view is None:
                continue
            shown = state[view["model_id"]]["state"]
            children = [c.removeprefix("IPY_MODEL_") for c in shown.get("children", [])]
            panels = [state[c]["state"] for c in children] if children else [shown]
            found += [(index, j, panel) for j, panel in enumerate(panels)]
    return found


def test_every_tutorial_saves_its_widgets():
    assert len(NOTEBOOKS) == 8
    for path in NOTEBOOKS:
        assert saved_widgets(path), f"{path.name} saved no widget"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_saved_widgets_render_once_trusted(page, lab_server, artifacts, path):
    shutil.copyfile(path, lab_server.root / path.name)
    lab_server.trust(lab_server.root / path.name)
    nb = LabNotebook(page, lab_server, path.name).open()
    for index, j, state in saved_widgets(path):
        widget = nb.cell(index).locator(".attn-widget").nth(j)
        # Lab restores saved widgets after asking the notebook's new kernel for its
        # own; on a loaded 2-core machine that kernel took over 30 s to answer.
        expect(widget).to_be_visible(timeout=90_000)
        tokens = widget.locator("[data-index]")
        expect(tokens).to_have_count(len(state["tokens"]) + 1)  # ⟨start⟩ and each token
        expect(widget.locator("math").first).to_be_attached()
        # no kernel answers a saved widget: no edits or text box that could not work
        expect(widget.get_by_role("button", name="Replace a token")).to_be_hidden()
        expect(widget.get_by_role("textbox", name="Your sentence")).to_be_hidden()
        k = state["t"]
        if k == 0:
            continue
        current = widget.locator('[aria-current="step"]')
        expect(current).to_have_attribute("data-index", str(k), timeout=15_000)
        expect(current).to_have_text(state["tokens"][k - 1])
        if state["update_rule"] != "eq1":

            def weights(widget=widget, k=k):
                alpha = widget.locator("[data-alpha]").evaluate_all(
                    "els => els.map(e => [Number(e.dataset.index), Number(e.dataset.alpha)])"
                )
                assert sorted(i for i, _ in alpha) == list(range(k)), alpha
                return dict(alpha)

            alpha = eventually(weights)
            assert sum(alpha.values()) == pytest.approx(1.0, abs=1e-4)
        status = widget.locator(".aw-status").text_content()
        assert "disconnected" not in status and "error" not in status, status
        widget.evaluate("e => e.scrollIntoView({block: 'center'})")
        widget.screenshot(path=artifacts / f"saved-{path.stem}-cell{index}-{j}.png")
    assert not page.page_errors, page.page_errors
