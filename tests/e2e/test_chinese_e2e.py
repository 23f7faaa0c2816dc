"""A Chinese sentence in the widget, in a real JupyterLab in headless Chromium:
stepped by clicks, and its α matrix labelled in columns a reader can read.

One notebook serves the module: ``w`` reads "我喜欢在下雨天读书。你呢？" with a
TextRNN whose vocabulary jieba made (rjieba, in the [test] extra), and ``w_mix``
shows tokens in many scripts (Chinese, Arabic, emoji, Greek, Hangul, a Latin
word and a five-character Chinese word).  The screen has two pixels per CSS
pixel, so the screenshots show 10 px CJK glyphs as a HiDPI screen does.

The CJK glyphs need a CJK font in the browser: scripts/test.sh installs
Debian's fonts-wqy-microhei (1.6 MB).  A missing one fails the font test, by name.
"""

from __future__ import annotations

import io
import itertools
import json
import re
import subprocess

import numpy as np
import pytest
from playwright.sync_api import expect

DEVICE_SCALE_FACTOR = 2  # read by conftest's page fixture

SENTENCE = "我喜欢在下雨天读书。你呢？"
WORDS = ["我", "喜欢", "在", "下雨天", "读书", "。", "你", "呢", "？"]  # jieba's words
T = len(WORDS)
MIX = ["我们", "مرحبا", "😀", "注意力机制", "cabinets", "Ωμέγα", "학교에", "下雨天", "ok"]

SETUP = f"""
import json
import torch
from attn_widget import AttentionWidget
from attn_widget.text import TextRNN, Vocab, word_tokenize

torch.manual_seed(0)
model = TextRNN(Vocab(word_tokenize({SENTENCE!r}, segmenter="jieba")), 8, 16)
assert model.segmenter == "jieba"
w = AttentionWidget.from_text(model, {SENTENCE!r})
MIX = {MIX!r}
w_mix = AttentionWidget(model.rnn, tokens=MIX, inputs=torch.randn(len(MIX), 8))
w_mix.goto(len(MIX))
"""
CELL_W, CELL_MIX = 1, 2
CJK = re.compile(r"[\u3400-\u9fff\uac00-\ud7af]")


@pytest.fixture(scope="module")
def nb(open_notebook):
    notebook = open_notebook("chinese_e2e.ipynb", [SETUP, "w", "w_mix"])
    for cell in (CELL_W, CELL_MIX):
        expect(notebook.cell(cell).locator(".attn-widget")).to_have_count(1)
    return notebook


def root(nb, cell=CELL_W):
    return nb.cell(cell).locator(".attn-widget")


def test_a_chinese_sentence_steps_word_by_word(nb, artifacts):
    nb.run("w.goto(0)")
    widget = root(nb)
    expect(widget).to_have_attribute("data-t", "0")
    shown = widget.locator(".aw-token[data-index]:not([data-index='0'])").all_text_contents()
    assert shown == WORDS
    forward = widget.get_by_role("button", name="Step forward", exact=True)
    for k in range(1, 5):
        forward.click()
        current = widget.locator('[aria-current="step"]')
        expect(current).to_have_count(1)
        expect(current).to_have_attribute("data-index", str(k))
        expect(current).to_have_text(WORDS[k - 1])
    # The current token is drawn red: the widget's --aw-current, rgb(214, 39, 40).
    assert current.evaluate("e => getComputedStyle(e).backgroundColor") == "rgb(214, 39, 40)"
    assert nb.run_json("print(json.dumps([w.t, w.tokens[w.t - 1]]))") == [4, "下雨天"]
    row = widget.locator(".aw-rows .aw-axis-label.is-current")
    expect(row).to_have_text("下雨天")
    widget.screenshot(path=artifacts / "chinese-widget.png")


# Each character of a label, where it is drawn (a Range per code point).
_JS_CHARS = """
(e) => {
  const text = e.firstChild, out = [];
  let at = 0;
  for (const ch of e.textContent) {
    const r = document.createRange();
    r.setStart(text, at); r.setEnd(text, at + ch.length); at += ch.length;
    const b = r.getBoundingClientRect();
    out.push({ch, x: b.x, y: b.y, w: b.width, h: b.height});
  }
  const b = e.getBoundingClientRect(), s = getComputedStyle(e);
  return {text: e.textContent, cls: e.className, slot: Number(e.dataset.slot), chars: out,
          box: {x: b.x, y: b.y, w: b.width, h: b.height}, font: parseFloat(s.fontSize),
          fits: e.scrollHeight <= e.clientHeight + 1 && e.scrollWidth <= e.clientWidth + 1};
}
"""


def column_labels(nb, cell):
    return [
        label.evaluate(_JS_CHARS)
        for label in root(nb, cell).locator(".aw-cols .aw-axis-label").all()
    ]


@pytest.mark.parametrize("cell", [CELL_W, CELL_MIX])
def test_column_labels_take_the_room_they_need(nb, cell):
    nb.run("w.goto(len(w.tokens))")
    labels = column_labels(nb, cell)
    words = WORDS if cell == CELL_W else MIX
    assert [label["text"] for label in labels] == ["⟨start⟩", *words]
    matrix = root(nb, cell).locator("canvas.aw-matrix").bounding_box()
    for label in labels:
        text, box, em = label["text"], label["box"], label["font"]
        chars = label["chars"]
        upright = bool(CJK.search(text)) or text == "😀" or text in "。？"
        assert ("is-upright" in label["cls"]) == upright, label
        # over its own column, as wide as a glyph (not a sliver), below the matrix
        centre = (box["x"] + box["w"] / 2 - matrix["x"]) / matrix["width"]
        assert abs(centre - (label["slot"] + 0.5) / len(labels)) < 0.5 / len(labels), label
        assert box["w"] >= 0.95 * em and box["y"] >= matrix["y"] + matrix["height"], label
        if upright:
            # one character under the next, in reading order, each upright and whole
            for a, b in itertools.pairwise(chars):
                assert b["y"] >= a["y"] + a["h"] - 1, (text, a, b)
                assert abs((a["x"] + a["w"] / 2) - (b["x"] + b["w"] / 2)) <= 1, (text, a, b)
            for c in chars:
                assert c["w"] >= 0.9 * em and c["h"] >= 0.9 * em, (text, c)
            shown = [c for c in chars if c["y"] + c["h"] <= box["y"] + box["h"] + 0.5]
            assert len(shown) == min(len(chars), 4), label
            assert ("is-cut" in label["cls"]) == (len(chars) > 4), label
        else:
            # on its side: the line runs down the column, and all of it fits
            assert box["h"] > box["w"] or len(text) <= 2, label
            assert chars[-1]["y"] >= chars[0]["y"] or text == "مرحبا", label
            assert label["fits"], label
    boxes = sorted((label["box"] for label in labels), key=lambda b: b["x"])
    for a, b in itertools.pairwise(boxes):
        assert b["x"] >= a["x"] + a["w"] - 0.5, ("labels overlap", a, b)


def _ink(png: bytes) -> int:
    """Pixels darker than the white background: how much of the glyphs is drawn."""
    from PIL import Image

    grey = np.asarray(Image.open(io.BytesIO(png)).convert("L"), dtype=float)
    return float((255 - grey).sum() / 255)


# A copy of a label's text in its font, size and colour, laid flat on the page
# with room all around: the ink every glyph of the label should put on screen.
_JS_REFERENCE = """
(e) => {
  const s = getComputedStyle(e), frame = document.createElement('div');
  frame.id = 'aw-ink-frame';  // white all round, so the shot's edge pixels are white too
  Object.assign(frame.style, {position: 'fixed', left: '20px', top: '20px', zIndex: 100000,
    padding: '16px', background: '#fff'});
  const ref = document.createElement('span');
  ref.id = 'aw-ink-reference';
  ref.textContent = e.textContent;
  Object.assign(ref.style, {display: 'inline-block', padding: '8px', color: s.color,
    fontFamily: s.fontFamily, fontSize: s.fontSize, fontWeight: s.fontWeight,
    lineHeight: '2', whiteSpace: 'pre'});
  frame.append(ref);
  document.body.append(frame);
}
"""


@pytest.mark.parametrize("cell", [CELL_W, CELL_MIX])
def test_every_glyph_of_a_column_label_is_drawn_whole(nb, cell, artifacts):
    # A font without vertical metrics drew upright vertical text half a glyph
    # below its box, where it was cut off: the ink on screen is the judge.
    page = nb.page
    labels = root(nb, cell).locator(".aw-cols .aw-axis-label")
    for n in range(labels.count()):
        label = labels.nth(n)
        if "is-cut" in (label.get_attribute("class") or ""):
            continue  # shown in part on purpose
        drawn = _ink(label.screenshot())
        label.evaluate(_JS_REFERENCE)
        try:
            whole = _ink(page.locator("#aw-ink-reference").screenshot())
        finally:
            page.evaluate("() => document.getElementById('aw-ink-frame').remove()")
        text = label.text_content()
        assert whole > 0, text
        # the same glyphs at the same size: the ink agrees to rounding of the edges
        assert abs(drawn - whole) <= 0.05 * whole, (text, drawn, whole)
    name = "chinese-attention.png" if cell == CELL_W else "scripts-attention.png"
    root(nb, cell).locator(".aw-attention").screenshot(path=artifacts / name)


def _cjk_families() -> set[str]:
    done = subprocess.run(
        ["fc-list", ":lang=zh", "family"], capture_output=True, text=True, check=False
    )
    return {name.strip() for line in done.stdout.splitlines() for name in line.split(",")}


def test_chinese_labels_are_drawn_in_a_chinese_font(nb):
    families = _cjk_families()
    assert families, (
        "no font with Chinese glyphs (fc-list :lang=zh is empty): the browser draws "
        "boxes. Install one: apt-get install fonts-wqy-microhei (scripts/test.sh does)"
    )
    page = nb.page
    label = root(nb).locator(".aw-cols .aw-axis-label[data-slot='4']")
    label.evaluate("e => { e.id = 'aw-font-probe'; }")
    cdp = page.context.new_cdp_session(page)
    try:
        cdp.send("DOM.enable")
        cdp.send("CSS.enable")
        document = cdp.send("DOM.getDocument", {"depth": 0})["root"]["nodeId"]
        node = cdp.send("DOM.querySelector", {"nodeId": document, "selector": "#aw-font-probe"})
        fonts = cdp.send("CSS.getPlatformFontsForNode", {"nodeId": node["nodeId"]})["fonts"]
    finally:
        cdp.detach()
        label.evaluate("e => e.removeAttribute('id')")
    # slot 4 is 下雨天: its three glyphs all come from a font with Chinese in it
    assert sum(f["glyphCount"] for f in fonts) == 3, fonts
    assert all(f["familyName"] in families for f in fonts), (fonts, families)


def test_no_page_errors_and_nothing_fetched_from_outside(nb):
    assert json.dumps(nb.page.page_errors) == "[]"
    assert nb.page.external_requests == []
