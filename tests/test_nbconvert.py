"""The nbconvert preprocessor (attn_widget.nbconvert) without a browser: each
AttentionWidget or comparison output becomes HTML that draws it offline from
the notebook's saved state, the front end goes in once, the saved steps and
traits go through unchanged, and anything it cannot read is left as it was.
(tests/e2e/test_nbconvert_e2e.py converts a notebook and opens the HTML in
Chromium with every request outside file:// aborted.)"""

from __future__ import annotations

import base64
import copy
import json
import subprocess
import sys

import nbformat
import numpy as np
import pytest
import torch
from ipywidgets import HBox, IntSlider
from ipywidgets.embed import embed_data
from test_export import HOSTILE, Page

from attn_widget import SelfAttentionRNN, compare
from attn_widget.nbconvert import STATE, VIEW, OfflineWidgets, offline_widgets
from attn_widget.protocol import unpack_snapshot
from attn_widget.render.bundle import STATIC
from attn_widget.render.export import EXPORT_FORMAT
from attn_widget.widget import AttentionWidget

REPO = STATIC.parent.parent


def notebook_of(*shown) -> nbformat.NotebookNode:
    """A notebook whose cells show each widget of ``shown`` as Lab saves it: a
    widget-view output, and every model's state in metadata.widgets."""
    for w in shown:
        for panel in getattr(w, "panels", [w]):
            if isinstance(panel, AttentionWidget):
                panel.snapshot()  # what the hook after each cell does
    data = embed_data(views=list(shown), drop_defaults=False)
    nb = nbformat.v4.new_notebook()
    nb.metadata["widgets"] = {STATE: data["manager_state"]}
    for w, spec in zip(shown, data["view_specs"], strict=True):
        out = nbformat.v4.new_output(
            "display_data", data={"text/plain": repr(w), VIEW: spec}, metadata={}
        )
        nb.cells.append(nbformat.v4.new_code_cell("w", outputs=[out]))
    return nb


def blocks(html: str) -> list[dict]:
    """The data blocks of an output's HTML, parsed."""
    page = Page(html)
    found = []
    for attrs, text in page.elements("script"):
        if attrs.get("type") == "application/json":
            assert attrs["class"] == "attn-widget-state"
            found.append(json.loads(text))
    return found


def widget(T=6, seed=0, tokens=None, **kw) -> AttentionWidget:
    torch.manual_seed(seed)
    return AttentionWidget(SelfAttentionRNN(3, 5), tokens=tokens, inputs=torch.randn(T, 3), **kw)


def test_a_widget_becomes_html_that_holds_its_saved_state():
    w = widget(tokens=HOSTILE[:6], title="a title")
    w.goto(4)
    nb = notebook_of(w)
    saved = copy.deepcopy(nb.metadata.widgets[STATE]["state"][w.model_id])
    assert offline_widgets(nb) == 1
    (output,) = nb.cells[0].outputs
    assert set(output.data) == {"text/html", "text/plain"}
    assert output.data["text/plain"] == repr(w)
    assert "widgets" not in nb.metadata  # no widget left for the widget manager (a CDN)
    html = output.data["text/html"]
    page = Page(html)
    scripts = page.elements("script")
    assert [a.get("type") for a, _ in scripts] == ["application/json", None]
    assert scripts[1][1] == (STATIC / "standalone.js").read_text(encoding="utf-8")
    assert len(page.elements("style")) == 1
    for _tag, attrs in page.tags:  # nothing to fetch, no handlers
        assert not {"src", "href"} & set(attrs) and not any(n.startswith("on") for n in attrs)
    (state,) = blocks(html)
    assert state["format"] == EXPORT_FORMAT and state["binary"] == ["_snapshot"]
    (panel,) = state["panels"]
    # the view's traits as saved, with nothing that needs a kernel
    for name in ("tokens", "T", "title", "update_rule", "align_name", "z_layout", "version"):
        assert panel[name] == saved["state"][name], name
    assert panel["tokens"] == HOSTILE[:6] and panel["t"] == 4
    assert panel["editable"] is False and panel["accepts_text"] is False
    assert panel["vocabulary"] == [] and panel["shading"] == "alpha"
    assert not any(n in panel for n in ("_esm", "_css", "layout", "_model_name", "_view_name"))
    # the saved snapshot itself: the stepper's steps, bit for bit (the same float32
    # encoding of the same records, decoded twice)
    (buffer,) = saved["buffers"]
    assert panel["_snapshot"] == buffer["data"]
    _, steps, _ = unpack_snapshot(base64.b64decode(panel["_snapshot"]))
    assert panel["frontier"] == len(steps) >= 4
    for step, record in zip(steps, w.stepper.steps, strict=False):
        np.testing.assert_array_equal(step["alpha"], record.alpha.numpy())
    # no token closes the block: the text between the tags is the whole JSON
    assert html.count("</script>") == 2


def test_the_front_end_goes_in_once_per_notebook():
    a, b = widget(seed=1), widget(seed=2)
    nb = notebook_of(a, b)
    assert offline_widgets(nb) == 2
    first, second = (cell.outputs[0].data["text/html"] for cell in nb.cells)
    assert "<style>" in first and first.rstrip().endswith("</script>")
    assert "<style>" not in second
    assert [a.get("type") for a, _ in Page(second).elements("script")] == ["application/json"]
    assert blocks(second)[0]["panels"][0]["tokens"] == b.tokens
    # the second is its data block alone; the first carries the front end (~56 kB)
    assert second.startswith('<script type="application/json"') and second.endswith("</script>")
    assert len(first) - len(second) > 40_000


def test_a_comparison_is_one_block_whose_panels_move_together():
    torch.manual_seed(0)
    cmp = compare(
        SelfAttentionRNN(3, 4, update="eq1"),
        SelfAttentionRNN(3, 4),
        inputs=torch.randn(5, 3),
        direction="column",
    )
    cmp.goto(3)
    nb = notebook_of(cmp)
    assert offline_widgets(nb) == 1
    (state,) = blocks(nb.cells[0].outputs[0].data["text/html"])
    assert state["direction"] == "column"
    leader, follower = state["panels"]
    assert [leader["update_rule"], follower["update_rule"]] == ["eq1", "eq4"]
    assert leader["show_controls"] is True and follower["show_controls"] is False
    assert leader["t"] == follower["t"] == 3


def test_a_box_whose_panels_are_not_linked_is_left_to_the_widget_manager():
    box = HBox([widget(seed=1), widget(seed=2)])
    nb = notebook_of(box)
    assert offline_widgets(nb) == 0
    assert VIEW in nb.cells[0].outputs[0].data and "widgets" in nb.metadata


def test_other_widgets_keep_the_widget_state():
    w, slider = widget(), IntSlider(3)
    nb = notebook_of(w, slider)
    assert offline_widgets(nb) == 1
    assert VIEW in nb.cells[1].outputs[0].data
    assert slider.model_id in nb.metadata.widgets[STATE]["state"]


def test_what_cannot_be_read_is_left_as_it_was_with_a_warning():
    w = widget()
    nb = notebook_of(w)
    nb.metadata.widgets[STATE]["state"][w.model_id]["buffers"][0]["data"] = base64.b64encode(
        b"ATW0 not a snapshot"
    ).decode()
    before = copy.deepcopy(nb)
    heard: list[str] = []
    assert offline_widgets(nb, warn=heard.append) == 0
    assert nb == before
    (message,) = heard
    assert w.model_id in message and "not an attn_widget snapshot" in message


def test_a_notebook_without_widget_state_is_unchanged():
    nb = notebook_of(widget())
    del nb.metadata["widgets"]
    before = copy.deepcopy(nb)
    assert offline_widgets(nb) == 0 and nb == before


@pytest.mark.parametrize("name", ["01_quickstart", "03_forgetting", "07_lstmn"])
def test_every_widget_of_a_saved_tutorial(name):
    """The shipped tutorials, as saved: each widget output (03 and 07 hold a
    comparison) becomes one block with the saved tokens and position."""
    nb = nbformat.read(REPO / "notebooks" / f"{name}.ipynb", as_version=4)
    saved = nb.metadata.widgets[STATE]["state"]
    views = [
        (cell, out)
        for cell in nb.cells
        for out in cell.get("outputs", [])
        if VIEW in out.get("data", {})
    ]
    shown = [saved[out.data[VIEW]["model_id"]]["state"] for _, out in views]
    assert offline_widgets(nb) == len(views) > 0
    assert "widgets" not in nb.metadata
    for (_, out), model in zip(views, shown, strict=True):
        (state,) = blocks(out.data["text/html"])
        children = [c.removeprefix("IPY_MODEL_") for c in model.get("children", [])]
        want = [saved[c]["state"] for c in children] if children else [model]
        assert [p["tokens"] for p in state["panels"]] == [m["tokens"] for m in want]
        assert [p["t"] for p in state["panels"]] == [m["t"] for m in want]


def test_nbconvert_runs_it_by_its_class_name(tmp_path):
    """The documented command line, without executing: the HTML holds the data
    block and the bundle, and no widget manager from a CDN."""
    nbformat.write(
        notebook_of(widget(tokens=["one", "two", "three", "four", "five", "six"])),
        tmp_path / "n.ipynb",
    )
    assert OfflineWidgets().preprocess(nbformat.v4.new_notebook(), {})[1] == {}
    subprocess.run(
        [
            sys.executable,
            "-m",
            "jupyter",
            "nbconvert",
            "--to",
            "html",
            "--HTMLExporter.preprocessors=attn_widget.nbconvert.OfflineWidgets",
            str(tmp_path / "n.ipynb"),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    html = (tmp_path / "n.html").read_text(encoding="utf-8")
    assert html.count('class="attn-widget-state"') == 1
    assert "html-manager" not in html and "application/vnd.jupyter.widget-view+json" not in html
    assert (STATIC / "standalone.js").read_text(encoding="utf-8") in html
