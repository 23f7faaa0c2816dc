"""AttentionWidget in a real JupyterLab, clicked in headless Chromium.

One notebook and one kernel serve the whole module. Its cells build a seeded
eq4/dot model and three widgets: ``w`` (8 tokens, the main one), ``w_long``
(60 tokens, for fast clicking) and ``w_hostile`` (token text that is HTML).
Each test puts ``w`` where it needs it first, so the tests do not depend on
their order.
"""

from __future__ import annotations

import contextlib

import pytest
from labdriver import eventually, record_positions
from playwright.sync_api import expect

TOKENS = ["the", "cat", "sat", "on", "the", "mat", "and", "slept"]
T = len(TOKENS)
LONG_T = 60
HOSTILE = ['<img src=x onerror="window.__pwned=1">', "<script>window.__pwned=2</script>", "ok"]

SETUP = f"""
import json
import torch
from attn_widget import AttentionWidget, SelfAttentionRNN

torch.manual_seed(0)
TOKENS = {TOKENS!r}
model = SelfAttentionRNN(4, 8, update="eq4", align="dot")
x = torch.randn(len(TOKENS), 4)
with torch.no_grad():
    ALPHA = model(x).alpha  # (T, T+1): row k-1 shades the tokens at position k
w = AttentionWidget(model, tokens=TOKENS, inputs=x)
"""

LONG = f"""
torch.manual_seed(1)
w_long = AttentionWidget(
    model, tokens=[f"w{{i}}" for i in range(1, {LONG_T} + 1)], inputs=torch.randn({LONG_T}, 4)
)
w_long
"""

HOSTILE_CELL = f"""
w_hostile = AttentionWidget(model, tokens={HOSTILE!r}, inputs=torch.randn(3, 4))
w_hostile
"""

CELL_W, CELL_LONG, CELL_HOSTILE = 1, 2, 3

# The colours that draw an element: text, background, border, outline.
_JS_COLOURS = """
(e) => {
  const s = getComputedStyle(e);
  return [s.color, s.backgroundColor, s.borderTopColor, s.borderBottomColor,
          s.borderLeftColor, s.outlineColor, s.textDecorationColor];
}
"""

# Text colour and the background it sits on: every ancestor's background
# composited over the canvas (white), so translucent fills count.
_JS_TEXT_AND_BACKGROUND = """
(e) => {
  const parse = (c) => {
    const m = c.match(/rgba?\\(([^)]+)\\)/);
    if (!m) return [0, 0, 0, 0];
    const p = m[1].split(/[ ,/]+/).filter(Boolean).map(Number);
    return [p[0], p[1], p[2], p.length > 3 ? p[3] : 1];
  };
  const chain = [];
  for (let n = e; n && n.nodeType === 1; n = n.parentElement) chain.push(n);
  let bg = [255, 255, 255];
  for (const n of chain.reverse()) {
    const [r, g, b, a] = parse(getComputedStyle(n).backgroundColor);
    bg = [r * a + bg[0] * (1 - a), g * a + bg[1] * (1 - a), b * a + bg[2] * (1 - a)];
  }
  const [r, g, b, a] = parse(getComputedStyle(e).color);
  const fg = [r * a + bg[0] * (1 - a), g * a + bg[1] * (1 - a), b * a + bg[2] * (1 - a)];
  return {fg, bg};
}
"""


def parse_rgb(css: str) -> tuple[float, float, float, float] | None:
    if not css.startswith("rgb"):
        return None
    parts = css[css.index("(") + 1 : css.index(")")].replace("/", " ").replace(",", " ").split()
    r, g, b = (float(v) for v in parts[:3])
    a = float(parts[3]) if len(parts) > 3 else 1.0
    return r, g, b, a


def is_reddish(css: str) -> bool:
    rgb = parse_rgb(css)
    if rgb is None:
        return False
    r, g, b, a = rgb
    return a > 0.3 and r >= 150 and r - g >= 60 and r - b >= 60


def luminance(rgb) -> float:
    def channel(v):
        v /= 255
        return v / 12.92 if v <= 0.03928 else ((v + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(v) for v in rgb)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(fg, bg) -> float:
    hi, lo = sorted((luminance(fg), luminance(bg)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


@pytest.fixture(scope="module")
def nb(open_notebook):
    notebook = open_notebook("widget_e2e.ipynb", [SETUP, "w", LONG, HOSTILE_CELL])
    for cell in (CELL_W, CELL_LONG, CELL_HOSTILE):
        expect(notebook.cell(cell).locator(".attn-widget")).to_have_count(1)
    return notebook


@pytest.fixture(scope="module")
def alpha(nb):
    """model(x).alpha computed in the kernel, (T, T+1)."""
    table = nb.run_json("print(json.dumps(ALPHA.tolist()))")
    assert len(table) == T and all(len(row) == T + 1 for row in table)
    return table


def root(nb, cell=CELL_W):
    return nb.cell(cell).locator(".attn-widget")


def button(nb, name, cell=CELL_W):
    return root(nb, cell).get_by_role("button", name=name, exact=True)


def kernel_t(nb, name="w") -> int:
    return int(nb.run(f"print({name}.t)").strip())


def expect_position(nb, k, cell=CELL_W):
    """The DOM shows position k: token k is the one current token (none at 0)."""
    current = root(nb, cell).locator('[aria-current="step"]')
    if k == 0:
        expect(current).to_have_count(0)
    else:
        expect(current).to_have_count(1)
        expect(current).to_have_attribute("data-index", str(k))


def move_to(nb, k, cell=CELL_W, name="w"):
    nb.run(f"{name}.goto({k})")
    expect_position(nb, k, cell)


def shown_alphas(nb, cell=CELL_W) -> dict[int, float]:
    pairs = (
        root(nb, cell)
        .locator("[data-alpha]")
        .evaluate_all("els => els.map(e => [e.dataset.index, e.dataset.alpha])")
    )
    out = {}
    for index, value in pairs:
        assert index is not None, "an element has data-alpha but no data-index"
        assert int(index) not in out, f"two elements shade token {index}"
        out[int(index)] = float(value)
    return out


def check_alphas(nb, alpha, k):
    """Tokens 0 … k-1 carry α_{k-1,i} (the kernel's model(x).alpha) to 1e-6."""

    def check():
        shown = shown_alphas(nb)
        assert set(range(k)) <= set(shown), f"position {k}: shaded tokens {sorted(shown)}"
        for i, value in shown.items():
            assert i <= T, f"data-alpha on unknown token {i}"
            assert value == pytest.approx(alpha[k - 1][i], abs=1e-6), f"α[{k - 1},{i}]"
        return shown

    return eventually(check, timeout=10)


def test_step_clicks_match_model(nb, alpha, artifacts):
    move_to(nb, 0)
    n = 5
    forward = button(nb, "Step forward")
    for k in range(1, n + 1):
        forward.click()
        expect_position(nb, k)

    current = root(nb).locator(f'[data-index="{n}"]')
    expect(current).to_have_attribute("aria-current", "step")
    expect(current).to_contain_text(TOKENS[n - 1])
    colours = current.evaluate(_JS_COLOURS)
    assert any(is_reddish(c) for c in colours), f"current token is not drawn red: {colours}"

    shown = check_alphas(nb, alpha, n)
    assert sum(shown[i] for i in range(n)) == pytest.approx(1.0, abs=1e-5)
    assert kernel_t(nb) == n

    root(nb).screenshot(path=artifacts / "widget-light.png")


def test_back_is_served_without_the_kernel(nb, alpha, lab_server):
    move_to(nb, 5)
    # Hold the kernel busy until the test releases it: its shell queue waits.
    flag = lab_server.root / "release-kernel"
    flag.unlink(missing_ok=True)
    busy = nb.start(
        "import os, time\n"
        "_end = time.monotonic() + 60\n"
        "while not os.path.exists('release-kernel') and time.monotonic() < _end:\n"
        "    time.sleep(0.02)\n"
        "print(w.t)  # what the kernel had heard while the browser moved"
    )
    try:
        eventually(lambda: _assert_equal(nb.kernel_status(), "busy"), timeout=10, interval=0.02)
        back = button(nb, "Step back")
        back.click()
        back.click()
        expect_position(nb, 3)
        check_alphas(nb, alpha, 3)
        button(nb, "Step forward").click()  # step 3 is computed: also from the store
        expect_position(nb, 4)
        check_alphas(nb, alpha, 4)
    finally:
        flag.touch()
    # The kernel was busy throughout: it heard none of the three moves.
    assert nb.wait_cell(busy).strip() == "5"
    assert kernel_t(nb) == 4


def test_play_runs_to_the_end_and_stops(nb, alpha):
    move_to(nb, 0)
    button(nb, "Play").click()
    expect(button(nb, "Pause")).to_be_visible()
    expect_position(nb, T)
    expect(button(nb, "Play")).to_be_visible()  # stopped by itself
    check_alphas(nb, alpha, T)
    state = nb.run_json("print(json.dumps([w.t, w.playing]))")
    assert state == [T, False]


@contextlib.contextmanager
def views_log_of_t(nb, name, cells):
    """Record each position each view of ``name`` shows (``labdriver.record_positions``);
    yields a function that reads one log per view.  Play is paused after."""
    handles = [root(nb, cell).element_handle() for cell in cells]
    try:
        yield record_positions(nb.page, handles)
    finally:
        nb.run(f"{name}.pause()")


def assert_played_in_order(log, n, speed):
    """Every position 1 … n once, in order, at ``speed`` a second ± 20 %."""
    assert [k for _, k in log] == list(range(1, n + 1)), log
    rate = (n - 1) / (log[-1][0] - log[0][0])
    assert 0.8 * speed <= rate <= 1.2 * speed, f"{rate:.2f} positions a second at {speed}"


def test_play_with_two_views_visits_every_position_once_at_the_set_speed(nb, artifacts):
    """Two views of one widget share one controller: Play at 4/s moves 1, 2, …, T,
    each once, about 4 a second, in both views, and the kernel ends at T."""
    nb.run("w.goto(w.T); w.speed = 4.0")  # every step computed: Play waits for nothing
    second = nb.start("w")  # a second view of the same widget
    nb.wait_cell(second)
    expect(root(nb, second)).to_have_count(1)
    nb.run("w.reset()")
    expect_position(nb, 0)
    with views_log_of_t(nb, "w", [CELL_W, second]) as read_logs:
        button(nb, "Play").click()
        expect_position(nb, T)
        expect(button(nb, "Play")).to_be_visible(timeout=10_000)  # stopped by itself
        expect_position(nb, T, cell=second)
        root(nb, second).screenshot(path=artifacts / "widget-second-view.png")
        logs = read_logs()
    for log in logs:
        assert_played_in_order(log, T, 4.0)
    assert kernel_t(nb) == T


def play_in_two_views(nb, name: str, n: int, build: str, *, press_in=0, before=None) -> list:
    """Build widget ``name`` over n random inputs (``build`` is its constructor's
    call), show it twice, press Play in view ``press_in`` (0 or 1) and wait until
    both views reach n; returns each view's log of positions (``views_log_of_t``)."""
    cell = nb.start(f"torch.manual_seed(3)\n{name} = {build}\n{name}")
    nb.wait_cell(cell)
    second = nb.start(name)
    nb.wait_cell(second)
    if before is not None:
        before()
    with views_log_of_t(nb, name, [cell, second]) as read_logs:
        button(nb, "Play", cell=(cell, second)[press_in]).click()
        expect(root(nb, cell)).to_have_attribute("data-t", str(n), timeout=30_000)
        expect(root(nb, second)).to_have_attribute("data-t", str(n))
        return read_logs()


def test_play_on_demand_with_two_views_visits_every_position_at_the_set_speed(nb):
    """Steps computed only as Play asks (the kernel computes ahead of the position):
    two views, speed 10, every position once, in order, at 10 a second ± 20 %."""
    n = 40

    def not_computed_yet():
        assert int(nb.run("print(w_demand.frontier)").strip()) < 10

    build = f"AttentionWidget(model, inputs=torch.randn({n}, 4), speed=10.0)"
    logs = play_in_two_views(nb, "w_demand", n, build, press_in=1, before=not_computed_yet)
    for log in logs:
        assert_played_in_order(log, n, 10.0)
    assert kernel_t(nb, "w_demand") == n


def test_play_at_the_fastest_speed_draws_every_position(nb):
    """At 60 a second a beat is as short as a frame: two beats in one frame would
    skip a position on screen.  Play moves on only from a drawn position, so
    both views show every one, in order.  The rate is then what the browser
    draws (about 16–18 a second for two views here, in headless Chromium on 2
    cores); the bound below only catches a Play that stalls."""
    n = 90
    build = f"AttentionWidget(model, inputs=torch.randn({n}, 4), precompute=True, speed=60.0)"
    for log in play_in_two_views(nb, "w_fast", n, build):
        assert [k for _, k in log] == list(range(1, n + 1)), log
        rate = (n - 1) / (log[-1][0] - log[0][0])
        print(f"Play at 60/s: {rate:.1f} positions a second")
        assert 8 <= rate <= 1.2 * 60, f"{rate:.1f} positions a second at 60"


_JS_STRIP = """root => {
  const strip = root.querySelector('.aw-tokens');
  const red = strip.querySelector('[aria-current="step"]');
  const s = strip.getBoundingClientRect();
  const r = red && red.getBoundingClientRect();
  return {
    overflows: strip.scrollHeight > strip.clientHeight + 20,
    inView: !!r && r.top >= s.top - 1 && r.bottom <= s.bottom + 1,
    k: red ? Number(red.dataset.index) : 0,
    scrollTop: strip.scrollTop,
    overflowY: getComputedStyle(strip).overflowY,
    overflowX: getComputedStyle(strip).overflowX,
    playing: strip.classList.contains('is-playing'),
  };
}"""


def assert_in_view(got: dict, k: int) -> dict:
    assert got["k"] == k and got["inView"], (k, got)
    return got


def test_the_strip_follows_the_red_token_and_clips_while_playing(nb):
    """At T = 300 the strip shows a few dozen tokens: a jump from Python, Play and a
    jump back each leave the red token in the strip's view (the strip scrolls, the
    page does not have to), and so does a second view shown at k = T.  While Play
    runs the strip clips (overflow hidden: the browser then paints the tokens in
    view, not all T: on both axes, or it is still a scroller) and scrolls again after."""
    n = 300
    cell = nb.start(
        f"torch.manual_seed(4)\nw_follow = AttentionWidget(model, inputs=torch.randn({n}, 4), "
        "precompute=True, speed=60.0)\nw_follow"
    )
    nb.wait_cell(cell)
    strip = root(nb, cell)
    expect(strip).to_have_count(1)

    def state():
        return strip.evaluate(_JS_STRIP)

    assert state()["overflows"], "the strip must scroll for this test to mean anything"
    for k in (250, 5, n):
        nb.run(f"w_follow.goto({k})")
        expect(strip).to_have_attribute("data-t", str(k))
        # the strip follows once the frame is painted: a frame later
        got = eventually(lambda k=k: assert_in_view(state(), k))
        assert got["overflowY"] == "auto" and not got["playing"]
    assert state()["scrollTop"] > 0
    # a view drawn before it is on the page (a second view, at k = T) follows once shown
    second = nb.start("w_follow")
    nb.wait_cell(second)
    other = root(nb, second)
    expect(other).to_have_attribute("data-t", str(n))
    eventually(lambda: assert_in_view(other.evaluate(_JS_STRIP), n))
    nb.run("w_follow.goto(0)")
    expect(strip).to_have_attribute("data-t", "0")

    def at_top():
        assert state()["scrollTop"] == 0

    eventually(at_top)  # once painted
    button(nb, "Play", cell=cell).click()
    seen = []
    for at in (60, 150, 240):

        def reached(at=at):
            got = state()
            assert got["k"] >= at, got
            assert got["inView"], got  # a frame after a new line, it is
            return got

        got = eventually(reached, timeout=30)
        seen.append(got)
        # both axes: with overflow-x auto the strip would still scroll, painted whole
        assert got["playing"] and got["overflowY"] == got["overflowX"] == "hidden", got
    expect(strip).to_have_attribute("data-t", str(n), timeout=30_000)
    expect(button(nb, "Play", cell=cell)).to_be_visible(timeout=10_000)
    got = eventually(lambda: assert_in_view(state(), n))
    assert not got["playing"] and got["overflowY"] == "auto", got
    assert seen[0]["scrollTop"] < seen[1]["scrollTop"] < seen[2]["scrollTop"], seen
    nb.run("w_follow.close()")


def test_pause_stops_play(nb):
    nb.run("w.speed = 2.0")
    move_to(nb, 0)
    try:
        button(nb, "Play").click()
        current = root(nb).locator('[aria-current="step"]')
        # Watched in the page at every frame: a locator's polling backs off to a
        # second, and at 2 a second it can miss a position between two polls.
        reached = root(nb).evaluate(
            "el => new Promise((done) => { const end = performance.now() + 10000;"
            " const look = () => Number(el.dataset.t) >= 2 ? done(true)"
            " : performance.now() > end ? done(false) : requestAnimationFrame(look); look(); })"
        )
        assert reached, "Play did not reach position 2 in 10 s"
        button(nb, "Pause").click()
        expect(button(nb, "Play")).to_be_visible()
        k = int(current.get_attribute("data-index"))
        nb.page.wait_for_timeout(1500)  # three steps' time at 2 steps/s: must stay
        expect_position(nb, k)
        assert k < T
        assert nb.run_json("print(json.dumps([w.t, w.playing]))") == [k, False]
    finally:
        nb.run("w.pause(); w.speed = 4.0")


def test_goto_from_python_moves_the_view(nb, alpha):
    move_to(nb, 0)
    for k in (6, 2, T):
        nb.run(f"w.goto({k})")
        expect_position(nb, k)
        check_alphas(nb, alpha, k)


def test_gradient_shading_is_the_kernels_sensitivity(nb, alpha, artifacts):
    """The toggle asks the kernel for ‖∂h_k/∂x_i‖; the tokens carry w.sensitivity(k)."""
    move_to(nb, 6)
    toggle = root(nb).locator('select[aria-label="Shade tokens by"]')
    toggle.select_option("gradient")
    eventually(lambda: nb.run("print(w.shading)").strip() == "gradient" or None, timeout=10)
    expected = nb.run_json("print(json.dumps(w.sensitivity(6).tolist()))")

    def shown():
        pairs = (
            root(nb)
            .locator("[data-grad]")
            .evaluate_all("els => els.map(e => [Number(e.dataset.index), Number(e.dataset.grad)])")
        )
        assert sorted(i for i, _ in pairs) == [1, 2, 3, 4, 5], pairs  # x_1 … x_{k-1}
        return dict(pairs)

    grads = eventually(shown, timeout=10)
    for i, value in grads.items():
        assert value == pytest.approx(expected[i - 1], rel=1e-6), f"‖∂h_6/∂x_{i}‖"
    expect(root(nb).locator("[data-alpha]")).to_have_count(0)
    expect(root(nb).locator(".aw-caption")).to_contain_text("how much h_6 depends")
    root(nb).screenshot(path=artifacts / "widget-gradient.png")
    nb.run("w.shading = 'alpha'")
    check_alphas(nb, alpha, 6)


def test_reset(nb):
    move_to(nb, 4)
    button(nb, "Reset").click()
    expect_position(nb, 0)
    expect(root(nb).locator("[data-alpha]")).to_have_count(0)  # nothing read: no weights
    assert kernel_t(nb) == 0

    move_to(nb, 3)
    nb.run("w.reset()")
    expect_position(nb, 0)


def test_fifty_fast_clicks(nb):
    nb.run(
        "SENT, BEFORE = [], w_long.frontier  # steps computed (and sent) already\n"
        "_send = w_long.send  # every message to the front end goes through it\n"
        "def _spy(content, buffers=None):\n"
        "    if content.get('type') == 'steps':\n"
        "        SENT.extend(int(s['t']) for s in content['steps'])\n"
        "    return _send(content, buffers)\n"
        "w_long.send = _spy\n"
        "w_long.reset()"
    )
    expect_position(nb, 0, CELL_LONG)
    forward = button(nb, "Step forward", CELL_LONG)
    forward.scroll_into_view_if_needed()
    # Raw mouse clicks (~10 ms apart) on the button's centre: faster than a
    # step's round trip to the kernel. Locator.click() waits ~100 ms per click.
    box = forward.bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    for _ in range(50):
        nb.page.mouse.click(x, y)
    assert forward.bounding_box() == box, "the button moved while being clicked"
    expect_position(nb, 50, CELL_LONG)

    indices = (
        root(nb, CELL_LONG)
        .locator("[data-index]")
        .evaluate_all("els => els.map(e => Number(e.dataset.index))")
    )
    assert sorted(indices) == list(range(LONG_T + 1)), "token elements duplicated or missing"

    state = nb.run_json(
        "print(json.dumps({'t': w_long.t, 'frontier': w_long.frontier, 'sent': SENT,"
        " 'before': BEFORE,"
        " 'history': [s.t for s in w_long.stepper.steps]}))"
    )
    assert state["t"] == 50
    # 50 steps for the clicks, and up to AHEAD_STEPS (8) computed ahead after them
    assert 50 <= state["frontier"] <= 58
    assert state["history"] == list(range(state["frontier"]))
    expected = list(range(state["before"], state["frontier"]))
    assert state["sent"] == expected, "a step was sent twice or not at all"
    expect_position(nb, 50, CELL_LONG)


def test_hostile_tokens_stay_text(nb, artifacts):
    move_to(nb, 3, CELL_HOSTILE, "w_hostile")
    widget = root(nb, CELL_HOSTILE)
    for i, text in enumerate(HOSTILE, start=1):
        token = widget.locator(f'[data-index="{i}"]')
        expect(token).to_have_count(1)
        assert token.evaluate("e => e.textContent.trim()") == text
    assert widget.locator("img, script").count() == 0
    assert nb.page.evaluate("() => typeof window.__pwned") == "undefined"
    widget.screenshot(path=artifacts / "widget-hostile.png")


def test_dark_theme_contrast(nb, artifacts):
    move_to(nb, 5)
    nb.set_theme("JupyterLab Dark")
    try:
        widget = root(nb)
        lab_bg = nb.page.evaluate(
            "() => getComputedStyle(document.querySelector('.jp-Notebook')).backgroundColor"
        )
        assert luminance(parse_rgb(lab_bg)[:3]) < 0.2, f"Lab is not dark: {lab_bg}"
        widget.screenshot(path=artifacts / "widget-dark.png")

        colours = widget.evaluate(_JS_TEXT_AND_BACKGROUND)
        ratio = contrast(colours["fg"], colours["bg"])
        assert ratio >= 4.5, f"widget text {colours['fg']} on {colours['bg']}: {ratio:.2f}:1"

        for token in widget.locator("[data-index]").all():
            c = token.evaluate(_JS_TEXT_AND_BACKGROUND)
            ratio = contrast(c["fg"], c["bg"])
            index = token.get_attribute("data-index")
            assert ratio >= 3.0, f"token {index}: {c['fg']} on {c['bg']} is {ratio:.2f}:1"
    finally:
        nb.set_theme("JupyterLab Light")


def test_no_page_errors_and_nothing_fetched_from_outside(nb):
    assert nb.page.page_errors == []
    assert nb.page.external_requests == []


def _assert_equal(a, b):
    assert a == b, f"{a!r} != {b!r}"
