"""The widget in Voilà: a notebook served as an app (``voila notebook.ipynb``),
its cells run by Voilà's kernel and only the outputs shown.  The widget draws
with the core's α, steps by a click and by the keys, and offers its edits (a
kernel answers it); nothing of ours is fetched from outside 127.0.0.1."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from labdriver import start_app, write_notebook
from playwright.sync_api import expect

from attn_widget import demo

pytest.importorskip("voila", reason="Voilà is in the test extra: pip install voila")

CELL = """\
from attn_widget import demo
w = demo("agreement")
w.goto(3)
w
"""


@pytest.fixture(scope="module")
def voila(tmp_path_factory):
    where = tmp_path_factory.mktemp("voila")
    for d in ("config", "runtime", "data"):
        (where / d).mkdir()
    write_notebook(where, "app.ipynb", [CELL])
    server = start_app(
        lambda port: [
            sys.executable,
            "-m",
            "voila",
            "app.ipynb",
            "--no-browser",
            f"--port={port}",
            "--Voila.ip=127.0.0.1",
            "--Voila.port_retries=0",
        ],
        where,
        env={  # its own Jupyter dirs: none of the user's settings or extensions' state
            "JUPYTER_CONFIG_DIR": str(where / "config"),
            "JUPYTER_RUNTIME_DIR": str(where / "runtime"),
            "JUPYTER_DATA_DIR": str(where / "data"),
            "JUPYTER_PLATFORM_DIRS": "1",
        },
    )
    try:
        yield server
    finally:
        server.stop()


def test_the_widget_steps_in_voila(voila, browser, artifacts):
    w = demo("agreement")
    w.goto(w.T)
    steps = w.stepper.steps
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(30_000)
    try:
        page = context.new_page()
        requests: list[str] = []
        page.on("request", lambda r: requests.append(r.url))
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(voila.base_url + "/")
        root = page.locator(".attn-widget")
        expect(root).to_have_count(1, timeout=90_000)

        def expect_alpha(k):
            expect(root).to_have_attribute("data-t", str(k))
            alpha = steps[k - 1].alpha.numpy()

            def shown():
                pairs = root.locator(".aw-tokens [data-alpha]").evaluate_all(
                    "els => els.map(e => [Number(e.dataset.index), Number(e.dataset.alpha)])"
                )
                got = dict(pairs)
                assert sorted(got) == list(range(k)), got
                return got

            got = shown()
            np.testing.assert_allclose([got[i] for i in range(k)], alpha[:k], rtol=1e-5, atol=1e-7)

        expect_alpha(3)
        root.get_by_role("button", name="Step forward", exact=True).click()
        expect_alpha(4)
        root.click(position={"x": 4, "y": 4})
        page.keyboard.press("ArrowRight")
        expect_alpha(5)
        page.keyboard.press("End")
        expect(root).to_have_attribute("data-t", str(w.T))
        page.keyboard.press("Home")
        expect(root).to_have_attribute("data-t", "0")
        # a live kernel answered: the view offers its edits and the text box
        expect(root.get_by_role("button", name="Replace a token")).to_be_visible()
        expect(root.get_by_role("textbox", name="Your sentence")).to_be_visible()
        page.screenshot(path=artifacts / "voila.png", full_page=True)
        assert errors == []
        # Voilà's own page asks a CDN for Font Awesome; nothing else leaves 127.0.0.1
        outside = [
            u
            for u in requests
            if not u.startswith((voila.base_url, "blob:", "data:", "about:"))
            and "@fortawesome/fontawesome-free" not in u
        ]
        assert outside == []
    finally:
        context.close()
