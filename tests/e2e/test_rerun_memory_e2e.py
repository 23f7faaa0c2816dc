"""The page lets go of a re-run cell's widgets (issue #25, "Leaks", the browser's half).

Re-running a cell closes the widgets its previous run made (kernel-side:
tests/test_rerun.py); the page must then let go of them too: their views
leave the DOM, and their models, controllers and step stores are collected.
Measured in a real JupyterLab page over 50 re-runs of a cell that makes a
precomputed T = 400, H = 64 widget (about 4 MB of steps sent to the page, and
as much again in its saved state): the JS heap after a forced collection
(CDP HeapProfiler.collectGarbage, then Runtime.getHeapUsage) after run 10 and
after run 50, and the widget views in the DOM.  README "Errors and limits"
quotes the numbers this prints.
"""

from __future__ import annotations

import json
import time

from playwright.sync_api import expect

SETUP = """
import torch
from attn_widget import AttentionWidget
from attn_widget.core import SelfAttentionRNN
torch.manual_seed(0)
model = SelfAttentionRNN(8, 64)
x = torch.randn(400, 8)
"""
CELL = "w = AttentionWidget(model, inputs=x, precompute=True)\nw"
RUNS = 50
#: Bound on the heap's growth from run 10 to run 50, in MB: 3× the 6.6 MB measured
#: (README "Errors and limits"; 15.7 MB when each widget's module instance ran its
#: own code, see js/src/index.ts).  A page that kept each closed widget's steps
#: would grow by 40 × 4 MB = 160 MB at least.
GROWTH_MB = 20

_RERUN = """
async (i) => {
  const app = window.jupyterapp, p = window.__attnPanel;
  app.shell.activateById(p.id);
  p.content.activeCellIndex = i;
  p.content.deselectAll();
  const before = p.content.model.cells.get(i).executionCount ?? 0;
  await app.commands.execute('notebook:run-cell');
  return before;
}
"""
_DONE = """
([i, before]) => {
  const c = window.__attnPanel.content.model.cells.get(i);
  if (c.outputs.toJSON().some((o) => o.output_type === 'error')) return true;
  return (c.executionCount ?? 0) > before && c.executionState !== 'running';
}
"""


def _heap_mb(page, cdp) -> float:
    time.sleep(1.0)  # let the views' removals and the comm closes settle
    for _ in range(3):
        cdp.send("HeapProfiler.collectGarbage")
    return cdp.send("Runtime.getHeapUsage")["usedSize"] / 1e6


def test_fifty_reruns_of_a_widget_cell_keep_the_page_bounded(open_notebook, page):
    nb = open_notebook("rerun_memory_e2e.ipynb", [SETUP, CELL])
    cell = nb.cell(1)
    expect(cell.locator(".attn-widget")).to_have_count(1)
    cdp = page.context.new_cdp_session(page)
    measured = {}
    for run in range(2, RUNS + 1):  # run_all made run 1
        before = page.evaluate(_RERUN, 1)
        page.wait_for_function(_DONE, arg=[1, before], timeout=60_000, polling=100)
        nb.wait_idle()
        expect(cell.locator(".attn-widget")).to_have_count(1)
        if run in (10, RUNS):
            measured[run] = {
                "heap_mb": round(_heap_mb(page, cdp), 1),
                "views": page.evaluate("() => document.querySelectorAll('.attn-widget').length"),
            }
    out = nb.run(
        "import gc, json\n"
        "live = [o for o in gc.get_objects() if isinstance(o, AttentionWidget)]\n"
        'print(json.dumps({"open": sum(o.comm is not None for o in live)}))'
    )
    # (gc.get_objects() meets torch's deprecated names: a FutureWarning on stderr)
    kernel = json.loads(next(line for line in out.splitlines() if line.startswith('{"open"')))
    growth = measured[RUNS]["heap_mb"] - measured[10]["heap_mb"]
    print(json.dumps({"measured": measured, "growth_mb": round(growth, 1), "kernel": kernel}))
    assert measured[10]["views"] == measured[RUNS]["views"] == 1, measured
    assert kernel["open"] == 1, kernel
    assert growth < GROWTH_MB, measured
    # the one view left is live: it steps
    root = cell.locator(".attn-widget")
    root.get_by_role("button", name="Step forward", exact=True).click()
    expect(root).to_have_attribute("data-t", "1")
    assert page.page_errors == []
