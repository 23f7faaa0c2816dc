"""Hatch build hook: the JavaScript front end, js/ → attn_widget/static/.

Runs for the sdist, the wheel and editable installs.  The bundle
(widget.js, widget.css, and standalone.js for exported pages) is git-ignored
but shipped in both the sdist and the wheel (``artifacts`` in pyproject.toml),
so only a source checkout needs Node.

When npm runs:

- the bundle exists and no front-end source (js/src, build.mjs, package.json,
  package-lock.json) is newer than it: npm is skipped.  This is the wheel
  built from the sdist (hatchling gives every file in an sdist the same
  mtime) and a checkout whose bundle is up to date;
- the bundle is missing, or a source is newer (you edited js/src after the
  last build): npm rebuilds it, so ``pip install -e .`` never keeps a stale
  bundle by accident;
- an sdist (PKG-INFO at its root) that carries the bundle never runs npm:
  the bundle was built from these very sources, and unpacking tools do not
  all keep file times, so a source can look newer than it is;
- a rebuild is due but there is no usable Node.js (≥ 18 with npm): a source
  checkout stops with a message saying what to install.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

BUNDLE = (
    "attn_widget/static/widget.js",
    "attn_widget/static/widget.css",
    "attn_widget/static/standalone.js",
)
SOURCES = ("js/src", "js/build.mjs", "js/package.json", "js/package-lock.json")
NODE_MIN = 18


def _node_problem() -> str | None:
    """Why Node.js cannot build the front end here, or None when it can."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if not node or not npm:
        missing = " and ".join(n for n, p in (("node", node), ("npm", npm)) if not p)
        return f"{missing} not found on PATH"
    try:
        out = subprocess.run([node, "--version"], capture_output=True, text=True, timeout=30)
        major = int(out.stdout.strip().lstrip("v").split(".")[0])
    except (OSError, ValueError, subprocess.SubprocessError):
        return f"could not read the version of {node}"
    return None if major >= NODE_MIN else f"Node.js {out.stdout.strip()} is too old"


def _fail(problem: str, stale: list[str]) -> None:
    """Stop the build with a message (no traceback through the build backend)."""
    if stale:
        state = f"The built front end in attn_widget/static/ is older than {', '.join(stale)}"
        keep = (
            "  - or, to install the bundle as it is, mark it current:\n"
            "    touch attn_widget/static/widget.* attn_widget/static/standalone.js\n"
        )
    else:
        state = "This source tree has no built front end (attn_widget/static/widget.js, …)"
        keep = ""
    bar = "=" * 78
    sys.stderr.write(
        f"\n{bar}\nattn_widget: cannot build the JavaScript front end: {problem}.\n\n"
        f"{state},\nand building it needs Node.js. Either\n"
        f"  - install Node.js >= {NODE_MIN} with npm (https://nodejs.org/), then run the\n"
        "    install again.\n"
        "  - or, on a machine that has Node.js, build a wheel or sdist from this tree\n"
        "    (python -m build) and install that file here: both carry the built front\n"
        "    end and install without Node.js.\n"
        f"{keep}{bar}\n\n"
    )
    raise SystemExit(1)


class FrontEndBuildHook(BuildHookInterface):
    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict) -> None:
        root = Path(self.root)
        bundle = [root / p for p in BUNDLE]
        built = all(p.is_file() for p in bundle)
        if built and (root / "PKG-INFO").is_file():
            self.app.display_info("attn_widget: an sdist with its front end, npm not needed")
            return
        stale: list[str] = []
        if built:
            cutoff = min(p.stat().st_mtime for p in bundle)
            # Files only: an unpacked sdist's directories are as new as the unpacking.
            files = [f for s in SOURCES for f in [root / s, *(root / s).rglob("*")] if f.is_file()]
            stale = sorted(str(f.relative_to(root)) for f in files if f.stat().st_mtime > cutoff)
            if not stale:
                self.app.display_info("attn_widget: front end up to date, npm not needed")
                return
            del stale[3:]

        problem = _node_problem()
        if problem is None:
            js = root / "js"
            self.app.display_info("attn_widget: building the front end with npm")
            for cmd in (["install", "--no-audit", "--no-fund"], ["run", "build"]):
                if subprocess.run([shutil.which("npm"), *cmd], cwd=js).returncode:
                    sys.stderr.write(f"\nattn_widget: `npm {' '.join(cmd)}` failed in {js}\n")
                    raise SystemExit(1)
            if not all(p.is_file() for p in bundle):
                raise RuntimeError(f"`npm run build` did not write {', '.join(BUNDLE)}")
        else:
            _fail(problem, stale)
