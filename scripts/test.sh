#!/usr/bin/env bash
# Install everything the tests need, then run them all: lint, Python tests
# (core, widget logic, end-to-end in JupyterLab + headless Chromium), JS unit
# tests, the notebooks under nbval (twice: as this CPU computes, and as another
# CPU would), the non-browser tests again on each CPU path this machine has, and
# an install of the sdist and the wheel with no Node.js.
set -euo pipefail
cd "$(dirname "$0")/.."

# torch first, pinned to the local CPU wheel these machines carry; the package
# itself only asks for torch>=2.1, which this satisfies without a download.
python -c "import torch" 2>/dev/null || pip install torch==2.13.0

# Debian's Chromium for the end-to-end tests (Playwright cannot download one here),
# and a font with Chinese glyphs, without which the browser draws boxes: the
# Chinese e2e test checks every glyph.  fonts-wqy-microhei is a 1.6 MB download
# (5 MB installed) and renders the widget well; fonts-noto-cjk would be 57 MB.
need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium)
fc-list :lang=zh 2>/dev/null | grep -q . || need+=(fonts-wqy-microhei)
if [ ${#need[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq "${need[@]}" >/dev/null;
    else sudo apt-get update -qq && sudo apt-get install -y -qq "${need[@]}" >/dev/null; fi
fi

pip install -q -e ".[test]"

ruff check .
ruff format --check .
python -m pytest

# The tutorials are tests too: re-run them and compare their stored outputs.
# No output sanitizer: nothing compared varies from run to run (nbval itself skips
# the widget-view outputs, whose model ids are random).
NBVAL=(python -m pytest --nbval notebooks/)
"${NBVAL[@]}"

# Trained numbers move in their last bits from one CPU to another, and
# training amplifies that. These two settings make this machine compute as a
# different CPU would (generic kernels instead of AVX2/AVX-512, MKL's
# conservative code paths): the notebooks and the tests that do not need a
# browser must pass that way too (docs/design.md, "Reproducible everywhere").
NON_BROWSER=(python -m pytest -m "not e2e" -q -p no:cacheprovider --ignore=tests/test_js.py)
export ATEN_CPU_CAPABILITY=default MKL_CBWR=COMPATIBLE
"${NON_BROWSER[@]}"  # Node ignores these settings
"${NBVAL[@]}"
unset ATEN_CPU_CAPABILITY MKL_CBWR

# Each CPU path on its own: MKL's conservative paths alone, then every ATen kernel
# level this CPU can run. None of them can stand in for another CPU's BLAS, which
# is why no test compares two different computations bit for bit (design.md §5).
MKL_CBWR=COMPATIBLE "${NON_BROWSER[@]}"
levels=(default)
grep -qw avx2 /proc/cpuinfo && levels+=(avx2)
grep -qw avx512f /proc/cpuinfo && levels+=(avx512)
native=$(python -c "import torch; print(torch.backends.cpu.get_cpu_capability().lower())")
for level in "${levels[@]}"; do
    if [ "$level" = "$native" ]; then
        echo "ATEN_CPU_CAPABILITY=$level: this CPU's own level, run above"
        continue
    fi
    ATEN_CPU_CAPABILITY=$level python -c "import torch; print('ATEN kernels:', torch.backends.cpu.get_cpu_capability())"
    ATEN_CPU_CAPABILITY=$level "${NON_BROWSER[@]}"
done

# What a user without Node.js gets: the sdist and the wheel, each installed
# into a fresh venv with node and npm off PATH, driving the demo from a kernel.
bash scripts/check_install.sh
