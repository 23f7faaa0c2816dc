"""Runs the front end's unit tests (vitest, in js/) from pytest, when npm is at hand."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

JS = Path(__file__).resolve().parent.parent / "js"


@pytest.mark.timeout(600)
def test_vitest_suite():
    npm = shutil.which("npm")
    if npm is None:
        pytest.skip("npm is not installed")
    if not (JS / "node_modules" / ".bin" / "vitest").exists():
        subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=JS, check=True)
    result = subprocess.run(
        [npm, "test", "--silent"], cwd=JS, capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
