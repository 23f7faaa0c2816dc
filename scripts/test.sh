#!/usr/bin/env bash
# Install everything the tests need, then run them all: lint, Python tests
# (core, widget logic, end-to-end in JupyterLab + headless Chromium), JS unit
# tests and the notebooks under nbval.
set -euo pipefail
cd "$(dirname "$0")/.."

# torch first, pinned to the local CPU wheel these machines carry; the package
# itself only asks for torch>=2.1, which this satisfies without a download.
python -c "import torch" 2>/dev/null || pip install torch==2.13.0

# Debian's Chromium for the end-to-end tests (Playwright cannot download one here).
if ! command -v chromium >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq chromium >/dev/null;
    else sudo apt-get update -qq && sudo apt-get install -y -qq chromium >/dev/null; fi
fi

pip install -q -e ".[test]"

ruff check .
ruff format --check .
python -m pytest

# The tutorials are tests too: re-run them and compare their stored outputs.
python -m pytest --nbval notebooks/ --nbval-sanitize-with notebooks/sanitize.cfg
