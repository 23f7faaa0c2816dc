"""A notebook converted by ``jupyter nbconvert --to html --execute`` with the
preprocessor ``attn_widget.nbconvert.OfflineWidgets``, opened in headless
Chromium from file:// with every other request aborted: each saved widget
draws at its saved position with the core's α, steps, and a comparison's
panels move together.  Without the preprocessor the same output is blank
(nbconvert's widget manager comes from a CDN), which the test checks too, so
it can fail."""

from __future__ import annotations

import subprocess
import sys

import nbformat
import numpy as np
import pytest
import torch
from labdriver import KERNELSPEC
from playwright.sync_api import expect

from attn_widget import SelfAttentionRNN, compare, demo
from attn_widget.render.bundle import STATIC

SETUP = """\
import torch
from attn_widget import SelfAttentionRNN, compare, demo
"""
ONE = """\
w = demo("agreement")
w.goto(w.T)  # every step computed, so the saved page can go on from 5
w.goto(5)
w
"""
TWO = """\
torch.manual_seed(2)
x = torch.randn(7, 3)
cmp = compare(SelfAttentionRNN(3, 5, update="eq4"), SelfAttentionRNN(3, 5, update="eq3"), inputs=x)
cmp.goto(7)
cmp.goto(3)
cmp
"""
PREPROCESSOR = "--HTMLExporter.preprocessors=attn_widget.nbconvert.OfflineWidgets"


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    """The notebook converted twice, by one execution: with the preprocessor and
    without it."""
    where = tmp_path_factory.mktemp("nbconvert")
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = KERNELSPEC
    nb.cells = [nbformat.v4.new_code_cell(src) for src in (SETUP, ONE, TWO)]
    nbformat.write(nb, where / "small.ipynb")
    run = [sys.executable, "-m", "jupyter", "nbconvert"]
    subprocess.run(
        [*run, "--to", "notebook", "--execute", "--output", "executed", "small.ipynb"],
        cwd=where,
        check=True,
        capture_output=True,
        timeout=300,
    )
    for name, extra in (("offline", [PREPROCESSOR]), ("plain", [])):
        subprocess.run(
            [*run, "--to", "html", *extra, "--output", name, "executed.ipynb"],
            cwd=where,
            check=True,
            capture_output=True,
            timeout=120,
        )
    return where


class FilePage:
    """A page opened from a file with every request outside file:// aborted."""

    def __init__(self, browser, path):
        self.context = browser.new_context(viewport={"width": 1280, "height": 900})
        self.context.set_default_timeout(15_000)
        self.aborted: list[str] = []

        def route(r):
            if r.request.url.startswith("file://"):
                r.continue_()
            else:
                self.aborted.append(r.request.url)
                r.abort()

        self.context.route("**/*", route)
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        self.page.goto(path.resolve().as_uri())


@pytest.fixture
def open_file(browser):
    pages: list[FilePage] = []

    def _open(path):
        pages.append(FilePage(browser, path))
        return pages[-1]

    yield _open
    for p in pages:
        p.context.close()


def expect_alpha(root, k: int, steps) -> None:
    """Position k shows α_{k-1,·} as the core computes it (to float32 rounding:
    the kernel that saved it and this process ran the same model, apart)."""
    expect(root).to_have_attribute("data-t", str(k))
    expect(root.locator('.aw-tokens [aria-current="step"]')).to_have_attribute("data-index", str(k))
    alpha = steps[k - 1].alpha.detach().numpy()

    def shown():
        pairs = root.locator(".aw-tokens [data-alpha]").evaluate_all(
            "els => els.map(e => [Number(e.dataset.index), Number(e.dataset.alpha)])"
        )
        return dict(pairs)

    got = shown()
    assert sorted(got) == list(range(k)), got
    np.testing.assert_allclose([got[i] for i in range(k)], alpha[:k], rtol=1e-5, atol=1e-7)


def test_the_html_draws_every_saved_widget_offline_and_steps(converted, open_file, artifacts):
    w = demo("agreement")
    w.goto(w.T)
    torch.manual_seed(2)
    x = torch.randn(7, 3)
    cmp = compare(
        SelfAttentionRNN(3, 5, update="eq4"), SelfAttentionRNN(3, 5, update="eq3"), inputs=x
    )
    cmp.goto(7)
    one = w.stepper.steps
    two = [panel.stepper.steps for panel in cmp.panels]

    p = open_file(converted / "offline.html")
    roots = p.page.locator(".attn-widget")
    expect(roots).to_have_count(3)  # the widget, and the comparison's two panels
    single, first, second = roots.nth(0), roots.nth(1), roots.nth(2)
    expect(single.locator(".aw-tokens [data-index]")).to_have_count(w.T + 1)
    expect(single.locator('[data-index="2"]')).to_have_text(w.tokens[1])
    expect_alpha(single, 5, one)
    single.get_by_role("button", name="Step forward", exact=True).click()
    expect_alpha(single, 6, one)
    single.focus()
    p.page.keyboard.press("ArrowRight")
    expect_alpha(single, 7, one)
    # no kernel: no edits, no text box, no gradient shading
    expect(single.get_by_role("button", name="Replace a token")).to_have_count(0)
    expect(single.get_by_role("textbox", name="Your sentence")).to_have_count(0)

    expect(second.locator(".aw-controls")).to_be_hidden()
    expect_alpha(first, 3, two[0])
    expect_alpha(second, 3, two[1])
    first.get_by_role("button", name="Step forward", exact=True).click()
    expect_alpha(first, 4, two[0])
    expect_alpha(second, 4, two[1])  # its own α, at the shared position
    p.page.screenshot(path=artifacts / "nbconvert-offline.png", full_page=True)

    assert p.errors == []
    # what was aborted is nbconvert's own template (require.js, MathJax), never a
    # widget manager or anything of ours
    for url in p.aborted:
        assert "cdnjs.cloudflare.com/ajax/libs/" in url, url
        assert not any(s in url for s in ("jupyter-widgets", "anywidget", "unpkg", "jsdelivr"))


def test_without_the_preprocessor_the_widget_is_blank_offline(converted, open_file):
    """The problem the preprocessor solves, seen: nbconvert's page asks a CDN for
    the widget manager, and offline draws nothing where the widget was."""
    p = open_file(converted / "plain.html")
    p.page.wait_for_load_state("load")
    p.page.wait_for_timeout(1000)
    expect(p.page.locator(".attn-widget")).to_have_count(0)
    assert any("@jupyter-widgets/html-manager" in url for url in p.aborted), p.aborted


def test_the_front_end_goes_in_once(converted):
    """The preprocessor changes the HTML only, and puts the front end in once
    for two widget outputs; the executed notebook keeps its widget state."""
    html = (converted / "offline.html").read_text(encoding="utf-8")
    assert html.count('class="attn-widget-state"') == 2
    bundle = (STATIC / "standalone.js").read_text(encoding="utf-8")
    assert html.count(bundle) == 1
    executed = nbformat.read(converted / "executed.ipynb", as_version=4)
    assert "widgets" in executed.metadata
