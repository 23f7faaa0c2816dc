"""Compare mode in a real JupyterLab in headless Chromium: the shipped eq1 and
eq4 recall models in one widget.  Clicks, Play and ``goto`` from Python keep
both panels at one position, each panel shades by its own α (none for eq1),
and each shows its own prediction, equal to its head's softmax in the kernel."""

from __future__ import annotations

import pytest
from labdriver import eventually, record_positions
from playwright.sync_api import expect

SETUP = """
import json
from attn_widget import compare
from attn_widget.demo import demo_model

eq4 = demo_model("recall", "eq4")
cmp = compare(demo_model("recall", "eq1"), eq4, text=eq4.metadata["demo_text"], speed=4.0)
"""
CELL = 1


@pytest.fixture(scope="module")
def nb(open_notebook):
    notebook = open_notebook("compare_e2e.ipynb", [SETUP, "cmp"])
    expect(notebook.cell(CELL).locator(".attn-widget")).to_have_count(2)
    return notebook


def panels(nb):
    return nb.cell(CELL).locator(".attn-widget")


def expect_both_at(nb, k):
    for i in range(2):
        expect(panels(nb).nth(i)).to_have_attribute("data-t", str(k))


def test_one_set_of_controls_and_clicks_move_both_panels(nb, artifacts):
    nb.run("cmp.goto(0)")
    expect_both_at(nb, 0)
    first, second = panels(nb).nth(0), panels(nb).nth(1)
    expect(first.locator(".aw-controls")).to_be_visible()
    expect(second.locator(".aw-controls")).to_be_hidden()
    expect(first.locator(".aw-title")).to_have_text("eq1 (no attention)")
    expect(second.locator(".aw-title")).to_have_text("eq4 / dot")
    forward = first.get_by_role("button", name="Step forward", exact=True)
    for k in range(1, 5):
        forward.click()
        expect_both_at(nb, k)
    assert nb.run_json("print(json.dumps([cmp.t] + [p.t for p in cmp.panels]))") == [4, 4, 4]
    # eq1 has no attention: nothing shaded; eq4 shades by its own α
    expect(first.locator(".aw-tokens [data-alpha]")).to_have_count(0)
    want = nb.run_json("print(json.dumps(cmp.panels[1].stepper.steps[3].alpha.tolist()))")
    shown = second.locator(".aw-tokens [data-alpha]").evaluate_all(
        "els => els.map(e => Number(e.dataset.alpha))"
    )
    assert shown == pytest.approx(want, abs=1e-6)
    nb.cell(CELL).screenshot(path=artifacts / "compare-widget.png")


def test_goto_from_python_moves_both_and_each_shows_its_own_prediction(nb, artifacts):
    T = int(nb.run("print(cmp.T)").strip())
    nb.run(f"cmp.goto({T})")
    expect_both_at(nb, T)
    for i in range(2):
        want = nb.run_json(f"print(json.dumps(list(cmp.panels[{i}].prediction().items())))")

        def check(i=i, want=want):
            rows = (
                panels(nb)
                .nth(i)
                .locator(".aw-prediction-row")
                .evaluate_all(
                    "rs => rs.filter(r => r.style.display !== 'none')"
                    ".map(r => [r.dataset.label, Number(r.dataset.p)])"
                )
            )
            assert [label for label, _ in rows] == [label for label, _ in want]
            for (_, shown), (_, p) in zip(rows, want, strict=True):
                assert shown == pytest.approx(p, abs=1e-6)

        eventually(check, timeout=10)
    key = nb.run_json(
        "print(json.dumps(next(w for w in eq4.metadata['demo_text'].split() if w[0] == 'k')))"
    )
    top = panels(nb).nth(1).locator(".aw-prediction-row").first
    expect(top).to_have_attribute("data-label", key)  # eq4 recalls the key
    nb.cell(CELL).screenshot(path=artifacts / "compare-widget-end.png")


def test_play_moves_both_panels_through_every_position_in_order(nb):
    T = int(nb.run("print(cmp.T)").strip())
    nb.run("cmp.goto(0)")
    expect_both_at(nb, 0)
    read_logs = record_positions(nb.page, [panels(nb).nth(i).element_handle() for i in range(2)])
    panels(nb).nth(0).get_by_role("button", name="Play", exact=True).click()
    expect(panels(nb).nth(0)).to_have_attribute("data-t", str(T), timeout=20_000)
    expect_both_at(nb, T)
    logs = read_logs()
    for log in logs:
        assert [k for _, k in log] == list(range(1, T + 1)), log
        rate = (T - 1) / (log[-1][0] - log[0][0])
        assert 0.8 * 4.0 <= rate <= 1.2 * 4.0, f"{rate:.2f} positions a second at 4"
    # the two panels showed each position within one frame or so of each other
    for (t0, k0), (t1, k1) in zip(logs[0], logs[1], strict=True):
        assert k0 == k1 and abs(t0 - t1) < 0.1, (k0, t0, t1)
    assert nb.run_json("print(json.dumps([cmp.t] + [p.t for p in cmp.panels]))") == [T, T, T]
