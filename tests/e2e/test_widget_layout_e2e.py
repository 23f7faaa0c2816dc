"""How the widget looks, measured in a real JupyterLab in headless Chromium:
no layout jump, strips that never wrap, the α matrix shows only the rows up to
the current step with its bars on the same columns and tokens on both axes,
icons drawn as SVG, and a dark theme whose empty and near-zero cells are dark.

One notebook serves the module: ``w`` (8 tokens, H = 8) and ``w_wide``
(H = 48, the size that once pushed a lone "→" onto its own line).
"""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

TOKENS = ["the", "cat", "sat", "on", "the", "mat", "and", "slept"]
T = len(TOKENS)

SETUP = f"""
import torch
from attn_widget import AttentionWidget, SelfAttentionRNN

torch.manual_seed(0)
TOKENS = {TOKENS!r}
model = SelfAttentionRNN(4, 8)
x = torch.randn(len(TOKENS), 4)
with torch.no_grad():
    ALPHA = model(x).alpha
w = AttentionWidget(model, tokens=TOKENS, inputs=x, precompute=True)
wide = SelfAttentionRNN(16, 48)
w_wide = AttentionWidget(wide, tokens=[f"t{{i}}" for i in range(12)], inputs=torch.randn(12, 16))
w_wide.goto(3)
"""
CELL_W, CELL_WIDE = 1, 2


@pytest.fixture(scope="module")
def nb(open_notebook):
    notebook = open_notebook("layout_e2e.ipynb", [SETUP, "w", "w_wide"])
    for cell in (CELL_W, CELL_WIDE):
        expect(notebook.cell(cell).locator(".attn-widget")).to_have_count(1)
    return notebook


def root(nb, cell=CELL_W):
    return nb.cell(cell).locator(".attn-widget")


def move_to(nb, k, cell=CELL_W, name="w"):
    nb.run(f"{name}.goto({k})")
    expect(root(nb, cell)).to_have_attribute("data-t", str(k))


# Every strip: how many values it draws, its height, its canvas (one pixel a value,
# stretched across the strip's inner width), and the brightest of its pixels (mean
# of r, g, b).
_JS_STRIPS = """
(root) => [...root.querySelectorAll('.aw-strip')].map(s => {
  const canvas = s.querySelector('canvas');
  let brightest = 0;
  if (canvas && canvas.width > 0) {
    const px = canvas.getContext('2d').getImageData(0, 0, canvas.width, 1).data;
    for (let i = 0; i < px.length; i += 4)
      brightest = Math.max(brightest, (px[i] + px[i + 1] + px[i + 2]) / 3);
  }
  const inner = s.clientWidth;
  return {cells: Number(s.dataset.cells), height: s.getBoundingClientRect().height,
          pixels: canvas ? canvas.width : 0, rows: canvas ? canvas.height : 0,
          fills: !!canvas && Math.abs(canvas.getBoundingClientRect().width - inner) <= 1,
          brightest};
})
"""

# Elements that stick out past the widget's right edge with no box between them
# and the widget that scrolls sideways: the widget would cut them off.
_JS_CUT_OFF = """
(root) => {
  const edge = root.getBoundingClientRect().right + 1;
  const scrolls = (e) => ['auto', 'scroll'].includes(getComputedStyle(e).overflowX);
  const cut = [];
  for (const e of root.querySelectorAll('*')) {
    if (e.getBoundingClientRect().right <= edge) continue;
    let a = e.parentElement;
    while (a && a !== root && !scrolls(a)) a = a.parentElement;
    if (a === root || !a) cut.push(e.tagName + '.' + e.getAttribute('class'));
  }
  return cut.slice(0, 5);
}
"""

# The matrix canvas's pixels: for each pixel row, whether any pixel is drawn,
# and the luminance (0 … 1) of every drawn pixel.
_JS_MATRIX_PIXELS = """
(root) => {
  const c = root.querySelector('canvas.aw-matrix');
  const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  const rows = [];
  for (let y = 0; y < c.height; y++) {
    const lum = [];
    for (let x = 0; x < c.width; x++) {
      const p = 4 * (y * c.width + x);
      if (d[p + 3] > 0) lum.push((0.2126 * d[p] + 0.7152 * d[p + 1] + 0.0722 * d[p + 2]) / 255);
    }
    rows.push(lum);
  }
  return {width: c.width, rows};
}
"""


def test_no_layout_jump_between_positions(nb, artifacts):
    heights = {}
    for k in (0, 1, 4, T):
        move_to(nb, k)
        heights[k] = root(nb).bounding_box()["height"]
        if k == 0:
            root(nb).screenshot(path=artifacts / "widget-position-0.png")
    assert max(heights.values()) - min(heights.values()) <= 1, heights


def test_matrix_shows_rows_up_to_the_current_step_only(nb):
    move_to(nb, 3)  # every step is computed (precompute=True); rows 0 … 2 are shown
    pixels = root(nb).evaluate(_JS_MATRIX_PIXELS)
    drawn = [len(row) for row in pixels["rows"]]
    # row t sits at pixel row t + 1 and holds slots 0 … t; pixel row 0 is h_0
    assert drawn == [0, 1, 2, 3] + [0] * (T + 1 - 4), drawn
    move_to(nb, T)
    drawn = [len(row) for row in root(nb).evaluate(_JS_MATRIX_PIXELS)["rows"]]
    assert drawn == list(range(T + 1)), drawn
    for k in (T - 1, 2):  # back: the rows past the step are cleared again
        move_to(nb, k)
        drawn = [len(row) for row in root(nb).evaluate(_JS_MATRIX_PIXELS)["rows"]]
        assert drawn == list(range(k + 1)) + [0] * (T - k), (k, drawn)


def test_bars_stand_on_the_matrix_columns_and_axes_name_the_tokens(nb, artifacts):
    move_to(nb, 5)
    widget = root(nb)
    bars = widget.locator("canvas.aw-bars").bounding_box()
    matrix = widget.locator("canvas.aw-matrix").bounding_box()
    assert abs(bars["x"] - matrix["x"]) <= 1 and abs(bars["width"] - matrix["width"]) <= 1
    assert widget.locator("canvas.aw-bars").evaluate("c => c.width") == T + 1  # one column a slot
    columns = widget.locator(".aw-cols .aw-axis-label").all_text_contents()
    rows = widget.locator(".aw-rows .aw-axis-label").all_text_contents()
    assert columns == ["⟨start⟩", *TOKENS]
    assert rows == TOKENS  # row j is the step that read x_j
    # short words are measured to fit: no label clips (a clip is a paint chunk a label)
    assert widget.locator(".aw-axis-label.is-long").count() == 0
    current = widget.locator(".aw-rows .aw-axis-label.is-current")
    expect(current).to_have_count(1)
    expect(current).to_have_attribute("data-slot", "5")
    # each column label sits over its column: slot i's centre at (i + ½)/(T + 1) of the width
    for label in widget.locator(".aw-cols .aw-axis-label").all():
        i = int(label.get_attribute("data-slot"))
        box = label.bounding_box()
        centre = (box["x"] + box["width"] / 2 - matrix["x"]) / matrix["width"]
        assert abs(centre - (i + 0.5) / (T + 1)) < 0.5 / (T + 1), (i, centre)
    widget.locator(".aw-attention").screenshot(path=artifacts / "widget-attention.png")


def test_controls_are_svg_icons(nb):
    move_to(nb, 2)
    for name in ("Reset", "Step back", "Play", "Step forward"):
        button = root(nb).get_by_role("button", name=name, exact=True)
        assert button.locator("svg path").count() == 1
        assert button.inner_text().strip() == ""  # no glyph that a font may lack


def test_strips_never_wrap_in_a_narrow_window(nb, artifacts):
    page = nb.page
    size = page.viewport_size
    try:
        for width in (900, 600):
            page.set_viewport_size({"width": width, "height": size["height"]})
            for cell in (CELL_W, CELL_WIDE):
                widget = root(nb, cell)
                widget.scroll_into_view_if_needed()
                for strip in widget.evaluate(_JS_STRIPS):  # one line: one pixel a value
                    assert strip["height"] <= 16, strip
                    if strip["cells"] > 0:
                        assert strip["pixels"] == strip["cells"] and strip["rows"] == 1, strip
                        assert strip["fills"], strip
                # the equation's pieces stay on one line: arrows level with the strips
                row = widget.locator(".aw-pieces-row")
                tops = row.evaluate(
                    "r => [...r.children].map(c => Math.round(c.getBoundingClientRect().bottom))"
                )
                assert max(tops) - min(tops) <= 12, f"the pieces wrap at {width}px: {tops}"
                fit = row.evaluate("r => [r.scrollWidth, r.clientWidth]")
                if width >= 900:  # narrower still, the row scrolls rather than wrap
                    assert fit[0] <= fit[1] + 1, f"the pieces overflow at {width}px: {fit}"
                # nothing is cut off: what sticks out past the widget's edge is inside
                # a box that scrolls sideways
                cut = widget.evaluate(_JS_CUT_OFF)
                assert cut == [], f"cut off at {width}px: {cut}"
            root(nb, CELL_WIDE).screenshot(path=artifacts / f"widget-wide-H48-{width}px.png")
    finally:
        page.set_viewport_size(size)


def test_dark_theme_keeps_empty_and_near_zero_cells_dark(nb, artifacts):
    move_to(nb, T)
    nb.set_theme("JupyterLab Dark")
    try:
        widget = root(nb)
        expect(widget).to_have_class("attn-widget is-dark")
        pixels = widget.evaluate(_JS_MATRIX_PIXELS)
        weakest = min(min(row) for row in pixels["rows"] if row)
        assert weakest < 0.25, f"the weakest weight draws with luminance {weakest:.2f}"
        # a state strip's zero is dark grey, not white
        strips = widget.evaluate(_JS_STRIPS)
        assert sum(s["cells"] for s in strips) > 0
        assert all(s["brightest"] < 235 for s in strips), f"a strip cell glares white: {strips}"
        # the canvas behind the matrix (the future rows) is the theme's dark, not white
        bg = widget.locator("canvas.aw-matrix").evaluate("c => getComputedStyle(c).backgroundImage")
        assert "255, 255, 255" not in bg
        widget.screenshot(path=artifacts / "widget-dark-layout.png")
    finally:
        nb.set_theme("JupyterLab Light")
    expect(root(nb)).to_have_class("attn-widget")


def test_keys_step_the_focused_widget_and_leave_jupyters_shortcuts(nb):
    move_to(nb, 2)
    widget = root(nb)
    cells = nb.page.locator(".jp-Notebook .jp-Cell").count()
    for key, k in [("ArrowRight", 3), ("ArrowRight", 4), ("ArrowLeft", 3), ("End", T), ("Home", 0)]:
        widget.click(position={"x": 4, "y": 4})  # its padding: focus, no button
        nb.page.keyboard.press(key)
        expect(widget, f"{key}").to_have_attribute("data-t", str(k))
        assert int(nb.run("print(w.t)").strip()) == k
    assert nb.page.locator(".jp-Notebook .jp-Cell").count() == cells + 5  # one per nb.run
    # the scrubber keeps its own arrows: Jupyter does not take them
    move_to(nb, 5)
    widget.get_by_role("slider", name="Position").focus()
    nb.page.keyboard.press("ArrowLeft")
    expect(widget).to_have_attribute("data-t", "4")
