"""Runs the front end's unit tests (vitest, in js/) and its type check (tsc) from pytest,
when npm is at hand."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

JS = Path(__file__).resolve().parent.parent / "js"


def npm_run(script: str) -> subprocess.CompletedProcess:
    """``npm run <script>`` in js/, installing the locked dependencies first if need be."""
    npm = shutil.which("npm")
    if npm is None:
        pytest.skip("npm is not installed")
    if not (JS / "node_modules" / ".bin" / "vitest").exists():
        subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=JS, check=True)
    return subprocess.run(
        [npm, "run", script, "--silent"], cwd=JS, capture_output=True, text=True, timeout=600
    )


@pytest.mark.timeout(600)
@pytest.mark.parametrize("script", ["test", "typecheck"])
def test_front_end(script):
    result = npm_run(script)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
