"""The harness itself, on a trivial anywidget defined inline: Lab starts, the
notebook runs, a real click reaches Python and Python reaches the DOM."""

from __future__ import annotations

import pytest
from labdriver import CellError
from playwright.sync_api import expect

COUNTER = '''
import anywidget, traitlets

class Counter(anywidget.AnyWidget):
    _esm = """
    function render({ model, el }) {
      const b = document.createElement("button");
      b.className = "e2e-counter";
      b.setAttribute("aria-label", "Count");
      const draw = () => { b.textContent = `count ${model.get("n")}`; };
      b.addEventListener("click", () => {
        model.set("n", model.get("n") + 1);
        model.save_changes();
      });
      model.on("change:n", draw);
      draw();
      el.appendChild(b);
    }
    export default { render };
    """
    n = traitlets.Int(0).tag(sync=True)

c = Counter()
c
'''


@pytest.fixture(scope="module")
def counter_nb(open_notebook):
    return open_notebook("harness.ipynb", ["print(6 * 7)", COUNTER])


def test_run_all_and_read_output(counter_nb):
    assert counter_nb.run("print(6 * 7)").strip() == "42"
    assert counter_nb.run_json("import json; print(json.dumps({'a': [1, 2.5]}))") == {"a": [1, 2.5]}


def test_cell_error_is_reported(counter_nb):
    with pytest.raises(CellError, match="ZeroDivisionError"):
        counter_nb.run("1 / 0")


def test_click_reaches_python(counter_nb):
    button = counter_nb.page.get_by_role("button", name="Count")
    expect(button).to_have_text("count 0")
    for _ in range(3):
        button.click()
    expect(button).to_have_text("count 3")
    assert counter_nb.run("print(c.n)").strip() == "3"


def test_python_reaches_dom(counter_nb):
    counter_nb.run("c.n = 10")
    expect(counter_nb.page.get_by_role("button", name="Count")).to_have_text("count 10")
    assert counter_nb.page.page_errors == []
