"""The package's shape (docs/design.md §2, "Layers and the rules between them"):
imports only go down the layers and never in a circle, no private name crosses
a module, no module is over 600 lines, and the layers below the widget import
no Jupyter package.  (Private attributes of another module's object are ruff's
SLF001, on in pyproject.toml.)"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "attn_widget"

#: The layers, lowest first; a module belongs to the longest prefix that names it.
#: A module may import from its own layer or a lower one, never from a higher one.
LAYERS = [
    ["attn_widget.core"],  # the models, the stepper: torch only
    [  # beside the core: the wire format, text and tasks, training, the kernel's rules
        "attn_widget.protocol",
        "attn_widget.text",
        "attn_widget.tasks",
        "attn_widget.train",
        "attn_widget.checkpoint",
        "attn_widget.kernel",
    ],
    ["attn_widget.session"],  # the state a widget shows, no Jupyter
    ["attn_widget.render"],  # export and figure, from sessions
    ["attn_widget.wire"],  # what was sent, computing ahead, the snapshot, the answers
    ["attn_widget.widget", "attn_widget.widget_traits"],  # traits and a thin API
    ["attn_widget.comparison"],
    # the public faces
    ["attn_widget.export", "attn_widget.demo", "attn_widget.nbconvert", "attn_widget"],
]

#: Packages that need Jupyter (a kernel, a comm, ipywidgets' traits).
JUPYTER = (
    "ipywidgets",
    "anywidget",
    "traitlets",
    "IPython",
    "ipykernel",
    "comm",
    "jupyter_client",
    "jupyter_core",
    "widgetsnbextension",
)


def modules() -> dict[str, Path]:
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def imports(
    name: str, path: Path, known: dict, source: str | None = None
) -> list[tuple[str, list[str], int]]:
    """Each import in the module, at any depth (inside functions too): (the module
    it names, the names taken from it, the line)."""
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    if source is None:
        source = path.read_text(encoding="utf-8")
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                if sub in known:  # `from . import figure`: the submodule itself
                    found.append((sub, [], node.lineno))
                else:
                    found.append((target, [alias.name], node.lineno))
        elif isinstance(node, ast.Import):
            found += [(alias.name, [], node.lineno) for alias in node.names]
    return [(t, names, line) for t, names, line in found if t.split(".")[0] == "attn_widget"]


def layer_of(name: str) -> int:
    best, layer = -1, None
    for i, prefixes in enumerate(LAYERS):
        for prefix in prefixes:
            if (name == prefix or name.startswith(prefix + ".")) and len(prefix) > best:
                best, layer = len(prefix), i
    assert layer is not None, f"{name} belongs to no layer: add it to LAYERS"
    return layer


def graph() -> dict[str, set[str]]:
    known = modules()
    return {
        name: {t for t, _, _ in imports(name, path, known) if t != name}
        for name, path in known.items()
    }


def test_every_module_has_a_layer():
    for name in modules():
        layer_of(name)


def upward(edges: dict[str, set[str]]) -> list[str]:
    return [
        f"{name} imports {target}"
        for name, targets in sorted(edges.items())
        for target in sorted(targets)
        if layer_of(target) > layer_of(name)
    ]


def circles(edges: dict[str, set[str]]) -> list[str]:
    """Every circle a depth-first walk meets, as ``a → b → a``."""
    state: dict[str, int] = {}  # 1: on the path, 2: done
    found = []

    def visit(name: str, path: list[str]) -> None:
        state[name] = 1
        for target in sorted(edges.get(name, ())):
            if state.get(target) == 1:
                found.append(" → ".join([*path[path.index(target) :], target]))
            elif target not in state:
                visit(target, [*path, target])
        state[name] = 2

    for name in sorted(edges):
        if name not in state:
            visit(name, [name])
    return found


def test_imports_only_go_down():
    assert upward(graph()) == []


def test_no_import_circle():
    assert circles(graph()) == []


def test_the_checks_can_fail():
    """A made-up module that imports the widget from the session layer, and a
    made-up circle: both are caught."""
    known = modules()
    source = "def f():\n    from ..widget import AttentionWidget\n    from . import head\n"
    made_up = "attn_widget.session.made_up"
    found = imports(made_up, PACKAGE / "session" / "made_up.py", known, source)
    assert [(t, n) for t, n, _ in found] == [
        ("attn_widget.widget", ["AttentionWidget"]),
        ("attn_widget.session.head", []),
    ]
    edges = {**graph(), made_up: {t for t, _, _ in found}}
    assert upward(edges) == [f"{made_up} imports attn_widget.widget"]
    edges["attn_widget.session.head"] = {*edges["attn_widget.session.head"], made_up}
    assert f"attn_widget.session.head → {made_up} → attn_widget.session.head" in circles(edges)


def test_no_private_name_is_imported_across_modules():
    known = modules()
    private = []
    for name, path in known.items():
        for target, names, line in imports(name, path, known):
            for imported in names:
                if imported.startswith("_") and not imported.startswith("__"):
                    where = path.relative_to(PACKAGE.parent)
                    private.append(f"{where}:{line} imports {imported} from {target}")
    assert private == []


def test_no_module_is_over_600_lines():
    long = {
        str(path.relative_to(PACKAGE.parent)): n
        for path in PACKAGE.rglob("*.py")
        if (n := len(path.read_text(encoding="utf-8").splitlines())) > 600
    }
    assert long == {}


def test_the_layers_below_the_widget_import_no_jupyter():
    """In a fresh interpreter, each layer in turn (every module of it), then the
    widget: the Jupyter packages loaded after each.  Only the widget loads any."""
    layers = ["attn_widget.core", "attn_widget.session", "attn_widget.render", "attn_widget.wire"]
    steps = [[n for n in modules() if n == lay or n.startswith(lay + ".")] for lay in layers]
    code = (
        "import importlib, json, sys\n"
        "loaded = []\n"
        f"for names in {[*steps, ['attn_widget.widget']]!r}:\n"
        "    for name in names:\n"
        "        importlib.import_module(name)\n"
        f"    loaded.append(sorted(m for m in sys.modules if m.split('.')[0] in {JUPYTER!r}))\n"
        "print(json.dumps(loaded))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    *below, widget = json.loads(result.stdout.strip().splitlines()[-1])
    assert dict(zip(layers, below, strict=True)) == {layer: [] for layer in layers}
    assert "anywidget" in widget and "traitlets" in widget  # the check can fail
