"""Sessions as one self-contained HTML file, to open with no kernel and no network.

    from attn_widget.render.export import export_page
    export_page(session, "step.html")       # one session, or a list (a comparison)
    w.save_html("step.html")                # the same from a widget (attn_widget.to_html)

What the file holds, and nothing else:

- the front end: ``attn_widget/static/standalone.js`` (built from
  ``js/src/standalone.ts``: the same ``Controller`` and ``View`` and step
  store as in a notebook, driven by an in-page model instead of a kernel)
  as one inline script, and ``widget.css`` as one inline style;
- one JSON data block (``<script type="application/json"
  class="attn-widget-state">``) with each panel's traits, as a widget would
  sync them: the session's (:meth:`Session.describe`) and its
  :class:`Presentation` (title, speed, position, controls): the tokens,
  the sizes, the position, and ``_snapshot``, the steps in the "ATW1" format
  (base64), with the head's top-k predictions when the widget has a head;
- a ``Content-Security-Policy`` meta tag: ``default-src 'none'``, and the
  script and the style allowed only by their SHA-256 hashes.  The page loads
  nothing, from anywhere, and has no inline event handlers.

Token text is user data: in the data block every ``<``, ``>`` and ``&`` is
written as a JSON escape, so no token can close the block or open a comment,
and the views put tokens on the page only as text.

Limits:

- The steps are bounded as a saved notebook's are: at most ``STEP_DATA_LIMIT``
  bytes (4 MB of float32) in all, from step 0 on.  A longer trace is cut: the
  page says which positions it holds, and the position cannot go past them.
  A comparison's panels share the bound and are cut at the same position.
- Nothing is computed in the page: the gradient shading, edits, new text
  and a new knockout need a kernel and are not offered; the shading is α.
  A session's knockout (``knockout``, the slots hidden from attention) goes
  with the steps computed with it, and the page marks those slots.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..protocol import STEP_DATA_LIMIT, pack_snapshot, step_bytes, unpack_snapshot
from ..session import Session, check_token
from .bundle import read_static

__all__ = [
    "EXPORT_FORMAT",
    "Presentation",
    "check_page_path",
    "export_page",
    "notebook_fragment",
    "saved_panel",
]

#: The ``format`` of the data block, checked by js/src/standalone.ts.
EXPORT_FORMAT = "attn_widget export 1"
STATE_CLASS = "attn-widget-state"

# Traits that ask a kernel for something: an exported page has none to ask.
# The knockout the steps were computed with stays (the page marks the hidden
# slots); changing it needs a kernel.
_NO_KERNEL = {"editable": False, "accepts_text": False, "vocabulary": [], "can_knockout": False}


@dataclass(frozen=True)
class Presentation:
    """How a panel shows its session, beyond the session itself: the widget's
    own settings.  ``position`` None is the session's position."""

    position: int | None = None
    title: str = ""
    speed: float = 4.0
    show_controls: bool = True
    widget_id: str = ""


_PAGE_CSS = """\
:root { color-scheme: light; }
body {
  margin: 0; background: #fff; color: #1f2328;
  font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
}
main { max-width: 1280px; margin: 0 auto; padding: 20px 24px 40px; }
h1 { font-size: 1.35em; margin: 0 0 4px; }
.attn-export-note { color: #57606a; font-size: 0.9em; margin: 0 0 14px; }
"""
# What a comparison's panels and a failed draw look like, in a page or a notebook's.
_PANELS_CSS = """\
.attn-export-compare { display: flex; gap: 16px; align-items: flex-start; }
.attn-export-compare.is-row { flex-flow: row wrap; }
.attn-export-compare.is-column { flex-flow: column nowrap; }
.attn-export-compare > .attn-export-panel { flex: 1 1 430px; min-width: 0; }
.attn-export-error { color: #b42318; font-weight: 600; }
"""


def export_page(
    sessions: Session | Sequence[Session],
    path: str | os.PathLike | None = None,
    *,
    presentations: Sequence[Presentation] | None = None,
    direction: str | None = None,
    all_steps: bool = True,
    title: str | None = None,
) -> str:
    """Write ``sessions`` as one HTML page that steps, plays and scrubs offline,
    opened from a file; several sessions are a comparison's panels, moving together.

    Args:
        sessions: a :class:`Session`, or a list of them (a comparison's panels).
        path: where to write the page (UTF-8); None writes nothing.
        presentations: how each panel shows its session (title, speed, position,
            controls); the defaults otherwise.
        direction: how a comparison's panels are laid out, ``"row"`` or ``"column"``.
        all_steps: compute every step first (in this kernel), so the page can show
            positions 0 … T; False exports only the steps computed so far.
        title: the page's title, also shown as a heading.

    Returns:
        The page's text.

    The page holds at most ``STEP_DATA_LIMIT`` bytes of steps (all panels
    together); a longer trace is cut and the page says so.  The position is
    the panel's, or the last one the page holds.
    """
    sessions = [sessions] if isinstance(sessions, Session) else list(sessions)
    for i, session in enumerate(sessions):
        if not isinstance(session, Session):
            raise TypeError(f"sessions[{i}] must be a Session, got {type(session).__name__}")
    if not sessions:
        raise ValueError("export_page needs at least one session")
    if presentations is None:
        presentations = [Presentation() for _ in sessions]
    if len(presentations) != len(sessions):
        raise ValueError(
            f"presentations must give one Presentation per session: {len(sessions)} sessions, "
            f"got {len(presentations)}"
        )
    if path is not None and not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a str, a path or None, got {type(path).__name__}")
    if not isinstance(all_steps, bool):
        raise TypeError(f"all_steps must be True or False, got {all_steps!r}")
    if title is not None:
        check_token(title, "title")  # a str that UTF-8 can carry
    script, css = _standalone_bundle()

    computed = [_steps_of(session, all_steps) for session in sessions]
    kept = _kept_together(computed, STEP_DATA_LIMIT)
    states = []
    for session, look, steps in zip(sessions, presentations, computed, strict=True):
        snapshot = pack_snapshot(session.version, steps[:kept], computed=len(steps))
        states.append(_panel_state(session, look, snapshot, kept, alone=len(sessions) == 1))
    binary = sorted({n for st in states for n, v in st.items() if isinstance(v, _Binary)})
    state = {"format": EXPORT_FORMAT, "binary": binary, "direction": direction, "panels": states}
    page = _page(state, script, css, title)
    if path is not None:
        Path(path).write_bytes(page.encode("utf-8"))
    return page


def check_page_path(path) -> Path:
    """``path`` (a str or an ``os.PathLike``) as a :class:`~pathlib.Path`, for the
    ``save_html`` methods, which write a file and return where."""
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(
            f"save_html writes a file: path must be a str or a path, got {type(path).__name__} "
            "(attn_widget.to_html(w) gives the page as text)"
        )
    return Path(path)


def _standalone_bundle(page_css: str = _PAGE_CSS) -> tuple[str, str]:
    """standalone.js and widget.css, as they go into the page."""
    script, css = read_static(
        ("standalone.js", "widget.css"), "the attn_widget front end for exported pages"
    )
    style = page_css + _PANELS_CSS + css
    # The CSP hashes the text the browser's parser hands over: it turns CR and CRLF
    # into LF, and a closing tag inside the text would end the element early.
    script, style = (_lf(script), _lf(style))
    for name, text, end in (("standalone.js", script, "</script"), ("the css", style, "</style")):
        if end in text.lower() or "<!--" in text:
            raise RuntimeError(f"{name} contains {end!r} or '<!--' and cannot be inlined")
    return script, style


def _lf(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _steps_of(session: Session, all_steps: bool) -> list:
    """The session's computed steps as they are shown (with the head's top k),
    after computing all T of them if ``all_steps``."""
    with session.lock:
        session.follow()  # a model changed since: the steps are recomputed
        if all_steps:
            session.compute(session.T)
        return session.predicted(list(session.steps))


def _kept_together(panels: Sequence[Sequence], limit: int) -> int:
    """The largest n such that steps 0 … n-1 of every panel fit in ``limit`` bytes in
    all (for one panel, ``protocol.steps_within``)."""
    n_max = min(len(steps) for steps in panels)
    total = 0
    for n in range(n_max):
        total += sum(step_bytes(steps[n]) for steps in panels)
        if total > limit:
            return n
    return n_max


def _panel_state(
    session: Session, look: Presentation, snapshot: bytes, kept: int, *, alone: bool
) -> dict[str, Any]:
    """The traits the page's model holds: what a widget would sync, with what only
    a kernel could serve switched off."""
    position = session.position if look.position is None else look.position
    state: dict[str, Any] = session.describe()
    state.update(
        _snapshot=snapshot,
        _widget_id=look.widget_id,
        t=min(position, kept),
        frontier=kept,
        playing=False,
        speed=look.speed,
        status="",
        shading="alpha",
        title=look.title,
        show_controls=True if alone else look.show_controls,  # a panel exported alone
        **_NO_KERNEL,
    )
    for name, value in state.items():
        if isinstance(value, (bytes, bytearray, memoryview)):
            state[name] = _Binary(base64.b64encode(bytes(value)).decode("ascii"))
    return state


class _Binary(str):
    """A trait's bytes as base64; the data block lists the traits that hold them."""


def _data_block(state: dict) -> str:
    """JSON that no text in it can break out of: ``<``, ``>`` and ``&`` appear in JSON
    only inside strings, where their escapes mean the same."""
    text = json.dumps(state, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    for char, escape in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026")):
        text = text.replace(char, escape)
    return text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


def _csp_hash(text: str) -> str:
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return "'sha256-" + base64.b64encode(digest).decode("ascii") + "'"


def _page(state: dict, script: str, style: str, title: str | None) -> str:
    csp = (
        f"default-src 'none'; script-src {_csp_hash(script)}; style-src {_csp_hash(style)}; "
        "base-uri 'none'; form-action 'none'"
    )
    panels = state["panels"]
    if title:
        page_title = title
    elif len(panels) > 1:
        page_title = f"attn_widget: {len(panels)} models compared"
    else:
        page_title = f"attn_widget: {panels[0].get('update_rule', '')}"
    heading = f"<h1>{html.escape(title)}</h1>\n" if title else ""
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n'
        '<meta charset="utf-8">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{html.escape(csp, quote=False)}">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        '<meta name="referrer" content="no-referrer">\n'
        f"<title>{html.escape(page_title)}</title>\n"
        f"<style>{style}</style>\n"
        "</head>\n<body>\n<main>\n"
        f"{heading}"
        '<p class="attn-export-note">Exported from attn_widget. It runs offline in this '
        "file: step with the buttons, the arrow keys or the slider; no kernel is needed.</p>\n"
        f'<script type="application/json" class="{STATE_CLASS}">{_data_block(state)}</script>\n'
        "</main>\n"
        f"<script>{script}</script>\n"
        "</body>\n</html>\n"
    )


# -- a widget as a saved notebook keeps it ----------------------------------------

#: Traits every ipywidgets DOM widget (and anywidget) syncs for the widget manager:
#: how it finds, loads and styles the view, not what the view shows.
_MANAGER_TRAITS = frozenset(
    {"_dom_classes", "_esm", "_css", "_anywidget_id", "layout", "tabbable", "tooltip"}
)


def saved_panel(traits: Mapping[str, Any], snapshot: bytes, *, alone: bool = True) -> dict:
    """The traits an exported page's model holds, made from a widget as a saved
    notebook keeps it (the widget manager's state of an AttentionWidget, and the
    bytes of its ``_snapshot``) rather than from a session: what the saved view
    showed, with what only a kernel could serve switched off, as
    :func:`export_page` writes a session's.

    The steps are the snapshot's, as saved (the notebook's own bound,
    ``STEP_DATA_LIMIT``, holds); the position is the saved one, or the last the
    snapshot holds.  A snapshot that is not one (see :func:`unpack_snapshot`) is
    a ValueError."""
    if not isinstance(traits, Mapping):
        raise TypeError(f"traits must be a mapping of trait names, got {type(traits).__name__}")
    if not isinstance(snapshot, (bytes, bytearray, memoryview)):
        raise TypeError(f"snapshot must be bytes, got {type(snapshot).__name__}")
    _, steps, _ = unpack_snapshot(snapshot)
    kept = len(steps)
    position = traits.get("t", 0)
    if isinstance(position, bool) or not isinstance(position, int) or position < 0:
        raise ValueError(f"a saved widget's t must be an int ≥ 0, got {position!r}")
    state = {
        name: value
        for name, value in traits.items()
        if name not in _MANAGER_TRAITS and not name.startswith(("_model_", "_view_"))
    }
    state.update(
        _snapshot=_Binary(base64.b64encode(bytes(snapshot)).decode("ascii")),
        t=min(position, kept),
        frontier=kept,
        playing=False,
        status="",
        shading="alpha",
        show_controls=True if alone else bool(traits.get("show_controls", True)),
        **_NO_KERNEL,
    )
    return state


def notebook_fragment(
    panels: Sequence[dict], *, direction: str | None = None, bundle: bool = True
) -> str:
    """HTML that shows saved panels (:func:`saved_panel`) in a notebook's own page
    (an nbconvert export), offline: their data block, and with ``bundle`` the
    front end (``standalone.js``, ``widget.css``), which a page needs once however
    many widgets it shows.  The script waits for the whole page to be parsed, so
    one copy draws the data blocks that come after it.  Several panels are a
    comparison, moving together."""
    panels = list(panels)
    if not panels:
        raise ValueError("notebook_fragment needs at least one panel")
    if direction not in (None, "row", "column"):
        raise ValueError(f"direction must be 'row', 'column' or None, got {direction!r}")
    binary = sorted({n for st in panels for n, v in st.items() if isinstance(v, _Binary)})
    state = {"format": EXPORT_FORMAT, "binary": binary, "direction": direction, "panels": panels}
    block = _data_block(state)
    try:
        block.encode("utf-8")
    except UnicodeEncodeError as error:
        raise ValueError(f"a saved trait holds text UTF-8 cannot carry: {error}") from None
    html_ = f'<script type="application/json" class="{STATE_CLASS}">{block}</script>'
    if not bundle:
        return html_
    script, style = _standalone_bundle(page_css="")
    return f"<style>{style}</style>\n{html_}\n<script>{script}</script>"
