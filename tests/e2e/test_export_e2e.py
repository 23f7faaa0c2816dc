"""An exported page (attn_widget.export.to_html) in headless Chromium, opened from
file:// with every other request aborted: it steps, plays and scrubs like the
live widget with no kernel, shows the core's α as float32, keeps hostile token
text inert, passes its own strict CSP, says where a cut trace ends and cannot
go past it, and moves a comparison's panels together."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from labdriver import record_positions
from playwright.sync_api import expect

from attn_widget import SelfAttentionRNN, compare
from attn_widget.export import to_html
from attn_widget.widget import AttentionWidget

HOSTILE = '<img src=x onerror="window.__pwned=1">'
TOKENS = ["the", HOSTILE, "</script><b>bold</b>", "<!--", "cat", "sat", "a&amp;b", "down"]

# Before any page script: record CSP violations (the init script itself is exempt).
WATCH_CSP = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__csp.push(`${e.violatedDirective} ${e.blockedURI} ${e.sample}`);
});
"""


class Opened:
    """A page opened from a file, with what it asked for and what it complained of."""

    def __init__(self, browser, path):
        self.url = path.resolve().as_uri()
        self.context = browser.new_context(viewport={"width": 1280, "height": 900})
        self.context.set_default_timeout(15_000)
        self.requests: list[str] = []  # every request the page made, the file included
        self.routed: list[str] = []

        def route(r):
            self.routed.append(r.request.url)
            if r.request.url == self.url:
                r.continue_()
            else:
                r.abort()

        self.context.route("**/*", route)
        self.page = self.context.new_page()
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.errors: list[str] = []
        self.page.on("pageerror", lambda exc: self.errors.append(f"pageerror: {exc}"))
        self.page.on(
            "console",
            lambda m: (
                self.errors.append(f"{m.type}: {m.text}")
                if m.type in ("error", "warning")
                else None
            ),
        )
        self.page.add_init_script(WATCH_CSP)
        self.page.goto(self.url)
        expect(self.page.locator(".attn-widget").first).to_be_visible()

    def roots(self):
        return self.page.locator(".attn-widget")

    def check_clean(self):
        """Nothing but the file was requested, no CSP violation, no console error."""
        assert self.requests == [self.url], self.requests
        assert self.routed == [self.url], self.routed
        assert self.page.evaluate("window.__csp") == []
        assert self.errors == []
        assert self.page.evaluate("typeof window.__pwned") == "undefined"


@pytest.fixture
def opened(browser):
    pages: list[Opened] = []

    def _open(path):
        pages.append(Opened(browser, path))
        return pages[-1]

    yield _open
    for p in pages:
        p.context.close()


def shaded(root) -> dict[int, str]:
    """data-index → data-alpha of each shaded token."""
    pairs = root.locator(".aw-tokens [data-alpha]").evaluate_all(
        "els => els.map(e => [Number(e.dataset.index), e.dataset.alpha])"
    )
    return dict(pairs)


def expect_position(root, k: int, steps) -> None:
    """Position k as the core has it: data-t, x_k current, slots 0 … k-1 shaded by
    α_{k-1,·} to float32."""
    expect(root).to_have_attribute("data-t", str(k))
    current = root.locator('.aw-tokens [aria-current="step"]')
    if k == 0:
        expect(current).to_have_count(0)
        assert shaded(root) == {}
        return
    expect(current).to_have_count(1)
    expect(current).to_have_attribute("data-index", str(k))
    got = shaded(root)
    alpha = steps[k - 1].alpha.detach().numpy()
    assert sorted(got) == list(range(k)), (k, sorted(got))
    for i, text in got.items():
        assert np.float32(text) == np.float32(alpha[i]), (k, i, text, alpha[i])


def small(tokens=TOKENS, *, update="eq4", seed=0, H=6, speed=8.0) -> AttentionWidget:
    torch.manual_seed(seed)
    model = SelfAttentionRNN(3, H, update=update, align="dot")
    return AttentionWidget(model, tokens=tokens, inputs=torch.randn(len(tokens), 3), speed=speed)


def test_steps_plays_and_scrubs_offline_with_the_cores_numbers(opened, tmp_path, artifacts):
    w = small()
    T = w.T
    path = tmp_path / "export.html"
    to_html(w, path, title="An exported widget")
    steps = w.stepper.steps
    assert len(steps) == T  # to_html computed every step
    p = opened(path)
    root = p.roots().first
    expect(p.roots()).to_have_count(1)
    expect(p.page.locator("h1")).to_have_text("An exported widget")
    expect(root.locator('[data-index="2"]')).to_have_text(HOSTILE)
    expect(root.locator('[data-index="3"]')).to_have_text("</script><b>bold</b>")
    assert p.page.locator("img, b").count() == 0
    expect(root.locator(".aw-status")).to_have_text("")  # every step is here: nothing to say

    forward = root.get_by_role("button", name="Step forward", exact=True)
    expect_position(root, 0, steps)
    for k in range(1, T + 1):
        forward.click()
        expect_position(root, k, steps)
    expect(forward).to_be_disabled()
    root.get_by_role("button", name="Step back", exact=True).click()
    expect_position(root, T - 1, steps)

    # scrub: the range input, by value and by its own keys
    scrub = root.get_by_role("slider", name="Position")
    scrub.fill("3")
    expect_position(root, 3, steps)
    scrub.press("ArrowRight")
    expect_position(root, 4, steps)
    scrub.press("Home")
    expect_position(root, 0, steps)

    # Play at 8 steps a second visits every position in order, up to T, then stops
    read_logs = record_positions(p.page, [root.element_handle()])
    root.get_by_role("button", name="Play", exact=True).click()
    expect(root).to_have_attribute("data-t", str(T), timeout=10_000)
    expect(root.get_by_role("button", name="Play", exact=True)).to_be_visible()
    (log,) = read_logs()
    assert [k for _, k in log] == list(range(1, T + 1)), log
    rate = (T - 1) / (log[-1][0] - log[0][0])
    assert 0.7 * 8 <= rate <= 1.3 * 8, f"{rate:.2f} positions a second at 8"
    expect_position(root, T, steps)

    # the keys, with the focus in the widget
    root.focus()
    p.page.keyboard.press("ArrowLeft")
    expect_position(root, T - 1, steps)
    p.page.keyboard.press("Home")
    expect_position(root, 0, steps)
    p.page.keyboard.press("End")
    expect_position(root, T, steps)
    scrub.fill("5")
    expect_position(root, 5, steps)
    p.page.screenshot(path=artifacts / "export.png", full_page=True)
    p.check_clean()

    # The policy is in force: an inline script or style added now is refused and reported.
    p.page.evaluate(
        """() => {
          const s = document.createElement("script");
          s.textContent = "window.__ran = 1";
          document.body.append(s);
          const st = document.createElement("style");
          st.textContent = "body { background: red }";
          document.head.append(st);
        }"""
    )
    expect(p.page.locator("body")).not_to_have_css("background-color", "rgb(255, 0, 0)")
    assert p.page.evaluate("typeof window.__ran") == "undefined"
    violations = p.page.evaluate("window.__csp")
    assert any(v.startswith("script-src") for v in violations), violations
    assert any(v.startswith("style-src") for v in violations), violations


def test_a_cut_trace_says_so_and_stops_where_its_steps_end(opened, tmp_path, artifacts):
    torch.manual_seed(1)
    T = 600
    w = AttentionWidget(SelfAttentionRNN(4, 256), inputs=torch.randn(T, 4), speed=8.0)
    path = tmp_path / "cut.html"
    to_html(w, path)
    steps = w.stepper.steps
    from attn_widget.protocol import STEP_DATA_LIMIT, steps_within

    saved = steps_within(steps, STEP_DATA_LIMIT)
    assert 0 < saved < T
    p = opened(path)
    root = p.roots().first
    expect(root.locator(".aw-status")).to_have_text(
        f"this page holds positions 0 … {saved} of {T}: an export keeps at most 4 MB of steps"
    )
    expect(root.locator(".aw-status")).not_to_have_class("is-error")
    scrub = root.get_by_role("slider", name="Position")
    scrub.fill(str(T))  # past the saved steps: the position stops at the last one held
    expect_position(root, saved, steps)
    # the last position held is the end: Step forward is off, and a forced click is nothing
    forward = root.get_by_role("button", name="Step forward", exact=True)
    expect(forward).to_be_disabled()
    forward.click(force=True)
    expect_position(root, saved, steps)
    root.focus()
    p.page.keyboard.press("End")
    expect_position(root, saved, steps)
    # Play from a few before the end stops at the last saved position
    scrub.fill(str(saved - 4))
    expect_position(root, saved - 4, steps)
    read_logs = record_positions(p.page, [root.element_handle()])
    root.get_by_role("button", name="Play", exact=True).click()
    expect(root).to_have_attribute("data-t", str(saved))
    expect(root.get_by_role("button", name="Play", exact=True)).to_be_visible()
    p.page.wait_for_timeout(300)  # a Play that went on would move past it by now
    (log,) = read_logs()
    assert [k for _, k in log] == list(range(saved - 3, saved + 1)), log
    expect_position(root, saved, steps)
    p.page.screenshot(path=artifacts / "export-cut.png")
    p.check_clean()


def test_a_comparisons_panels_move_together(opened, tmp_path, artifacts):
    torch.manual_seed(2)
    T = len(TOKENS)
    models = [SelfAttentionRNN(3, 5, update=u) for u in ("eq4", "eq3")]
    cmp = compare(*models, inputs=torch.randn(T, 3), tokens=TOKENS, speed=8.0)
    path = tmp_path / "compare.html"
    to_html(cmp, path, title="Two models, one position")
    steps = [panel.stepper.steps for panel in cmp.panels]
    p = opened(path)
    roots = p.roots()
    expect(roots).to_have_count(2)
    first, second = roots.nth(0), roots.nth(1)
    expect(first.locator(".aw-controls")).to_be_visible()
    expect(second.locator(".aw-controls")).to_be_hidden()
    forward = first.get_by_role("button", name="Step forward", exact=True)
    for k in range(1, 4):
        forward.click()
        expect_position(first, k, steps[0])
        expect_position(second, k, steps[1])  # its own α, at the shared position
    first.get_by_role("slider", name="Position").fill("6")
    expect_position(first, 6, steps[0])
    expect_position(second, 6, steps[1])
    first.get_by_role("button", name="Reset", exact=True).click()
    read_logs = record_positions(p.page, [first.element_handle(), second.element_handle()])
    first.get_by_role("button", name="Play", exact=True).click()
    expect(second).to_have_attribute("data-t", str(T), timeout=10_000)
    for log in read_logs():
        assert [k for _, k in log] == list(range(1, T + 1)), log
    expect_position(first, T, steps[0])
    expect_position(second, T, steps[1])
    p.page.screenshot(path=artifacts / "export-compare.png", full_page=True)
    p.check_clean()
