"""A widget made before a page reload offers its edits after it.

The view offers the pencil and the text box only once a kernel has answered it
(a saved notebook opened with no kernel behind its widgets must not offer
controls that cannot work: tests/e2e/test_saved_notebooks_e2e.py).  After a
reload (as after ``%pip install``), JupyterLab reconnects to the same kernel
and draws the widget again from the kernel's live model: that view must ask
the kernel and get its answer by itself, with no cell run, and then offer its
edits, which work.
"""

from __future__ import annotations

import pytest
from labdriver import LabNotebook, write_notebook
from playwright.sync_api import expect

NAME = "reload_e2e.ipynb"
SETUP = """
from attn_widget import demo
w = demo("agreement")
w.goto(3)
"""


@pytest.mark.parametrize("ui", ["lab", "notebook"])
def test_a_widget_made_before_a_reload_offers_its_edits_after_it(page, lab_server, artifacts, ui):
    name = f"{ui}_{NAME}"
    write_notebook(lab_server.root, name, [SETUP, "w"])
    nb = LabNotebook(page, lab_server, name, ui=ui).open()
    nb.run_all()
    root = nb.cell(1).locator(".attn-widget")
    expect(root.get_by_role("button", name="Replace a token")).to_be_visible()
    # keep the outputs (the widget's view) in the file, as a user's save does
    page.evaluate("async () => { await window.jupyterapp.commands.execute('docmanager:save'); }")
    expect(page.locator(".jp-mod-dirty")).to_have_count(0)
    kernel = page.evaluate("() => window.__attnPanel.sessionContext.session.kernel.id")

    page.reload()
    nb = LabNotebook(page, lab_server, name, ui=ui).open()  # waits for the same kernel, idle
    assert page.evaluate("() => window.__attnPanel.sessionContext.session.kernel.id") == kernel
    root = nb.cell(1).locator(".attn-widget")
    expect(root).to_have_count(1, timeout=30_000)
    expect(root).to_have_attribute("data-t", "3")
    # no cell has run since the reload: the view asked the kernel itself
    pencil = root.get_by_role("button", name="Replace a token")
    box = root.get_by_role("textbox", name="Your sentence")
    expect(pencil).to_be_visible(timeout=15_000)
    expect(box).to_be_visible()
    root.screenshot(path=artifacts / f"reload-edits-offered-{ui}.png")

    # and they work: a sentence typed after the reload is read by the kernel
    box.fill("the author is famous .")
    box.press("Enter")
    expect(root.locator(".aw-token")).to_have_text(
        ["⟨start⟩", "the", "author", "is", "famous", "."]
    )
    assert nb.run("print(w.tokens)").strip() == "['the', 'author', 'is', 'famous', '.']"
    # Notebook 7 itself throws these while it loads (as test_notebook7_e2e.py says)
    upstream = {
        "Cannot read properties of undefined (reading 'schema')",
        "Command 'filebrowser:open-path' not registered.",
    }
    assert [e for e in page.page_errors if e not in upstream] == []
