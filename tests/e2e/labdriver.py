"""Drive a real JupyterLab from pytest: start a private server, open a
notebook in Chromium, run cells and read their output.

The server is sealed off from the network and from the user's own Jupyter
state: its config, runtime, settings and workspace directories are temporary,
news and update checks are off, and the plugins that would fetch something
(announcements, the extension manager) are disabled.

Cells run through Lab's own command registry (``window.jupyterapp``, exposed
with ``LabApp.expose_app_in_browser``), which is the same path as the Run menu
but does not depend on typing into CodeMirror. Widget interaction in the tests
is by real mouse clicks.

The same server also serves Jupyter Notebook 7 (``LabNotebook(..., ui="notebook")``),
whose app is exposed the same way (``JupyterNotebookApp.expose_app_in_browser``).
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts"

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]

# Plugins that would reach the network or pop up toasts over the screenshots.
DISABLED_PLUGINS = [
    "@jupyterlab/apputils-extension:announcements",
    "@jupyterlab/extensionmanager-extension:plugin",
]

# Lab settings written before the server starts. Windowing off so every cell
# stays in the DOM (virtualised cells cannot be clicked or read).
USER_SETTINGS = {
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
        "fetchNews": "false",
        "checkForUpdates": False,
        "doNotDisturbMode": True,
    },
}

ANSI = re.compile(r"\x1b\[[0-9;]*m")

KERNELSPEC = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}


def find_chromium() -> str | None:
    """The Chromium to drive: $ATTN_E2E_CHROMIUM if set (and only it), else
    /usr/bin/chromium, else one on PATH."""
    override = os.environ.get("ATTN_E2E_CHROMIUM")
    if override:
        return override if os.access(override, os.X_OK) else None
    if os.access("/usr/bin/chromium", os.X_OK):
        return "/usr/bin/chromium"
    return shutil.which("chromium") or shutil.which("chromium-browser")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class LabServer:
    root: Path
    port: int
    token: str
    log_path: Path
    proc: subprocess.Popen | None = field(default=None, repr=False)

    @property
    def data_dir(self) -> Path:
        """The server's JUPYTER_DATA_DIR, where its notary keeps trusted signatures."""
        return self.log_path.parent / "data"

    def trust(self, notebook: Path) -> None:
        """Sign ``notebook`` as this server's user would with ``jupyter trust``.

        Lab renders the widget outputs of an untrusted notebook as plain text,
        so a saved notebook shows its widgets only once the reader trusts it.
        """
        from nbformat.sign import NotebookNotary

        nb = nbformat.read(notebook, as_version=4)
        NotebookNotary(data_dir=str(self.data_dir)).sign(nb)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, path: str) -> str:
        sep = "&" if "?" in path else "?"
        return f"{self.base_url}/{path.lstrip('/')}{sep}token={self.token}"

    def log_tail(self, n: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-n:]
        except OSError:
            return "<no server log>"

    def stop(self, timeout: float = 15.0) -> None:
        """Terminate the server (it shuts its kernels down), kill it if it hangs."""
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            # The server runs in its own session, so the group id is its pid.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)


def _die_with_parent() -> None:
    """In the child, before exec: get SIGTERM when pytest dies, even by SIGKILL or
    `timeout`, where neither atexit nor fixtures run. The server then shuts its
    kernels down itself."""
    if sys.platform.startswith("linux"):
        import ctypes

        PR_SET_PDEATHSIG = 1
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def start_lab(workdir: Path, *, ready_timeout: float = 90.0) -> LabServer:
    """Start ``jupyter lab`` on a free port with everything under ``workdir``."""
    root = workdir / "root"
    config = workdir / "config"
    runtime = workdir / "runtime"
    for d in (root, config, runtime, workdir / "ipython", workdir / "data"):
        d.mkdir(parents=True, exist_ok=True)

    settings = config / "lab" / "user-settings"
    for rel, value in USER_SETTINGS.items():
        path = settings / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(value))
    labconfig = config / "labconfig"
    labconfig.mkdir(parents=True, exist_ok=True)
    (labconfig / "page_config.json").write_text(
        json.dumps({"disabledExtensions": {name: True for name in DISABLED_PLUGINS}})
    )

    server = LabServer(
        root=root, port=free_port(), token=secrets.token_hex(16), log_path=workdir / "lab.log"
    )
    env = dict(os.environ)
    env.update(
        JUPYTER_CONFIG_DIR=str(config),
        JUPYTER_RUNTIME_DIR=str(runtime),
        JUPYTER_DATA_DIR=str(workdir / "data"),  # its own notary: trust is per server
        IPYTHONDIR=str(workdir / "ipython"),
        JUPYTER_PLATFORM_DIRS="1",
        PYTHONUNBUFFERED="1",
    )
    env.pop("JUPYTER_TOKEN", None)
    cmd = [
        sys.executable,
        "-m",
        "jupyterlab",
        "--no-browser",
        "--ip=127.0.0.1",
        f"--port={server.port}",
        "--port-retries=0",
        f"--ServerApp.root_dir={root}",
        f"--IdentityProvider.token={server.token}",
        "--ServerApp.disable_check_xsrf=True",
        "--ServerApp.open_browser=False",
        "--LabApp.expose_app_in_browser=True",
        # Notebook 7 (the `notebook` package) is a second front end on the same
        # server, at /tree and /notebooks/<path>; it shares Lab's settings.
        "--JupyterNotebookApp.expose_app_in_browser=True",
        f"--JupyterNotebookApp.user_settings_dir={settings}",
        f"--JupyterNotebookApp.workspaces_dir={config / 'lab' / 'workspaces'}",
        "--LabApp.news_url=None",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        f"--LabApp.user_settings_dir={settings}",
        f"--LabApp.workspaces_dir={config / 'lab' / 'workspaces'}",
        "--LanguageServerManager.autodetect=False",
        "--LabApp.extension_manager=readonly",
    ]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")  # containers and CI run as root
    log = server.log_path.open("wb")
    server.proc = subprocess.Popen(
        cmd,
        cwd=root,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        preexec_fn=_die_with_parent,
    )
    log.close()
    atexit.register(server.stop)

    deadline = time.monotonic() + ready_timeout
    status_url = server.url("api/status")
    while True:
        if server.proc.poll() is not None:
            raise RuntimeError(
                f"jupyter lab exited with {server.proc.returncode}:\n{server.log_tail()}"
            )
        try:
            with urllib.request.urlopen(status_url, timeout=2) as resp:
                if resp.status == 200:
                    return server
        except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
            pass
        if time.monotonic() > deadline:
            server.stop()
            raise RuntimeError(
                f"jupyter lab not ready after {ready_timeout:.0f}s:\n{server.log_tail()}"
            )
        time.sleep(0.25)


@dataclass
class AppServer:
    """Another front end's server (Voilà, marimo) on 127.0.0.1, in its own session."""

    port: int
    log_path: Path
    proc: subprocess.Popen | None = field(default=None, repr=False)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log_tail(self, n: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-n:]
        except OSError:
            return "<no server log>"

    stop = LabServer.stop


def start_app(
    command, workdir: Path, *, env: dict | None = None, ready_timeout: float = 90.0
) -> AppServer:
    """Start ``command(port)`` (an argv list) on a free port in ``workdir`` and wait
    until the port takes a connection (a request could start a kernel, as
    Voilà's ``/`` does); ``env`` is added to this process's."""
    server = AppServer(port=free_port(), log_path=workdir / "server.log")
    full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    log = server.log_path.open("wb")
    server.proc = subprocess.Popen(
        command(server.port),
        cwd=workdir,
        env=full_env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        preexec_fn=_die_with_parent,
    )
    log.close()
    atexit.register(server.stop)
    deadline = time.monotonic() + ready_timeout
    while True:
        if server.proc.poll() is not None:
            raise RuntimeError(f"{command(server.port)[:3]} exited:\n{server.log_tail()}")
        with (
            contextlib.suppress(OSError),
            socket.create_connection(("127.0.0.1", server.port), timeout=2),
        ):
            return server
        if time.monotonic() > deadline:
            server.stop()
            raise RuntimeError(f"not ready after {ready_timeout:.0f}s:\n{server.log_tail()}")
        time.sleep(0.25)


def write_notebook(root: Path, name: str, cells: list[str]) -> Path:
    """A notebook of code cells with a python3 kernelspec, so Lab starts the kernel
    without asking."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = KERNELSPEC
    nb.metadata["language_info"] = {"name": "python"}
    nb.cells = [nbformat.v4.new_code_cell(src) for src in cells]
    path = root / name
    nbformat.write(nb, path)
    return path


class CellError(AssertionError):
    """A cell raised in the kernel; carries the kernel's traceback."""


# JS helpers. `window.__attnPanel` is the NotebookPanel under test.
_JS_FIND_PANEL = """
(path) => {
  const app = window.jupyterapp;
  if (!app || !app.shell) return false;
  for (const w of app.shell.widgets('main')) {
    if (w.context && w.context.path === path) {
      const s = w.sessionContext && w.sessionContext.session;
      const k = s && s.kernel;
      if (w.context.isReady && k && k.connectionStatus === 'connected' && k.status === 'idle') {
        window.__attnPanel = w;
        return true;
      }
    }
  }
  return false;
}
"""

_JS_KERNEL_IDLE = """
() => {
  const p = window.__attnPanel;
  const k = p && p.sessionContext.session && p.sessionContext.session.kernel;
  return !!k && k.status === 'idle' && k.connectionStatus === 'connected';
}
"""

_JS_RUN_ALL = """
async () => {
  const app = window.jupyterapp, p = window.__attnPanel;
  app.shell.activateById(p.id);
  await p.sessionContext.ready;
  await app.commands.execute('notebook:run-all-cells');
}
"""

_JS_APPEND_AND_RUN = """
async (code) => {
  const app = window.jupyterapp, p = window.__attnPanel;
  app.shell.activateById(p.id);
  const nb = p.content, model = nb.model;
  const index = model.cells.length;
  model.sharedModel.insertCell(index, {cell_type: 'code', source: code});
  nb.activeCellIndex = index;
  nb.deselectAll();
  await app.commands.execute('notebook:run-cell');
  return index;
}
"""

# Like _JS_APPEND_AND_RUN but returns before the cell finishes.
_JS_APPEND_AND_START = _JS_APPEND_AND_RUN.replace(
    "await app.commands.execute('notebook:run-cell');",
    "app.commands.execute('notebook:run-cell');",
)

# True once every listed code cell has run, or once any of them shows an error
# (after an error, run-all leaves the later cells unrun).
_JS_CELLS_DONE = """
(indices) => {
  const cells = window.__attnPanel.content.model.cells;
  let done = true;
  for (const i of indices) {
    const c = cells.get(i);
    if (c.type !== 'code') continue;
    if (c.outputs.toJSON().some((o) => o.output_type === 'error')) return true;
    if (c.executionCount === null || c.executionState === 'running') done = false;
  }
  return done;
}
"""

_JS_OUTPUTS = """
(i) => {
  const c = window.__attnPanel.content.model.cells.get(i);
  return c.type === 'code' ? c.outputs.toJSON() : [];
}
"""

_JS_CLEAR_OUTPUTS = """
async () => {
  const app = window.jupyterapp, p = window.__attnPanel;
  app.shell.activateById(p.id);
  await app.commands.execute('notebook:clear-all-cell-outputs');
}
"""


def _text(value) -> str:
    return "".join(value) if isinstance(value, list) else str(value)


def outputs_to_text(outputs: list[dict], *, where: str) -> str:
    """Concatenate stream text and text/plain results; raise on an error output."""
    parts = []
    for out in outputs:
        kind = out.get("output_type")
        if kind == "error":
            tb = ANSI.sub("", "\n".join(out.get("traceback", [])))
            raise CellError(f"{where} raised {out.get('ename')}: {out.get('evalue')}\n{tb}")
        if kind == "stream":
            parts.append(_text(out.get("text", "")))
        elif kind in ("execute_result", "display_data"):
            data = out.get("data", {})
            if "text/plain" in data and "application/vnd.jupyter.widget-view+json" not in data:
                parts.append(_text(data["text/plain"]) + "\n")
    return "".join(parts)


class LabNotebook:
    """One notebook open in one Playwright page.

    ``ui="lab"`` opens it in JupyterLab (``/lab/tree/<name>``), ``ui="notebook"``
    in Notebook 7 (``/notebooks/<name>``). Both expose their app as
    ``window.jupyterapp`` with the same shell and notebook commands, so every
    other method works the same in either.
    """

    def __init__(
        self, page, server: LabServer, name: str, *, ui: str = "lab", timeout_ms: float = 60_000
    ):
        if ui not in ("lab", "notebook"):
            raise ValueError(f"ui must be 'lab' or 'notebook', not {ui!r}")
        self.page = page
        self.server = server
        self.name = name
        self.ui = ui
        self.timeout_ms = timeout_ms

    def open(self) -> LabNotebook:
        """Load the UI on this notebook, wait until its kernel is connected and idle."""
        # ?reset: ignore any saved workspace, so only this notebook is open (Lab only:
        # Notebook 7 shows one document per page anyway).
        path = f"lab/tree/{self.name}?reset" if self.ui == "lab" else f"notebooks/{self.name}"
        self.page.goto(self.server.url(path), wait_until="load")
        self.page.wait_for_function(
            _JS_FIND_PANEL, arg=self.name, timeout=self.timeout_ms, polling=200
        )
        return self

    def wait_idle(self) -> None:
        self.page.wait_for_function(_JS_KERNEL_IDLE, timeout=self.timeout_ms, polling=100)

    def run_all(self) -> list[str]:
        """Run every cell, wait for each to finish; return each cell's text output
        ('' for a markdown cell).  A cell that raised fails the test with its traceback.
        Stored outputs are cleared first, so the wait sees this run's results."""
        self.page.evaluate(_JS_CLEAR_OUTPUTS)
        self.page.evaluate(_JS_RUN_ALL)
        n = self.page.evaluate("() => window.__attnPanel.content.model.cells.length")
        indices = list(range(n))
        self.page.wait_for_function(
            _JS_CELLS_DONE, arg=indices, timeout=self.timeout_ms, polling=100
        )
        self.wait_idle()
        return [
            outputs_to_text(self.page.evaluate(_JS_OUTPUTS, i), where=f"cell {i}") for i in indices
        ]

    def run(self, code: str) -> str:
        """Append a code cell, run it in the kernel, return its text output."""
        return self.wait_cell(self.start(code), code)

    def start(self, code: str) -> int:
        """Append a code cell and start running it; return its index at once."""
        self.wait_idle()
        return self.page.evaluate(_JS_APPEND_AND_START, code)

    def wait_cell(self, index: int, what: str = "") -> str:
        """Wait for cell ``index`` to finish; return its text output."""
        self.page.wait_for_function(
            _JS_CELLS_DONE, arg=[index], timeout=self.timeout_ms, polling=100
        )
        where = f"cell {index} {what!r}" if what else f"cell {index}"
        return outputs_to_text(self.page.evaluate(_JS_OUTPUTS, index), where=where)

    def kernel_status(self) -> str:
        return self.page.evaluate("() => window.__attnPanel.sessionContext.session.kernel.status")

    def cell(self, index: int):
        """Locator of the notebook's cell ``index`` (windowing is off: all are in the DOM)."""
        return self.page.locator(".jp-NotebookPanel .jp-Notebook .jp-Cell").nth(index)

    def run_json(self, code: str):
        """Run code that prints one JSON document as its last line; parse it."""
        out = self.run(code).strip()
        if not out:
            raise AssertionError(f"no output from {code!r}")
        return json.loads(out.splitlines()[-1])

    def set_theme(self, theme: str) -> None:
        """Switch Lab's theme through its command and wait for the new CSS."""
        light = "true" if "Light" in theme else "false"
        self.page.evaluate(
            "async (theme) => { await window.jupyterapp.commands.execute("
            "'apputils:change-theme', {theme}); }",
            theme,
        )
        self.page.wait_for_function(
            "([name, light]) => document.body.dataset.jpThemeName === name"
            " && document.body.dataset.jpThemeLight === light",
            arg=[theme, light],
            timeout=self.timeout_ms,
        )
        # Lab shows its splash (an animated logo over a dimmed page) while it swaps themes.
        self.page.wait_for_selector("#jupyterlab-splash", state="detached", timeout=self.timeout_ms)


def eventually(check, *, timeout: float = 15.0, interval: float = 0.1):
    """Call ``check`` until it stops raising AssertionError; re-raise the last
    one after ``timeout`` seconds. Returns what ``check`` returned."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return check()
        except AssertionError:
            if time.monotonic() > deadline:
                raise
        time.sleep(interval)


def record_positions(page, roots) -> callable:
    """Start recording, in the page, each position each widget root shows (its
    ``data-t``) with the time in seconds; returns a function that reads the logs,
    one list of (time, position) per root.  The browser is where Play moves: the
    kernel may hear two quick moves as one (ipywidgets merges updates while the
    kernel is busy), so it is not the judge of what was visited."""
    page.evaluate(
        """(roots) => {
          window.__tLogs = roots.map((r) => {
            const log = [];
            new MutationObserver(() => log.push([performance.now() / 1000, Number(r.dataset.t)]))
              .observe(r, { attributes: true, attributeFilter: ["data-t"] });
            return log;
          });
        }""",
        roots,
    )
    return lambda: page.evaluate("() => window.__tLogs")
