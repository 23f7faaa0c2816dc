"""The view says when its kernel is gone, and what still works (issue #25).

A widget keeps the steps it was sent.  When its kernel restarts or shuts
down, ipywidgets marks the model's comm dead (a restart), JupyterLab disposes
the kernel's comms (every send then throws) and reports the kernel's status;
the view must say so within a few seconds, keep stepping and playing through
the steps it holds, and stop offering what needs a kernel.  A live kernel
never makes it say so, during Play or idle: the heartbeat (a ping when idle
and visible) is answered.
"""

from __future__ import annotations

import json
import re
import time
import urllib.request

from playwright.sync_api import expect

SETUP = """
import torch
from attn_widget import AttentionWidget, SelfAttentionRNN

torch.manual_seed(0)
w = AttentionWidget(SelfAttentionRNN(4, 8), tokens=[f"w{i}" for i in range(1, 11)],
                    inputs=torch.randn(10, 4), speed=8)
pongs = []
_ping = w._answers._answers["ping"]
w._answers._answers["ping"] = lambda content: (pongs.append(1), _ping(content))
"""
#: The most the notice may take after a restart or a shutdown, in seconds.  A
#: restart is heard at once (ipywidgets' comm_live_update, the kernel's status);
#: a kernel killed behind Lab's back is found by the next ping (PING_MS = 10 s).
RESTART_NOTICE_S = 5
SHUTDOWN_NOTICE_S = 15
GONE = (
    r"^the kernel is gone \((restarted|restarting|dead|its comm is closed[^)]*)\): positions 0 … "
)


def _log_status(page, root) -> None:
    """Record, in the page, every text of the widget's status line and every
    connection state its root shows."""
    page.evaluate(
        """(root) => {
          const status = root.querySelector('.aw-status');
          window.__statusLog = [[root.dataset.connection, status.textContent]];
          const note = () =>
            window.__statusLog.push([root.dataset.connection, status.textContent]);
          new MutationObserver(note)
            .observe(status, {childList: true, characterData: true, subtree: true});
          new MutationObserver(note)
            .observe(root, {attributes: true, attributeFilter: ['data-connection']});
        }""",
        root.element_handle(),
    )


def _open(open_notebook, name):
    nb = open_notebook(name, [SETUP, "w"])
    root = nb.cell(1).locator(".attn-widget")
    expect(root).to_have_count(1)
    return nb, root


def test_a_live_kernel_never_shows_the_notice_during_play_or_idle(open_notebook, page):
    nb, root = _open(open_notebook, "kernel_live_e2e.ipynb")
    _log_status(page, root)
    root.get_by_role("button", name="Play").click()
    expect(root).to_have_attribute("data-t", "10", timeout=20_000)
    # idle and visible past PING_MS: the heartbeat pings, the kernel answers
    time.sleep(12)
    assert nb.run("print(len(pongs))").strip() not in ("", "0")
    log = page.evaluate("() => window.__statusLog")
    assert all(state in ("ok", "waiting") for state, _ in log), log
    assert not any("gone" in text or "no reply" in text for _, text in log), log
    assert page.page_errors == []


def test_after_a_restart_the_view_says_the_kernel_is_gone_and_still_steps(
    open_notebook, page, artifacts
):
    nb, root = _open(open_notebook, "kernel_restart_e2e.ipynb")
    nb.run("w.goto(6)")  # steps 0 … 5 are here, and what compute-ahead sent
    expect(root).to_have_attribute("data-t", "6")
    held = int(nb.run("print(w._outbox.sent)").strip())
    assert 6 <= held <= 10
    status = root.locator(".aw-status")
    expect(status).to_have_text("")

    start = time.monotonic()
    page.evaluate("async () => { await window.__attnPanel.sessionContext.restartKernel(); }")
    expect(status).to_have_text(
        re.compile(GONE + f"{held} still step and play"),
        timeout=RESTART_NOTICE_S * 1000,
    )
    took = time.monotonic() - start
    assert took < RESTART_NOTICE_S, took
    expect(root).to_have_attribute("data-connection", "gone")
    root.screenshot(path=artifacts / "kernel-gone-restart.png")

    # what still works: stepping and Play through the steps here
    back = root.get_by_role("button", name="Step back")
    forward = root.get_by_role("button", name="Step forward", exact=True)
    for _ in range(6):
        back.click()
    expect(root).to_have_attribute("data-t", "0")
    forward.click()
    expect(root).to_have_attribute("data-t", "1")
    expect(root.locator("[data-alpha]")).to_have_count(1)
    root.get_by_role("button", name="Play").click()
    expect(root).to_have_attribute(
        "data-t", str(held), timeout=10_000
    )  # it stops where the steps end
    time.sleep(1)
    expect(root).to_have_attribute("data-t", str(held))
    expect(root.locator("[data-alpha]")).to_have_count(held)
    # what waits for a kernel is not offered
    expect(root.get_by_role("button", name="Replace a token")).to_have_count(0)
    expect(root.get_by_role("button", name="Knockout")).to_be_hidden()
    expect(status).to_have_text(re.compile(GONE))
    assert page.page_errors == []

    # the new kernel works, and a new widget from it is live
    nb.wait_idle()
    nb.run(SETUP + "\nw.goto(2)")
    assert nb.run("print(w.t)").strip() == "2"


def test_a_kernel_shut_down_behind_labs_back_is_found_by_the_heartbeat(
    open_notebook, page, lab_server
):
    nb, root = _open(open_notebook, "kernel_shutdown_e2e.ipynb")
    nb.run("w.goto(3)")
    expect(root).to_have_attribute("data-t", "3")
    status = root.locator(".aw-status")
    kernel = page.evaluate("() => window.__attnPanel.sessionContext.session.kernel.id")
    start = time.monotonic()
    request = urllib.request.Request(lab_server.url(f"api/kernels/{kernel}"), method="DELETE")
    with urllib.request.urlopen(request, timeout=30) as resp:
        assert resp.status == 204
    expect(status).to_have_text(
        re.compile(GONE + r"\d+ still step and play"),
        timeout=SHUTDOWN_NOTICE_S * 1000,
    )
    took = time.monotonic() - start
    print(json.dumps({"shutdown_notice_s": round(took, 1)}))
    assert took < SHUTDOWN_NOTICE_S
    root.get_by_role("button", name="Step back").click()
    expect(root).to_have_attribute("data-t", "2")
    assert page.page_errors == []
