"""How a widget lives in a Jupyter kernel: the threading rule and the hook after
each cell (docs/design.md §4).

- **One thread at a time.** A widget's moves, edits and messages take turns
  under its session's lock (:func:`serialised`), whichever thread they come from.
- **Front-end messages never race a running cell.** ipykernel may deliver comm
  messages on a subshell thread while a cell runs; :func:`defer_to_loop` hands
  them to the loop the kernel runs cells on (:func:`cell_loop`), so they are
  applied after the cell.
- **Saved state follows the cells.** :func:`refresh_after_each_cell` asks every
  live widget, after each cell, to refresh its saved-state snapshot if the cell
  computed new steps.
- **A re-run cell closes what its last run made.** Students re-run cells all the
  time, and ipywidgets keeps every widget (and IPython's ``Out`` every cell's
  value) until it is closed.  :func:`made_by_this_cell` records which cell made
  a widget (the cell id JupyterLab, Notebook 7 and VS Code send with each
  execution); when that cell runs again, the widgets of its previous run that
  no name of the notebook holds (directly, or inside a list, a dict or a
  Box's children) are closed after it, and a closed widget lets go of its
  steps.  Where no cell id is sent and no front end can show a widget (a
  terminal IPython, a script run by IPython), the cell is known by its source
  text: running the same text again is running the cell again.  In a kernel
  without cell ids (the classic Notebook 6, nbclient, nbval, papermill) two
  cells of the same text are two views on screen, so nothing is closed there
  (nbclient and its kind run each cell once: nothing piles up).
- **A widget is not pickled.** It is a live conversation with its views:
  :func:`refuse_pickling` says so, and what to save instead.
"""

from __future__ import annotations

import asyncio
import functools
import re
import sys
import threading
import weakref
from collections.abc import Callable


def serialised(method):
    """Run ``method`` holding ``self.session.lock``: moves, edits and messages from
    several threads (user threads, the comm thread outside a kernel) take turns,
    so the stepper and the traits never see two at once."""

    @functools.wraps(method)
    def locked(self, *args, **kwargs):
        with self.session.lock:
            return method(self, *args, **kwargs)

    return locked


def refuse_pickling(widget, _protocol=None):
    """A widget is a live conversation with its views (a comm, a lock, a kernel's
    loop): it cannot be pickled, and saying what to save instead beats pickle's
    own message (anywidget's per-widget class "is not the same object")."""
    raise TypeError(
        f"a {type(widget).__name__} cannot be pickled: it is a live connection to its "
        "views; save the model instead (save_checkpoint(model, path) for a TextRNN, "
        "torch.save(model.state_dict(), path) for any model) and the page with "
        "w.save_html(path)"
    )


def cell_loop() -> asyncio.AbstractEventLoop | None:
    """The loop the kernel runs cells on, or, outside a kernel, the main thread's
    running loop (None if there is none)."""
    return _kernel_loop() or _running_main_loop()


def _kernel_loop() -> asyncio.AbstractEventLoop | None:
    """The loop the kernel runs cells on, found from the kernel itself, so a widget
    built on any thread (a thread, a subshell cell) hands messages to it; None
    outside a kernel (where ipykernel was never imported)."""
    app = _kernel_app()
    if app is None:
        return None
    io_loop = getattr(app.kernel, "io_loop", None)  # tornado, main thread
    loop = getattr(io_loop, "asyncio_loop", None)
    return loop if isinstance(loop, asyncio.AbstractEventLoop) else None


def _running_main_loop() -> asyncio.AbstractEventLoop | None:
    """The event loop running on the main thread now (a kernel's, inside a cell), or None."""
    if threading.current_thread() is not threading.main_thread():
        return None
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def loop_is_live(loop: asyncio.AbstractEventLoop | None) -> bool:
    """Whether something queued on ``loop`` will ever run."""
    return loop is not None and not loop.is_closed() and loop.is_running()


def defer_to_loop(loop: asyncio.AbstractEventLoop | None, handler: Callable, *args) -> bool:
    """Queue ``handler(*args)`` on ``loop`` if called off the main thread.

    Returns True when queued; False means the caller should run it here (on the
    main thread, or when no live loop would ever run it)."""
    if not loop_is_live(loop) or threading.current_thread() is threading.main_thread():
        return False
    loop.call_soon_threadsafe(handler, *args)
    return True


# -- saved state follows what the notebook's cells computed ---------------------

# The hooks of the widgets alive, as weak references to their bound methods.
_LIVE: list[weakref.WeakMethod] = []
_HOOKED_SHELL = None


def _after_cell(*_args) -> None:
    for ref in list(_LIVE):
        hook = ref()
        if hook is None:
            _LIVE.remove(ref)  # its widget is gone
        else:
            hook()


def refresh_after_each_cell(hook: Callable[[], None]) -> None:
    """Call ``hook()``, a widget's bound method, after every cell from now on, for
    as long as the widget lives (IPython's ``post_run_cell`` event, registered once)."""
    global _HOOKED_SHELL
    _LIVE.append(weakref.WeakMethod(hook))
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython comes with ipywidgets
        return
    shell = get_ipython()
    if shell is None or shell is _HOOKED_SHELL:
        return
    shell.events.register("post_run_cell", _after_cell)
    _HOOKED_SHELL = shell


# -- a re-run cell closes the widgets its previous run made -----------------------

# What each cell made, weakly held: in its last run that ended, and in the run now.
_MADE: dict[tuple[str, str], list[weakref.ref]] = {}
_MAKING: dict[tuple[str, str], list[weakref.ref]] = {}
_CELL_SHELL = None
# IPython's own names for cell values and inputs (Out, _, __, _12, _i12, …): they do
# not count as the notebook holding a widget.
_HISTORY_NAME = re.compile(r"_+|_\d+|_i+|_i\d+|_oh|_ih|_dh|Out|In|_exit_code")


def made_by_this_cell(widget) -> None:
    """Record that the cell running now made ``widget`` (an object with ``close()``),
    so that running that cell again closes it unless a name holds it (see the
    module docstring).  Nothing is recorded outside a cell that can be known
    again (:func:`_cell_key`)."""
    shell = _hook_cells()
    # IPython keeps the running cell's result, and so its id, on the displayhook
    result = getattr(getattr(shell, "displayhook", None), "exec_result", None)
    cell = _cell_key(getattr(result, "info", None))
    if cell is not None:
        _MAKING.setdefault(cell, []).append(weakref.ref(widget))


def _cell_key(info) -> tuple[str, str] | None:
    """How a cell is known when it runs again: by the id its front end sends, or,
    where there is no id and no front end (no kernel), by its source text; None
    when it cannot be known (see the module docstring)."""
    cell = getattr(info, "cell_id", None)
    if cell is not None:
        return ("id", str(cell))
    source = getattr(info, "raw_cell", None)
    if not isinstance(source, str) or not source.strip() or _in_a_kernel():
        return None
    return ("source", source)


def _in_a_kernel() -> bool:
    return _kernel_app() is not None


def _kernel_app():
    """The running kernel's IPKernelApp, or None outside a kernel.

    Looked up, never imported: a kernel has imported it, and importing it outside one
    swaps comm.get_comm_manager for ipykernel's, so a widget whose comm was made
    before could not be closed (KeyError from unregister_comm in a plain script)."""
    kernelapp = sys.modules.get("ipykernel.kernelapp")
    if kernelapp is None or not kernelapp.IPKernelApp.initialized():
        return None
    return kernelapp.IPKernelApp.instance()


def _after_run(shell, result) -> None:
    """After a cell ran: the widgets its previous run made are closed, unless a
    name holds them (then a later run may close them)."""
    cell = _cell_key(getattr(result, "info", None))
    if cell is None:
        return
    made = [w for w in (ref() for ref in _MAKING.pop(cell, [])) if w is not None]
    previous = [w for w in (ref() for ref in _MADE.pop(cell, [])) if w is not None]
    held = _held_by_names(getattr(shell, "user_ns", {})) if previous else set()
    kept = [w for w in previous if id(w) in held or any(w is m for m in made)]
    if made or kept:
        _MADE[cell] = [weakref.ref(w) for w in made + kept]
    failed = None
    for widget in previous:
        if not any(widget is k for k in kept):
            try:
                widget.close()
            except Exception as error:  # the others are closed all the same
                failed = failed or error
    if failed is not None:
        raise failed


def _held_by_names(namespace: dict) -> set[int]:
    """The ids of the objects the notebook's names hold: each name's value, and
    what lists, tuples, sets, dicts and Boxes (``children``) hold, a few levels
    down."""
    held: set[int] = set()
    todo = [(value, 0) for name, value in list(namespace.items())
            if not _HISTORY_NAME.fullmatch(name)]  # fmt: skip
    while todo:
        value, depth = todo.pop()
        if id(value) in held or depth > 4:
            continue
        held.add(id(value))
        if isinstance(value, (list, tuple, set, frozenset)):
            inside = list(value)
        elif isinstance(value, dict):
            inside = list(value.values())
        else:
            children = getattr(value, "children", None)
            inside = list(children) if isinstance(children, (list, tuple)) else []
        todo.extend((item, depth + 1) for item in inside[:1000])
    return held


def _hook_cells():
    """The shell, with the hook after each cell registered once (None outside IPython)."""
    global _CELL_SHELL
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython comes with ipywidgets
        return None
    shell = get_ipython()
    if shell is not None and shell is not _CELL_SHELL:
        shell.events.register("post_run_cell", functools.partial(_after_run, shell))
        _CELL_SHELL = shell
    return shell
