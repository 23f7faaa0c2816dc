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
"""

from __future__ import annotations

import asyncio
import functools
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


def cell_loop() -> asyncio.AbstractEventLoop | None:
    """The loop the kernel runs cells on, or, outside a kernel, the main thread's
    running loop (None if there is none)."""
    return _kernel_loop() or _running_main_loop()


def _kernel_loop() -> asyncio.AbstractEventLoop | None:
    """The loop the kernel runs cells on, found from the kernel itself, so a widget
    built on any thread (a thread, a subshell cell) hands messages to it; None
    outside a kernel."""
    try:
        from ipykernel.kernelapp import IPKernelApp
    except ImportError:  # pragma: no cover - ipykernel comes with ipywidgets
        return None
    if not IPKernelApp.initialized():
        return None
    io_loop = getattr(IPKernelApp.instance().kernel, "io_loop", None)  # tornado, main thread
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
