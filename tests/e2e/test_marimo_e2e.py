"""The widget in marimo (``mo.ui.anywidget``), served by ``marimo run`` on
127.0.0.1 and stopped after.

marimo draws an anywidget inside the shadow root of a ``<marimo-anywidget>``
element, so a key event that reaches the window has the shadow host as its
target, not the element that had focus.  The widget's keys (← → Home End
Space) and its chooser (ArrowDown, Enter) must work there as in JupyterLab:
each move is checked in the DOM and in the kernel (a cell of the app shows
``w.value["t"]``, which marimo re-runs when the front end changes it), and an
edit chosen with the keys is checked against the tokens the kernel sends back.
"""

from __future__ import annotations

import re
import sys

import pytest
from labdriver import start_app
from playwright.sync_api import expect

pytest.importorskip("marimo", reason="marimo is in the test extra: pip install marimo")

SENTENCE = "the keys near the cabinet are lost ."
APP = f'''\
import marimo

app = marimo.App()


@app.cell
def _():
    import marimo as mo

    from attn_widget import demo

    w = mo.ui.anywidget(demo("agreement", text="{SENTENCE}"))
    w
    return (mo, w)


@app.cell
def _(mo, w):
    mo.md(f"python t = {{w.value['t']}}")
    return


if __name__ == "__main__":
    app.run()
'''


@pytest.fixture(scope="module")
def marimo_app(tmp_path_factory):
    where = tmp_path_factory.mktemp("marimo")
    (where / "home").mkdir()
    (where / "app.py").write_text(APP, encoding="utf-8")
    server = start_app(
        lambda port: [
            sys.executable,
            "-m",
            "marimo",
            "-q",
            "run",
            "app.py",
            "--headless",
            "--host",
            "127.0.0.1",
            "-p",
            str(port),
            "--no-token",
            "--no-sandbox",
        ],
        where,
        # no update check on PyPI, and a home of its own (marimo keeps its config there)
        env={
            "MARIMO_SKIP_UPDATE_CHECK": "1",
            "HOME": str(where / "home"),
            "XDG_CONFIG_HOME": str(where / "home" / ".config"),
        },
    )
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def app_page(marimo_app, browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(30_000)
    page = context.new_page()
    page.requests = []
    page.errors = []
    page.on("request", lambda r: page.requests.append(r.url))
    page.on("pageerror", lambda exc: page.errors.append(str(exc)))
    page.goto(marimo_app.base_url + "/")
    expect(page.locator(".attn-widget")).to_have_count(1, timeout=90_000)
    try:
        yield page
    finally:
        context.close()


def python_t(page, t: int) -> None:
    """The kernel holds position t (the app's second cell re-ran with it)."""
    expect(page.get_by_text(re.compile(r"^python t = \d+$"))).to_have_text(f"python t = {t}")


def focus(root) -> None:
    root.click(position={"x": 4, "y": 4})
    focused = root.evaluate("e => e.getRootNode().activeElement === e")
    assert focused, "the widget did not take the focus"


def test_the_host_is_a_shadow_root(app_page):
    """What made the keys fail: the widget lives in an open shadow root."""
    assert app_page.evaluate(
        "() => { const h = document.querySelector('marimo-anywidget');"
        " return !!h && !!h.shadowRoot && !!h.shadowRoot.querySelector('.attn-widget'); }"
    )


def test_keys_step_the_focused_widget(app_page, artifacts):
    page = app_page
    root = page.locator(".attn-widget")
    T = len(SENTENCE.split())
    root.get_by_role("button", name="Reset", exact=True).click()
    expect(root).to_have_attribute("data-t", "0")
    python_t(page, 0)
    focus(root)
    t = 0
    for key, move in [("ArrowRight", 1), ("ArrowRight", 1), ("ArrowRight", 1), ("ArrowLeft", -1)]:
        page.keyboard.press(key)
        t += move
        expect(root, f"{key} did not move the widget").to_have_attribute("data-t", str(t))
        python_t(page, t)
    page.keyboard.press("End")
    expect(root).to_have_attribute("data-t", str(T))
    python_t(page, T)
    page.keyboard.press("Home")
    expect(root).to_have_attribute("data-t", "0")
    python_t(page, 0)
    # Space plays and pauses
    page.keyboard.press(" ")
    expect(root.get_by_role("button", name="Pause", exact=True)).to_be_visible()
    expect(root).not_to_have_attribute("data-t", "0")
    page.keyboard.press(" ")
    expect(root.get_by_role("button", name="Play", exact=True)).to_be_visible()
    page.screenshot(path=artifacts / "marimo.png", full_page=True)


def test_the_chooser_applies_a_choice_made_with_the_keys(app_page, artifacts):
    page = app_page
    root = page.locator(".attn-widget")
    root.get_by_role("button", name="Reset", exact=True).click()
    focus(root)
    for _ in range(5):
        page.keyboard.press("ArrowRight")
    expect(root).to_have_attribute("data-t", "5")
    before = root.locator('.aw-token[data-index="5"]').text_content()
    assert before == "cabinet"
    page.keyboard.press("e")  # the chooser on the red token, x_5
    chooser = root.get_by_role("dialog", name="Replace x5")
    expect(chooser).to_be_visible()
    search = chooser.get_by_role("searchbox", name="Search the vocabulary")
    expect(search).to_be_focused()
    search.fill("cabinet")
    chosen = chooser.locator('[role="option"][aria-selected="true"]')
    expect(chosen).to_have_attribute("data-token", "cabinet")  # the word itself first
    page.keyboard.press("ArrowDown")  # then the words that start with it
    expect(chosen).to_have_attribute("data-token", "cabinets")
    root.screenshot(path=artifacts / "marimo-chooser.png")
    page.keyboard.press("Enter")
    expect(chooser).to_be_hidden()
    # the kernel applied the edit and sent the new tokens back
    expect(root.locator('.aw-token[data-index="5"]')).to_have_text("cabinets")
    expect(root.get_by_role("button", name="Undo edit", exact=True)).to_be_visible()
    root.get_by_role("button", name="Undo edit", exact=True).click()
    expect(root.locator('.aw-token[data-index="5"]')).to_have_text("cabinet")


def test_nothing_leaves_127_0_0_1(app_page, marimo_app):
    outside = [
        u
        for u in app_page.requests
        if not u.startswith((marimo_app.base_url, "blob:", "data:", "about:"))
    ]
    assert outside == []
    assert app_page.errors == []
