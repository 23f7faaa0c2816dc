"""axe-core on the widget in JupyterLab: zero violations in the light and the
dark theme, at positions 0, k and T, and with the what-if chooser open.

axe-core is the npm package in js/node_modules (a dev dependency), put into the
page from that file with Playwright's ``add_script_tag(path=…)``: nothing comes
from a CDN.  JupyterLab lays its shell out with absolute positions, which
leaves ``<body>`` 0 px high, and axe then takes every node for invisible and
checks nothing; the test gives the body the window's height first (the test's
doing, not the widget's: no node is hidden or changed to please axe).

Also here, because axe does not check them: the focus ring shows inside Lab's
output area (not clipped by it), and every value the widget shows on hover
(each token's α) is in the accessible name of a focusable token.
"""

from __future__ import annotations

import json
import re

import pytest
from labdriver import REPO
from playwright.sync_api import expect

AXE = REPO / "js" / "node_modules" / "axe-core" / "axe.min.js"
SETUP = """
from attn_widget import demo
w = demo("agreement")
"""
CELL_W = 1
K = 5

# The body's height, for axe's visibility checks (see the module's docstring).
BODY_HEIGHT = "body { height: 100vh; }"


@pytest.fixture(scope="module")
def nb(open_notebook):
    if not AXE.is_file():
        pytest.fail(f"axe-core is missing at {AXE}: run `npm ci` in js/", pytrace=False)
    notebook = open_notebook("a11y_e2e.ipynb", [SETUP, "w"])
    expect(notebook.cell(CELL_W).locator(".attn-widget")).to_have_count(1)
    notebook.page.add_style_tag(content=BODY_HEIGHT)
    notebook.page.add_script_tag(path=str(AXE))
    assert notebook.page.evaluate("() => typeof axe.run") == "function"
    return notebook


@pytest.fixture(scope="module")
def results(artifacts):
    """Every axe run of this module, written to test-artifacts/axe.json at the end."""
    runs: list[dict] = []
    yield runs
    (artifacts / "axe.json").write_text(json.dumps(runs, indent=1), encoding="utf-8")


def run_axe(root) -> dict:
    """axe on the widget's root and what is inside it: every rule axe runs by
    default (WCAG 2.x A and AA, and its best practices), and its experimental
    ones too (label-content-name-mismatch is one)."""
    return root.evaluate(
        """async (root) => {
          const rules = Object.fromEntries(
            axe.getRules(["experimental"]).map((r) => [r.ruleId, { enabled: true }]));
          const r = await axe.run(root, { resultTypes: ["violations"], rules });
          return {
            passes: r.passes.length,
            incomplete: r.incomplete.map((v) => v.id),
            violations: r.violations.map((v) => ({
              id: v.id, impact: v.impact,
              nodes: v.nodes.map((n) => [n.target.join(" "), n.failureSummary]),
            })),
          };
        }"""
    )


def goto(nb, root, k: int) -> None:
    nb.run(f"w.goto({k})")
    expect(root).to_have_attribute("data-t", str(k))


def describe(found: dict) -> str:
    return "\n".join(
        f"{v['id']} ({v['impact']}): " + "; ".join(f"{t} — {why}" for t, why in v["nodes"][:6])
        for v in found["violations"]
    )


@pytest.mark.parametrize("theme", ["JupyterLab Light", "JupyterLab Dark"])
def test_axe_finds_no_violation(nb, theme, results, artifacts):
    page = nb.page
    root = nb.cell(CELL_W).locator(".attn-widget")
    nb.set_theme(theme)
    try:
        T = int(nb.run("print(w.T)").strip())
        seen = {}
        for k in (0, K, T):
            goto(nb, root, k)
            root.evaluate("e => e.scrollIntoView({block: 'center'})")
            seen[f"position {k}"] = run_axe(root)
        goto(nb, root, K)
        root.get_by_role("button", name="Replace a token").click()
        chooser = root.get_by_role("dialog")
        expect(chooser).to_be_visible()
        # the whole vocabulary listed, more than the list shows: it scrolls
        seen["chooser open"] = run_axe(root)
        root.screenshot(path=artifacts / f"a11y-chooser-{theme.split()[-1].lower()}.png")
        page.keyboard.press("Escape")
        expect(chooser).to_be_hidden()
        for where, found in seen.items():
            results.append({"theme": theme, "where": where, **found})
        bad = {where: describe(found) for where, found in seen.items() if found["violations"]}
        assert not bad, "\n".join(f"{theme}, {where}:\n{text}" for where, text in bad.items())
        assert all(found["passes"] > 10 for found in seen.values()), "axe checked nothing"
    finally:
        nb.set_theme("JupyterLab Light")


def test_axe_can_fail_here(nb):
    """The harness sees a violation that is there: an unlabelled button put in
    the widget's root is reported (then taken out)."""
    root = nb.cell(CELL_W).locator(".attn-widget")
    root.evaluate(
        "e => { const b = document.createElement('button'); b.className = 'axe-probe';"
        " e.append(b); }"
    )
    try:
        found = run_axe(root)
    finally:
        root.evaluate("e => e.querySelector('.axe-probe').remove()")
    assert "button-name" in [v["id"] for v in found["violations"]]


def test_the_focus_ring_is_not_clipped_by_the_output_area(nb, artifacts):
    """The root's focus outline lies inside every ancestor that clips (Lab's
    output area hides what overflows it)."""
    root = nb.cell(CELL_W).locator(".attn-widget")
    root.focus()
    assert root.evaluate("e => e.matches(':focus-visible') || e === document.activeElement")
    clipped = root.evaluate(
        """(e) => {
          const s = getComputedStyle(e);
          const width = parseFloat(s.outlineWidth) || 0;
          const offset = parseFloat(s.outlineOffset) || 0;
          if (s.outlineStyle === "none" || width === 0) return "no outline";
          const r = e.getBoundingClientRect();
          const out = Math.max(0, width + offset);  // how far the ring reaches past the box
          const ring = { left: r.left - out, top: r.top - out, right: r.right + out,
                         bottom: r.bottom + out };
          for (let a = e.parentElement; a; a = a.parentElement) {
            const st = getComputedStyle(a);
            if (st.overflowX === "visible" && st.overflowY === "visible") continue;
            const c = a.getBoundingClientRect();
            if (ring.left < c.left - 0.5 || ring.right > c.right + 0.5 ||
                ring.top < c.top - 0.5 || ring.bottom > c.bottom + 0.5) {
              return `clipped by ${a.className || a.tagName}`;
            }
          }
          return "";
        }"""
    )
    assert clipped == ""
    root.screenshot(path=artifacts / "a11y-focus-ring.png")


def test_each_tokens_alpha_is_in_its_accessible_name(nb):
    """What a pointer shows on hover, a keyboard and a screen reader reach too:
    each token read so far takes the focus (Tab from the one before) and its
    name says its α."""
    root = nb.cell(CELL_W).locator(".attn-widget")
    goto(nb, root, K)
    shaded = root.locator(".aw-tokens [data-alpha]")
    expect(shaded).to_have_count(K)
    for i in range(K):
        token = root.locator(f'.aw-tokens [data-index="{i}"]')
        alpha = token.get_attribute("data-alpha")
        assert token.get_attribute("tabindex") is not None, f"token {i} cannot take the focus"
        name = token.evaluate("e => e.getAttribute('aria-label') || e.textContent")
        assert re.search(rf"α\s*=?\s*{re.escape(alpha[:6])}", name), (i, name, alpha)
