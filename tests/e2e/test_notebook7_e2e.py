"""The quickstart in Jupyter Notebook 7 (the ``notebook`` package), not JupyterLab.

Notebook 7 runs on the same server as Lab (``/notebooks/<name>``) and is built
from Lab's own packages, but its app listens for shortcuts on ``document`` in
the capture phase, before any output sees the key: in command mode ← and →
are "move to the heading above / below", and the widget's own ← and → must
still step it when it has focus (issue #11). Each step is checked in the DOM
(``data-t`` on the widget root) and in the kernel (``w.t``).
"""

from __future__ import annotations

import shutil

import pytest
from labdriver import REPO, LabNotebook
from playwright.sync_api import expect

QUICKSTART = "01_quickstart.ipynb"
NAME = "01_quickstart_notebook7.ipynb"  # its own kernel, apart from the Lab tests' quickstart
OPENS = 15  # the quickstart leaves the widget at its last position, 15 (".")
START = 12  # where the moves below start: two steps forward and one back fit before 15


@pytest.fixture(scope="module")
def nb7(page, lab_server):
    shutil.copyfile(REPO / "notebooks" / QUICKSTART, lab_server.root / NAME)
    nb = LabNotebook(page, lab_server, NAME, ui="notebook").open()
    assert nb.page.evaluate("() => window.jupyterapp.name") == "Jupyter Notebook"
    outputs = nb.run_all()
    assert f"position: {OPENS} of 15" in outputs[8]
    return nb


@pytest.fixture(scope="module")
def widget(nb7):
    """The first AttentionWidget view on the page (the quickstart's ``w``)."""
    view = nb7.page.locator(".attn-widget").first
    expect(view).to_be_visible(timeout=30_000)
    return view


def python_t(nb) -> int:
    return int(nb.run("print(w.t)").strip())


def focus(widget) -> None:
    """Click the widget root (its padding, away from the buttons) so it has focus.
    Running a cell moves the focus to that cell, so each key press needs this."""
    widget.click(position={"x": 4, "y": 4})
    assert widget.evaluate("e => document.activeElement === e"), "the widget did not take focus"


def test_quickstart_renders_in_notebook7(nb7, widget, artifacts):
    expect(widget).to_have_attribute("data-t", str(OPENS))
    assert python_t(nb7) == OPENS
    expect(widget.locator(".aw-token.is-current")).to_have_attribute("data-index", str(OPENS))
    page = nb7.page
    page.set_viewport_size({"width": 1280, "height": 1400})
    widget.evaluate("e => e.scrollIntoView({block: 'center'})")
    page.screenshot(path=artifacts / "notebook7_quickstart.png")
    page.set_viewport_size({"width": 1280, "height": 900})


def test_arrow_keys_step_the_focused_widget(nb7, widget):
    nb7.run(f"w.t = {START}")
    expect(widget).to_have_attribute("data-t", str(START))
    t = START
    for key, move in [("ArrowRight", 1), ("ArrowRight", 1), ("ArrowLeft", -1)]:
        focus(widget)
        nb7.page.keyboard.press(key)
        t += move
        expect(widget, f"{key} did not move the widget to {t}").to_have_attribute("data-t", str(t))
        assert python_t(nb7) == t, f"after {key}"


def test_step_forward_button(nb7, widget):
    nb7.run(f"w.t = {START}")
    expect(widget).to_have_attribute("data-t", str(START))
    widget.get_by_role("button", name="Step forward").click()
    t = START + 1
    expect(widget).to_have_attribute("data-t", str(t))
    expect(widget.locator(".aw-token.is-current")).to_have_attribute("data-index", str(t))
    assert python_t(nb7) == t
    # Notebook 7 itself may throw these while it loads, not the widget's doing: a
    # race in its shortcuts plugin (jupyter/notebook#7862), and a command of Lab's
    # file browser, which Notebook 7's notebook page does not have.
    upstream = {
        "Cannot read properties of undefined (reading 'schema')",
        "Command 'filebrowser:open-path' not registered.",
    }
    assert [e for e in nb7.page.page_errors if e not in upstream] == []


def test_the_scrubber_keeps_its_own_arrow_keys(nb7, widget):
    nb7.run(f"w.t = {START}")
    expect(widget).to_have_attribute("data-t", str(START))
    scrubber = widget.get_by_role("slider", name="Position")
    scrubber.focus()
    nb7.page.keyboard.press("ArrowLeft")  # the range input's own step, not Notebook 7's
    expect(widget).to_have_attribute("data-t", str(START - 1))
    assert python_t(nb7) == START - 1


def test_typing_a_sentence_is_never_a_notebook_shortcut(nb7, widget):
    """In command mode Notebook 7 takes single letters (a, b: insert a cell; d d:
    delete one; m, y: change its type; j, k: move).  Typed into the widget's
    text box they are the sentence's, and Enter reads it in the kernel."""
    page = nb7.page
    cells = page.evaluate("() => window.__attnPanel.content.model.cells.length")
    box = widget.get_by_role("textbox", name="Your sentence")
    box.click()
    sentence = "a baby dd my jk zebra is here"
    page.keyboard.type(sentence)
    expect(box).to_have_value(sentence)
    page.keyboard.press("Enter")
    want = ["a", "baby", "dd", "my", "jk", "zebra", "is", "here"]
    expect(widget.locator(".aw-token")).to_have_count(len(want) + 1)
    expect(widget).to_have_attribute("data-t", "0")
    tokens = nb7.run("print(w.tokens, w.unknown)").strip()
    vocab = nb7.run_json("import json; print(json.dumps(w.vocabulary))")
    shown = [t if t in vocab else "<unk>" for t in want]
    expect(widget.locator(".aw-token")).to_have_text(["⟨start⟩", *shown])
    unknown = [[i + 1, t] for i, t in enumerate(want) if t not in vocab]
    assert tokens == f"{shown} {unknown}"
    assert unknown, "the sentence should hold a word the model does not know"
    # no cell was inserted, deleted or changed by the letters typed
    assert page.evaluate("() => window.__attnPanel.content.model.cells.length") == cells + 2
