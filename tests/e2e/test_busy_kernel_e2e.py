"""docs/design.md §4: while a cell runs, the front end's messages wait; Python's pushes do not.

A cell loops for a while and records ``w.t`` as it goes, while the test
clicks Step forward past the computed frontier. The clicks must not change
``w.t`` inside the running cell (the kernel handles them after it), the
widget must say it is waiting rather than freeze, and once the cell ends
the kernel must compute and send the steps the clicks asked for.
"""

from __future__ import annotations

import pytest
from labdriver import eventually
from playwright.sync_api import expect

SETUP = """
import json, time
import torch
from attn_widget import AttentionWidget, SelfAttentionRNN

torch.manual_seed(0)
model = SelfAttentionRNN(4, 8)
w = AttentionWidget(model, tokens=[f"w{i}" for i in range(1, 11)], inputs=torch.randn(10, 4))
"""

BUSY = """
open("busy-started", "w").close()
seen = []
start = time.monotonic()
while not __import__("os").path.exists("release-busy") and time.monotonic() - start < 60:
    seen.append(w.t)
    time.sleep(0.05)
print(json.dumps(sorted(set(seen))))
"""


@pytest.fixture(scope="module")
def nb(open_notebook):
    notebook = open_notebook("busy_kernel_e2e.ipynb", [SETUP, "w"])
    expect(notebook.cell(1).locator(".attn-widget")).to_have_count(1)
    return notebook


def test_clicks_wait_while_a_cell_runs_then_are_served(nb, lab_server):
    widget = nb.cell(1).locator(".attn-widget")
    flag = lab_server.root / "release-busy"
    started = lab_server.root / "busy-started"
    for path in (flag, started):
        path.unlink(missing_ok=True)
    busy = nb.start(BUSY)
    eventually(started.exists, timeout=20)

    forward = widget.get_by_role("button", name="Step forward", exact=True)
    for _ in range(3):
        forward.click()
    # The front end moved at once and waits for data it does not have.
    expect(widget.locator('[aria-current="step"]')).to_have_attribute("data-index", "3")
    # (Lab's kernel status is no witness here: it can read "idle" while the
    # cell still runs. What Python saw during the cell is.)

    flag.write_text("go")
    seen = nb.wait_cell(busy)
    assert seen.strip() == "[0]", f"w.t changed while the cell ran: {seen}"

    # After the cell, the kernel takes the clicks and sends the steps.
    t, frontier = map(int, nb.run("print(w.t, w.frontier)").split())
    assert t == 3 and 3 <= frontier <= 3 + 8  # and up to AHEAD_STEPS computed ahead
    expect(widget.locator("[data-alpha]")).to_have_count(3)
    flag.unlink(missing_ok=True)
