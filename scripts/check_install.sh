#!/usr/bin/env bash
# Checks that the released artifacts install and work without Node.js.
#
# Builds the sdist (needs Node.js only if attn_widget/static/ is missing or
# older than js/), then the wheel from the sdist with node and npm off PATH,
# as pip would. For each of the two: a fresh venv, torch==2.13.0 first (the
# local CPU wheel), then the artifact and ipykernel, still with no Node.js on
# PATH; then a real kernel (jupyter_client) builds demo("agreement"), checks
# that _esm is the bundled ES module and that to_html inlines standalone.js,
# displays it and steps it.
# Prints PASS/FAIL per artifact; exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
PY=${PYTHON:-python}
START=$SECONDS

TMP=$(mktemp -d "${TMPDIR:-/tmp}/attn_check_install.XXXXXX")
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'echo "check_install: FAIL (line $LINENO, after $((SECONDS - START)) s)" >&2' ERR
pipq() { "$@" 2>&1 | { grep -v "^WARNING: Location" || true; }; return "${PIPESTATUS[0]}"; }

# A PATH with every command of the current one except Node.js and its package managers.
NONODE=$TMP/nonode-bin
"$PY" - "$NONODE" <<'EOF'
import os, sys
dst, skip = sys.argv[1], {"node", "nodejs", "npm", "npx", "corepack", "yarn", "yarnpkg", "pnpm", "pnpx"}
os.makedirs(dst)
for d in os.environ["PATH"].split(os.pathsep):
    for n in sorted(os.listdir(d)) if os.path.isdir(d) else []:
        src, link = os.path.join(d, n), os.path.join(dst, n)
        if n not in skip and os.path.isfile(src) and os.access(src, os.X_OK) and not os.path.lexists(link):
            os.symlink(src, link)
EOF
nonode() { env PATH="$1/bin:$NONODE" VIRTUAL_ENV="$1" PIP_DISABLE_PIP_VERSION_CHECK=1 "${@:2}"; }

echo "== build: sdist, then the wheel from it without Node.js"
"$PY" -m venv "$TMP/tools"
pipq "$TMP/tools/bin/pip" install -q build
"$TMP/tools/bin/python" -m build --sdist --outdir "$TMP/dist" "$REPO" | tail -n 3
SDIST=$(echo "$TMP"/dist/attn_widget-*.tar.gz)
nonode "$TMP/tools" sh -c '! command -v node && ! command -v npm' >/dev/null
nonode "$TMP/tools" python -m build --wheel --outdir "$TMP/dist" "$SDIST" | tail -n 3
WHEEL=$(echo "$TMP"/dist/attn_widget-*.whl)
"$TMP/tools/bin/python" - "$SDIST" "$WHEEL" <<'EOF'
import sys, tarfile, zipfile
want = ("attn_widget/static/widget.js", "attn_widget/static/widget.css",
        "attn_widget/static/standalone.js")
with tarfile.open(sys.argv[1]) as t:
    sd = {m.name.split("/", 1)[1]: m.size for m in t.getmembers()}
with zipfile.ZipFile(sys.argv[2]) as z:
    wh = {i.filename: i.file_size for i in z.infolist()}
for name, files in (("sdist", sd), ("wheel", wh)):
    for w in want:
        assert files.get(w), f"{name} lacks {w}"
        print(f"  {name}: {w} ({files[w]} bytes)")
EOF

cat >"$TMP/drive.py" <<'EOF'
"""Drives demo("agreement") in a real kernel of this venv; prints CHECKS OK or raises."""
import json, os, re, sys
from jupyter_client import KernelManager

CELL = r"""
import re, shutil, attn_widget
from pathlib import Path
from IPython.display import display
from attn_widget import demo

assert shutil.which("node") is None and shutil.which("npm") is None
assert attn_widget.__file__.startswith(VENV), attn_widget.__file__  # not the checkout
w = demo("agreement")
esm = w._esm
# The module's text, not a path to it: JS from its first character, with a default export.
assert isinstance(esm, str) and len(esm) > 1_000, (type(esm), esm[:200])
assert re.match(r"\s*(/[*/]|[\x22\x27]use strict|(var|let|const|import|export|function|class)\b)", esm), esm[:200]
assert re.search(r"export\s*\{[^}]*\bas default\b|export default\b", esm), esm[-200:]
static = Path(attn_widget.__file__).parent / "static"
assert esm == (static / "widget.js").read_text(encoding="utf-8")
assert w._css and w._css == (static / "widget.css").read_text(encoding="utf-8")
# An exported page inlines the shipped standalone bundle (attn_widget.export).
assert (static / "standalone.js").read_text(encoding="utf-8") in attn_widget.to_html(w)
t0 = w.t
display(w)
"""

km = KernelManager(kernel_name="python3")
km.start_kernel(cwd=os.environ["TMPDIR"])  # not the checkout: attn_widget must come from the venv
kc = km.client()
kc.start_channels()
try:
    kc.wait_for_ready(timeout=120)
    outputs = []

    def run(code):
        reply = kc.execute_interactive(code, output_hook=outputs.append, timeout=180)
        if reply["content"]["status"] != "ok":
            tb = "\n".join(reply["content"].get("traceback", [])) or str(reply)
            raise AssertionError(re.sub(r"\x1b\[[0-9;]*m", "", tb))  # without the colours

    run(f"VENV = {sys.prefix!r}")
    run(CELL)
    run("w.step()\nprint('T0_T1', t0, w.t, w.T, w.model_id)")
    views = [
        m["content"]["data"]["application/vnd.jupyter.widget-view+json"]
        for m in outputs
        if m["msg_type"] == "display_data"
        and "application/vnd.jupyter.widget-view+json" in m["content"]["data"]
    ]
    text = "".join(m["content"]["text"] for m in outputs if m["msg_type"] == "stream")
    t0, t1, T, model_id = text.split("T0_T1", 1)[1].split()[:4]
    assert views and views[0]["model_id"] == model_id, (views, model_id)
    assert int(t1) == int(t0) + 1 <= int(T), (t0, t1, T)
    opens = [m for m in outputs if m["msg_type"] == "comm_open"]
    assert any(m["content"]["target_name"] == "jupyter.widget" for m in opens)
    print(f"CHECKS OK: view {json.dumps(views[0])}; t {t0} -> {t1} (T={T}); _esm bundled")
finally:
    kc.stop_channels()
    km.shutdown_kernel(now=True)
EOF

check() {  # check NAME ARTIFACT: fresh venv, install without Node.js, drive the widget
    local name=$1 artifact=$2 venv=$TMP/venv-$1
    mkdir -p "$TMP/run-$name"
    "$PY" -m venv "$venv"
    nonode "$venv" sh -c '! command -v node && ! command -v npm' >/dev/null || {
        echo "node or npm is still on PATH"
        exit 1
    }
    pipq nonode "$venv" pip install -q --no-compile torch==2.13.0
    pipq nonode "$venv" pip install -q --no-compile "$artifact" ipykernel jupyter_client
    nonode "$venv" python -c "import torch; assert torch.__version__.startswith('2.13.0'), torch.__version__"
    # A kernel with no user-level kernelspecs, config or startup files in the way.
    TMPDIR=$TMP/run-$name JUPYTER_DATA_DIR=$TMP/run-$name/data JUPYTER_CONFIG_DIR=$TMP/run-$name/cfg \
        IPYTHONDIR=$TMP/run-$name/ipython nonode "$venv" python "$TMP/drive.py"
}

status=0
echo "== a source tree without the bundle, without Node.js: the build must stop with a hint"
git -C "$REPO" ls-files -z -co --exclude-standard | "$PY" -c '
import os, shutil, sys
for f in sys.stdin.read().split("\0"):
    if f and os.path.isfile(f):
        os.makedirs(os.path.join(sys.argv[1], os.path.dirname(f)), exist_ok=True)
        shutil.copy2(f, os.path.join(sys.argv[1], f))' "$TMP/clone"
if out=$(nonode "$TMP/tools" pip wheel -q --no-deps -w "$TMP/clone-dist" "$TMP/clone" 2>&1); then
    status=1
    echo "FAIL no-node source build: it succeeded without Node.js and without a bundle"
elif grep -q "install Node.js >= 18 with npm" <<<"$out"; then
    echo "PASS no-node source build: stops with the install hint"
else
    status=1
    echo "FAIL no-node source build: no install hint in its output:"
    sed 's/^/    /' <<<"$out" | tail -n 40
fi

echo "== fresh venvs, no Node.js on PATH, in parallel: install the sdist / the wheel, drive a kernel"
declare -A LOG
for name in sdist wheel; do
    artifact=$SDIST
    [ "$name" = wheel ] && artifact=$WHEEL
    LOG[$name]=$TMP/$name.log
    (check "$name" "$artifact") >"${LOG[$name]}" 2>&1 &
    PIDS+=($!)
done
i=0
for name in sdist wheel; do
    if wait "${PIDS[$i]}"; then
        echo "PASS $name: $(grep '^CHECKS OK' "${LOG[$name]}")"
    else
        status=1
        echo "FAIL $name; its log ends:"
        tail -n 40 "${LOG[$name]}" | sed 's/^/    /'
    fi
    i=$((i + 1))
done
PIDS=()
cleanup
trap - EXIT
if [ "$status" = 0 ]; then
    echo "check_install: PASS (sdist and wheel install and run without Node.js; $((SECONDS - START)) s)"
else
    echo "check_install: FAIL ($((SECONDS - START)) s)"
fi
exit "$status"
