"""Fixtures for the end-to-end tests: one private JupyterLab server per session,
one headless Chromium per session, one browser context per test module.

Every test in this folder is marked ``e2e`` (``pytest -m "not e2e"`` skips
them on purpose). A missing Chromium is a failure, not a skip.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from labdriver import ARTIFACTS, CHROMIUM_ARGS, LabNotebook, find_chromium, start_lab

HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(items):
    for item in items:
        if HERE in Path(item.fspath).resolve().parents:
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="session")
def lab_server(tmp_path_factory):
    server = start_lab(tmp_path_factory.mktemp("lab"))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def browser():
    chromium = find_chromium()
    if chromium is None:
        override = os.environ.get("ATTN_E2E_CHROMIUM")
        where = (
            f"$ATTN_E2E_CHROMIUM={override} is not an executable"
            if override
            else "none at /usr/bin/chromium or on PATH"
        )
        pytest.fail(
            f"End-to-end tests need Chromium: {where}. Install it with `apt-get install "
            "chromium` (scripts/test.sh does this), or deselect these tests explicitly "
            "with -m 'not e2e'.",
            pytrace=False,
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture(scope="module")
def page(browser, request):
    # A module may ask for a denser screen (DEVICE_SCALE_FACTOR = 2), so that its
    # screenshots show small glyphs (CJK at 10 px) as a HiDPI screen does.
    scale = getattr(request.module, "DEVICE_SCALE_FACTOR", 1)
    context = browser.new_context(
        viewport={"width": 1280, "height": 900}, device_scale_factor=scale
    )
    context.set_default_timeout(30_000)
    pg = context.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda exc: errors.append(str(exc)))
    pg.page_errors = errors
    # Everything must load from the local server (docs/design.md §4: no CDN, no fetch).
    external: list[str] = []
    local = ("http://127.0.0.1:", "data:", "blob:", "about:")

    def _on_request(request):
        if not request.url.startswith(local):
            external.append(request.url)

    pg.on("request", _on_request)
    pg.external_requests = external
    try:
        yield pg
    finally:
        context.close()


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


@pytest.fixture(scope="module")
def open_notebook(page, lab_server):
    """Factory: write a notebook into the server root, open it, run all its cells."""

    def _open(name: str, cells: list[str]) -> LabNotebook:
        from labdriver import write_notebook

        write_notebook(lab_server.root, name, cells)
        nb = LabNotebook(page, lab_server, name).open()
        nb.run_all()
        return nb

    return _open
