"""Forged messages in a real JupyterLab page, both ways (issue #25, deliverable 2).

From the page's JavaScript, through the widget's own model (and so its comm),
the kernel gets forged custom messages and state updates: missing fields,
wrong types, huge lists, positions out of range, NaN, an edit without a token,
a huge knockout list.  From Python (``w.send``), the view gets forged messages:
steps of a future version, garbage, descriptors that overrun their buffer,
markup in an error.  Then:

- the kernel's state is consistent, read from Python (t, current, the steps);
- the view still steps, agrees with Python (position and α), and takes the
  kernel's next real version (a forged future version once made it wait forever);
- no script ran, and the page raised nothing.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from attn_widget.wire.answers import ERROR_CHARS

SETUP = """
import json
from attn_widget import demo
w = demo("agreement")
w.goto(2)
"""

STATE = """
s = w.session
cur = w.current
print(json.dumps({
    "t": w.t, "T": w.T, "frontier": w.frontier, "steps": len(s.steps),
    "position": s.position, "current": None if cur is None else int(cur.t),
    "version": w.version, "tokens": w.tokens, "knockout": w.knockout,
    "status": w.status, "speed": w.speed, "playing": w.playing,
}))
"""

# The widget's ipywidgets model, found through the output's renderer (its manager).
FIND_MODEL = """
async (index) => {
  const cell = window.__attnPanel.content.widgets[index];
  const out = cell.model.outputs.toJSON()
    .find((o) => o.data && o.data['application/vnd.jupyter.widget-view+json']);
  const id = out.data['application/vnd.jupyter.widget-view+json'].model_id;
  const stack = [cell.outputArea];
  while (stack.length) {
    const w = stack.pop();
    if (w._manager && w._manager.promise) {
      const manager = await w._manager.promise;
      window.__wModel = await manager.get_model(id);
      return id;
    }
    for (const c of w.widgets || []) stack.push(c);
  }
  return null;
}
"""

# What the page sends the kernel: custom messages (the version filled in as the
# widget's own), then state updates.  JSON turns NaN into null, as any page would.
FORGE = """
(version) => {
  const m = window.__wModel;
  const huge = Array.from({length: 100000}, (_, i) => i + 1000);
  const messages = [
    {}, {type: 5}, {type: 'nonsense'}, {type: 'sync'}, {type: 'sync', version: '0', have: 'x'},
    {type: 'sync', version, have: 1e9}, {type: 'sync', version, have: -3},
    {type: 'sync', version, have: NaN}, {type: 'sensitivity', version, k: 1e9},
    {type: 'sensitivity', version, k: NaN}, {type: 'sensitivity', version, k: -1},
    {type: 'edit', version, i: 1}, {type: 'edit', version, i: '1', token: 3},
    {type: 'edit', version, i: 1e9, token: null}, {type: 'edit', version, i: NaN, token: 'the'},
    {type: 'edit', version: version + 7, i: 1, token: null},
    {type: 'undo'}, {type: 'text'}, {type: 'text', text: 12},
    {type: 'text', text: 'x'.repeat(100000)},
    {type: 'knockout', version}, {type: 'knockout', version, slots: huge},
    {type: 'knockout', version, slots: 'all'}, {type: 'knockout', version, slots: [NaN, -1]},
    {type: 'knockout', version: version + 1, slots: [1]},
    {type: 'ping', extra: huge},
  ];
  for (const msg of messages) m.send(msg, {}, []);
  const updates = [
    {t: 1e9}, {t: NaN}, {t: 'two'}, {T: 999}, {version: version + 99}, {frontier: 0},
    {speed: NaN}, {speed: 'fast'}, {playing: 'yes'}, {shading: 'lasers'}, {tokens: ['<b>x</b>']},
    {_snapshot: null}, {nope: 1},
  ];
  for (const u of updates) { m.set(u); m.save_changes(); }
  return messages.length + updates.length;
}
"""

KERNEL_FORGES = """
from attn_widget.protocol import encode_steps
real = w.session.steps[:3]
descs, data = encode_steps(real)
v, T = w.version, w.T
def steps(**kw):
    return {"type": "steps", "version": v, "frontier": 3, "T": T, "reason": "step", **kw}
overrun = dict(descs[0], h={"buffer": 0, "dtype": "float32", "shape": [10**9], "offset": 0})
forged = [
    (steps(version=v + 50, reason="reset", steps=descs), [data]),  # a future version
    (steps(version=v + 10**9, steps=[]), []),
    (steps(version="7", steps=descs), [data]),
    (steps(version=float("nan"), steps=descs), [data]),
    (steps(steps="garbage"), []),
    (steps(steps=[{"t": 10**9}]), []),
    (steps(steps=[overrun]), [data]),
    (steps(steps=[dict(descs[0], t=-1)]), [data]),
    ({"type": "nonsense"}, []),
    ({"type": "sensitivity", "version": v + 9, "k": 2, "values": None}, []),
    ({"type": "error", "message": "<img src=x onerror=window.__pwned=1>", "request": None}, []),
    ("garbage", []), ([1, 2, 3], []), (None, []),
]
for content, buffers in forged:
    w.send(content, buffers=buffers)
print(len(forged))
"""


def _consistent(state: dict) -> None:
    assert 0 <= state["t"] <= state["T"], state
    assert state["position"] == state["t"], state
    assert state["frontier"] == state["steps"], state
    assert state["current"] == (None if state["t"] == 0 else state["t"] - 1), state


def _view_agrees(nb, root, t: int) -> None:
    """The view shows position t as Python does: the same t, and α_{t-1,·} to float32."""
    expect(root).to_have_attribute("data-t", str(t))
    expect(root.locator("[data-alpha]")).to_have_count(t)
    assert nb.run("print(w.t)").strip() == str(t)
    python = nb.run_json("print(json.dumps(w.current.alpha.tolist()))")
    drawn = [
        float(a)
        for a in root.locator("[data-alpha]").evaluate_all(
            "(els) => els.map((e) => e.getAttribute('data-alpha'))"
        )
    ]
    # the same float32 numbers, printed shortest by the view (format.ts): ≤ 1 ulp apart
    assert drawn == pytest.approx(python, rel=1e-6, abs=1e-7)


@pytest.fixture(scope="module")
def nb(open_notebook, page):
    notebook = open_notebook("forged_e2e.ipynb", [SETUP, "w"])
    expect(notebook.cell(1).locator(".attn-widget")).to_have_count(1)
    assert page.evaluate(FIND_MODEL, 1)
    return notebook


def test_forged_messages_from_the_page_leave_the_kernel_consistent(nb, page):
    root = nb.cell(1).locator(".attn-widget")
    before = nb.run_json(STATE)
    _consistent(before)
    sent = page.evaluate(FORGE, before["version"])
    assert sent > 30
    # ipywidgets merges updates while one is on its way: wait until all went out
    page.wait_for_function(
        "() => window.__wModel._pending_msgs === 0 && !window.__wModel._msg_buffer"
    )
    after = nb.run_json(STATE)  # runs after the comm messages: one shell queue
    _consistent(after)
    # nothing forged changed the data: no edit, no text, no knockout, no version
    for key in ("T", "version", "tokens", "knockout"):
        assert after[key] == before[key], (key, before[key], after[key])
    # (t = 1e9 is clamped to T, "two" and NaN refused: which one the kernel heard
    # last depends on how ipywidgets merged them; the view hears the value kept)
    expect(root).to_have_attribute("data-t", str(after["t"]))
    assert after["playing"] is False and after["speed"] == before["speed"]
    # refused clearly, and cut: a forged list is never echoed in full
    assert after["status"].startswith("error: ")
    assert len(after["status"]) <= len("error: ") + ERROR_CHARS
    # the view agrees with the kernel's t, and still steps
    root.get_by_role("button", name="Reset").click()
    expect(root).to_have_attribute("data-t", "0")
    forward = root.get_by_role("button", name="Step forward", exact=True)
    forward.click()
    forward.click()
    _view_agrees(nb, root, 2)
    assert page.evaluate("() => window.__pwned") is None
    expect(root.locator("img")).to_have_count(0)
    assert page.page_errors == []


def test_forged_messages_to_the_view_never_replace_the_kernels_steps(nb, page):
    root = nb.cell(1).locator(".attn-widget")
    nb.run("w.goto(3)")
    _view_agrees(nb, root, 3)
    assert nb.run(KERNEL_FORGES).strip() == "14"
    state = nb.run_json(STATE)
    _consistent(state)
    # the steps here are the kernel's: stepping back and forth draws them
    back = root.get_by_role("button", name="Step back")
    forward = root.get_by_role("button", name="Step forward", exact=True)
    back.click()
    back.click()
    _view_agrees(nb, root, 1)
    forward.click()
    forward.click()
    forward.click()
    _view_agrees(nb, root, 4)
    # the kernel's next real version (a knockout) arrives and is drawn: nothing waits forever
    nb.run("w.knockout = [1]")
    after = nb.run_json(STATE)
    _consistent(after)
    assert after["version"] == state["version"] + 1 and after["knockout"] == [1]
    _view_agrees(nb, root, 4)  # α of the new version: slot 1 hidden
    assert page.evaluate("() => window.__pwned") is None
    expect(root.locator("img")).to_have_count(0)
    assert page.page_errors == []
