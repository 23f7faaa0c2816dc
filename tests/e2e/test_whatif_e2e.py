"""What-if and your own sentence from the widget, in a real JupyterLab in
headless Chromium, on the shipped agreement model.

- A token is replaced from the widget (double-click, search, Enter): the
  kernel's tokens and its ``edits`` event follow; the α shown at every
  position is the core's α for the edited sentence; the positions up to the
  edited word are unchanged (their weights were chosen before reading it) and
  the later ones changed.  Undo brings the sentence back.
- A sentence with a word the vocabulary lacks is typed into the text box: the
  tokens shown are the kernel's, the unknown word shows as ``<unk>`` (marked,
  with the word typed), and the α at every position is the core's.
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

w = demo("agreement", text="the keys near the cabinet are lost .")
reference = demo_model("agreement")  # the same checkpoint, loaded apart from the widget
seen_edits = []
w.observe(lambda change: seen_edits.append(change["new"]), names="edits")

def core_alpha(words):
    # α of every step, from the core run on the words' embeddings
    with torch.no_grad():
        x = reference.embed(torch.tensor(reference.vocab.encode(words)))
        return reference.rnn(x).alpha.tolist()
"""
CELL_W = 1


@pytest.fixture(scope="module")
def nb(open_notebook):
    notebook = open_notebook("whatif_e2e.ipynb", [SETUP, "w"])
    expect(notebook.cell(CELL_W).locator(".attn-widget")).to_have_count(1)
    return notebook


def shown_alphas(root, k: int) -> list[float]:
    """The data-alpha of the shaded slots 0 … k-1 at position k."""
    return root.locator(".aw-token[data-alpha]").evaluate_all(
        "els => els.map(e => [Number(e.dataset.index), Number(e.dataset.alpha)])"
        ".sort((a, b) => a[0] - b[0]).map(p => p[1])"
    )


def walk(root, T: int) -> list[list[float]]:
    """Step from 0 to T with the widget's own button; the α shown at each position."""
    if root.get_attribute("data-t") != "0":  # Reset is disabled at 0
        root.get_by_role("button", name="Reset", exact=True).click()
    expect(root).to_have_attribute("data-t", "0")
    forward = root.get_by_role("button", name="Step forward", exact=True)
    seen = []
    for k in range(1, T + 1):
        forward.click()
        expect(root).to_have_attribute("data-t", str(k))
        seen.append(eventually(lambda k=k: _alphas_at(root, k), timeout=10))
    return seen


def _alphas_at(root, k):
    values = shown_alphas(root, k)
    assert len(values) == k, (k, values)
    return values


def assert_float32_equal(shown: list[float], want: list[float], what: str):
    """Equal as float32 up to a few units in the last place: the core's batched
    run sums in another order than the widget's stepper."""
    np.testing.assert_allclose(
        np.float32(shown),
        np.float32(want),
        rtol=1e-5,
        atol=1e-8,
        err_msg=f"{what}: the widget shows other weights",
    )


def test_replace_a_token_from_the_widget(nb, artifacts):
    root = nb.cell(CELL_W).locator(".attn-widget")
    tokens = nb.run_json("print(json.dumps(w.tokens))")
    T = len(tokens)
    before = nb.run_json("print(json.dumps(core_alpha(w.tokens)))")
    shown_before = walk(root, T)
    for k in range(1, T + 1):
        assert_float32_equal(shown_before[k - 1], before[k - 1][:k], f"position {k}")

    # double-click "cabinet" (x_5), search, choose "cabinets"
    root.locator('.aw-token[data-index="5"]').dblclick()
    chooser = root.get_by_role("dialog", name="Replace x5")
    expect(chooser).to_be_visible()
    search = chooser.get_by_role("searchbox", name="Search the vocabulary")
    expect(search).to_be_focused()
    search.fill("cabinets")
    expect(chooser.get_by_role("option", name="cabinets", exact=True)).to_have_attribute(
        "aria-selected", "true"
    )
    root.screenshot(path=artifacts / "whatif-chooser.png")
    search.press("Enter")
    expect(chooser).to_be_hidden()
    expect(root.locator('.aw-token[data-index="5"]')).to_have_text("cabinets")
    # the matrix's axes are labelled by the new word too
    expect(root.locator('.aw-cols .aw-axis-label[data-slot="5"]')).to_have_text("cabinets")

    edited = eventually(lambda: _kernel_tokens_changed(nb, tokens), timeout=15)
    assert edited == [*tokens[:4], "cabinets", *tokens[5:]]
    assert nb.run_json("print(json.dumps(w.edits))") == [[5, "cabinet", "cabinets"]]
    assert nb.run_json("print(json.dumps(seen_edits))") == [[[5, "cabinet", "cabinets"]]]

    after = nb.run_json("print(json.dumps(core_alpha(w.tokens)))")
    shown_after = walk(root, T)
    for k in range(1, T + 1):
        assert_float32_equal(shown_after[k - 1], after[k - 1][:k], f"position {k} after the edit")
    # positions 1 … 5 show steps 0 … 4, whose weights come from h_0 … h_4, made
    # before x_5 was read: unchanged.  From position 6 on, h_5 read the new word.
    for k in range(1, 6):
        assert shown_after[k - 1] == shown_before[k - 1], k
    for k in range(6, T + 1):
        assert shown_after[k - 1] != shown_before[k - 1], k
    root.screenshot(path=artifacts / "whatif-edited.png")

    root.get_by_role("button", name="Undo edit", exact=True).click()
    expect(root.locator('.aw-token[data-index="5"]')).to_have_text("cabinet")
    expect(root.get_by_role("button", name="Undo edit", exact=True)).to_be_hidden()
    assert nb.run_json("print(json.dumps([w.tokens, w.edits]))") == [tokens, []]
    assert_float32_equal(walk(root, T)[-1], before[-1][:T], "the last position after undo")


def _kernel_tokens_changed(nb, old):
    now = nb.run_json("print(json.dumps(w.tokens))")
    assert now != old
    return now


def test_type_a_sentence_with_an_unknown_word(nb, artifacts):
    root = nb.cell(CELL_W).locator(".attn-widget")
    box = root.get_by_role("textbox", name="Your sentence")
    box.fill("The zebra near the cabinets is lost.")
    box.press("Enter")
    want = ["the", "<unk>", "near", "the", "cabinets", "is", "lost", "."]
    expect(root.locator(".aw-token")).to_have_text(["⟨start⟩", *want])
    assert nb.run_json("print(json.dumps([w.tokens, w.unknown, w.t]))") == [
        want,
        [[2, "zebra"]],
        0,
    ]
    unknown = root.locator(".aw-token.is-unknown")
    expect(unknown).to_have_count(1)
    expect(unknown).to_have_attribute("data-word", "zebra")
    expect(unknown).to_have_attribute("data-index", "2")
    # the core reads what the tokenizer made of the typed words: "zebra" as <unk>
    core = nb.run_json(
        "print(json.dumps(core_alpha(['the', 'zebra', 'near', 'the', 'cabinets', 'is', "
        "'lost', '.'])))"
    )
    shown = walk(root, len(want))
    for k in range(1, len(want) + 1):
        assert_float32_equal(shown[k - 1], core[k - 1][:k], f"position {k} of the typed sentence")
    unknown.hover()
    note = re.compile("“zebra” is not in the model's vocabulary")
    expect(unknown).to_have_attribute("title", note)
    root.screenshot(path=artifacts / "whatif-typed.png")
