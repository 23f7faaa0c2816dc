"""Re-running a cell that makes a widget does not leak (issue 25, "Leaks"):
the widgets its previous run made are closed after it, unless a name of the
notebook holds them, and a closed widget lets go of its steps and saved state
(attn_widget/kernel.py, README "Errors and limits").

The cells run in a real IPython shell with the cell id JupyterLab sends, in a
subprocess (the shell and the comm manager are per process).  No browser: the
browser's side goes with the comm, which closing closes.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import types

import ipykernel.kernelapp  # noqa: F401 - as in a kernel: comms go to its manager
import pytest
import torch

import attn_widget.kernel as kernel
import attn_widget.widget as widget_module
from attn_widget.core import SelfAttentionRNN
from attn_widget.widget import AttentionWidget

_RERUN = textwrap.dedent(
    """
    import gc, json, sys
    import ipykernel.kernelapp  # as in a kernel: comms are registered with its manager
    import attn_widget.widget as widget_module
    widget_module._bundle = lambda: ("export default {};", "")
    from IPython.core.interactiveshell import InteractiveShell
    from attn_widget.widget import AttentionWidget

    def rss_mib():
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * 4096 / 2**20

    shell = InteractiveShell.instance()
    setup, cells, runs, cell_id = json.loads(sys.argv[1])
    shell.run_cell(setup, store_history=True, cell_id="setup")
    out = []
    for run in range(1, runs + 1):
        for cell in cells:  # cell_id None: as a terminal IPython runs it, with no id
            result = shell.run_cell(cell, store_history=True, cell_id=cell_id)
            assert result.success, result
        if run in (10, runs):
            gc.collect()
            live = [o for o in gc.get_objects() if isinstance(o, AttentionWidget)]
            out.append({
                "open": sum(w.comm is not None for w in live),
                "steps": sum(len(w.session.stepper.steps) for w in live),
                "snapshot_bytes": sum(len(w._snapshot) for w in live),
                "rss_mib": rss_mib(),
            })
    print(json.dumps(out))
    """
)

SETUP = """
import torch
from attn_widget import AttentionWidget, compare
from attn_widget.core import SelfAttentionRNN
torch.manual_seed(0)
model = SelfAttentionRNN(8, 64)
x = torch.randn(400, 8)
small = x[:40]
kept = []
"""
# Each widget precomputes its steps up to STEP_DATA_LIMIT (4 MB of step records,
# and the same again as its saved state): 50 of them held ~400 MB.
BIG = "AttentionWidget(model, inputs=x, precompute=True)"


def rerun(cell: str | list[str], runs: int = 50, cell_id: str | None = "the-cell") -> list[dict]:
    """Run ``cell`` (or each of a list of cells, in turn) ``runs`` times in a fresh
    IPython shell; what is alive after run 10 and after the last."""
    cells = [cell] if isinstance(cell, str) else cell
    result = subprocess.run(
        [sys.executable, "-c", _RERUN, json.dumps([SETUP, cells, runs, cell_id])],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize(
    "cell", [BIG, f"w = {BIG}", "c = compare(model, model, inputs=x, precompute=True)"]
)
def test_re_running_a_cell_50_times_keeps_widgets_and_memory_bounded(cell):
    at_10, at_50 = rerun(cell)
    panels = 2 if "compare" in cell else 1
    # Only the last run's widgets are open and hold steps: what one run makes.
    assert at_10["open"] == at_50["open"] == panels
    assert at_50["steps"] == at_10["steps"] <= panels * 400
    assert at_50["snapshot_bytes"] == at_10["snapshot_bytes"] <= panels * 4_300_000
    # Without closing, each run added ~8 MB (its steps and saved state): 40 runs,
    # 320 MB.  What is left per run is a closed widget that Out[n] may still hold.
    assert at_50["rss_mib"] - at_10["rss_mib"] < 40, (at_10, at_50)


def test_without_a_cell_id_a_cell_is_known_by_its_text():
    """A terminal IPython sends no cell id: running the same text again closes what
    its last run made (50 runs: one widget open, memory bounded), as in a notebook."""
    at_10, at_50 = rerun(f"w = {BIG}", cell_id=None)
    assert at_10["open"] == at_50["open"] == 1
    assert at_50["steps"] == at_10["steps"] <= 400
    assert at_50["rss_mib"] - at_10["rss_mib"] < 40, (at_10, at_50)


def test_without_a_cell_id_other_text_and_names_keep_their_widgets():
    # Two cells of different text, run in turn: each closes only its own last widget.
    small = "AttentionWidget(model, inputs=small)"
    at_10, at_12 = rerun([small, small + "  # another cell"], runs=12, cell_id=None)
    assert at_10["open"] == at_12["open"] == 2
    # The same text, but each widget kept in a list: a name holds every one.
    (at_10, at_12) = rerun("kept.append(AttentionWidget(model, inputs=small))", 12, None)
    assert at_10["open"] == 10 and at_12["open"] == 12


def test_in_a_kernel_without_cell_ids_no_cell_is_known_by_its_text(monkeypatch):
    """The classic Notebook and nbclient send no id: two cells of the same text there
    are two views on screen, and closing one would blank it."""
    info = types.SimpleNamespace(cell_id=None, raw_cell="demo()")
    monkeypatch.setattr(kernel, "_in_a_kernel", lambda: True)
    assert kernel._cell_key(info) is None  # noqa: SLF001
    monkeypatch.setattr(kernel, "_in_a_kernel", lambda: False)
    assert kernel._cell_key(info) == ("source", "demo()")  # noqa: SLF001
    assert kernel._cell_key(types.SimpleNamespace(cell_id=None, raw_cell="  \n")) is None  # noqa: SLF001
    with_id = types.SimpleNamespace(cell_id="abc", raw_cell="demo()")
    assert kernel._cell_key(with_id) == ("id", "abc")  # noqa: SLF001


def test_a_widget_a_name_holds_is_not_closed_by_a_re_run():
    # The cell keeps each widget it makes in a list: every one stays open.
    (at_10, at_12) = rerun("kept.append(AttentionWidget(model, inputs=small))", runs=12)
    assert at_10["open"] == 10 and at_12["open"] == 12


def test_a_closed_widget_lets_go_of_its_steps_and_still_works_from_python(monkeypatch):
    monkeypatch.setattr(widget_module, "_bundle", lambda: ("export default {};", ""))
    torch.manual_seed(0)
    model = SelfAttentionRNN(3, 5).double()
    x = torch.randn(12, 3, dtype=torch.float64)
    w = AttentionWidget(model, inputs=x, precompute=True)
    w.goto(7)
    assert w.session.frontier == 12 and len(w._snapshot) > 0  # noqa: SLF001
    w.close()
    assert w.comm is None and w.session.stepper.steps == [] and w._snapshot == b""  # noqa: SLF001
    assert (w.t, w.frontier) == (0, 0)  # the traits say what the session holds
    w.close()  # twice: nothing more
    w.goto(12)  # computed again, with the same numbers (the same computation run twice)
    with torch.no_grad():
        torch.testing.assert_close(w.trace().h, model(x).h, rtol=0, atol=1e-12)
