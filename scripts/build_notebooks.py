"""Build the tutorial notebooks from their sources and run them to store their outputs.

Each tutorial is written as a plain Python file in ``notebooks/src/`` with
``# %%`` cell markers (``# %% [markdown]`` for prose, its lines commented
with ``# ``; ``# %% [solution]`` for an exercise's solution, a code cell
whose source and output JupyterLab keeps collapsed until the reader opens
them, and which nbval runs and checks like any other).  This script turns
each into ``notebooks/<name>.ipynb`` with a kernelspec, runs it top to
bottom in a fresh kernel, and saves it with its outputs and its widget
state, so that a reader who opens it without running it still sees the
widgets.  ``pytest --nbval notebooks/`` then re-runs them
and compares.

    python scripts/build_notebooks.py            # all of them
    python scripts/build_notebooks.py 02         # those whose name starts with 02
"""

from __future__ import annotations

import copy
import re
import sys
import time
from pathlib import Path

import nbformat
from nbconvert.preprocessors import ExecutePreprocessor

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
KERNELSPEC = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
CELL = re.compile(r"^# %%(?: \[(markdown|solution)\])?[^\n]*\n", re.MULTILINE)
HIDDEN = {"jupyter": {"source_hidden": True, "outputs_hidden": True}, "tags": ["solution"]}


def parse(source: str) -> list:
    """Cells from a percent-format Python file."""
    cells = []
    parts = CELL.split(source)
    # split() with one group gives [preamble, kind, body, kind, body, …]
    for kind, body in zip(parts[1::2], parts[2::2], strict=True):
        body = body.strip("\n")
        if kind == "markdown":
            text = "\n".join(
                line[2:] if line.startswith("# ") else line.lstrip("#")
                for line in body.splitlines()
            )
            cells.append(nbformat.v4.new_markdown_cell(text))
        elif kind == "solution":
            cells.append(nbformat.v4.new_code_cell(body, metadata=copy.deepcopy(HIDDEN)))
        else:
            cells.append(nbformat.v4.new_code_cell(body))
    return cells


def build(src: Path) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.cells = parse(src.read_text(encoding="utf-8"))
    nb.metadata["kernelspec"] = KERNELSPEC
    start = time.perf_counter()
    ExecutePreprocessor(
        timeout=300, kernel_name="python3", store_widget_state=True, record_timing=False
    ).preprocess(nb, {"metadata": {"path": str(NOTEBOOKS)}})
    # Nothing of the machine that ran it: no timings (record_timing), no Python version.
    nb.metadata["language_info"] = {"name": "python"}
    out = NOTEBOOKS / f"{src.stem}.ipynb"
    nbformat.write(nb, out)
    print(f"{out.name}: {len(nb.cells)} cells, ran in {time.perf_counter() - start:.1f} s")
    return out


def main(prefixes: list[str]) -> None:
    for src in sorted((NOTEBOOKS / "src").glob("*.py")):
        if not prefixes or any(src.stem.startswith(p) for p in prefixes):
            build(src)


if __name__ == "__main__":
    main(sys.argv[1:])
