"""A widget or a comparison as one self-contained HTML file, to open with no
kernel and no network.

    from attn_widget.export import to_html
    to_html(w, "step.html")        # a widget, or a compare(...) box: returns the path
    html = to_html(w)              # the page as a str

The page is made by :mod:`attn_widget.render.export` from the widgets'
sessions; see there for what it holds and its limits.
"""

from __future__ import annotations

import os
from pathlib import Path

from .comparison import Compare
from .render.export import EXPORT_FORMAT, Presentation, export_page
from .widget import AttentionWidget

__all__ = ["EXPORT_FORMAT", "Presentation", "export_page", "to_html"]


def to_html(
    widget,
    path: str | os.PathLike | None = None,
    *,
    all_steps: bool = True,
    title: str | None = None,
) -> str | Path:
    """Export ``widget`` (an :class:`AttentionWidget` or a :class:`Compare`) as one
    HTML page that steps, plays and scrubs offline, opened from a file.

    Args:
        widget: the widget, or a comparison (``compare(...)``), whose panels keep
            moving together in the page.
        path: where to write the page (UTF-8); None writes nothing.
        all_steps: compute every step first (in this kernel), so the page can show
            positions 0 … T; False exports only the steps computed so far.
        title: the page's title, also shown as a heading.

    Returns:
        The page's text when ``path`` is None; otherwise the path written, as a
        :class:`~pathlib.Path` (as ``w.save_html(path)`` returns it), so a cell
        that ends with the call does not print the page.

    The page holds at most ``STEP_DATA_LIMIT`` bytes of steps (all panels
    together); a longer trace is cut and the page says so.  The position is
    the widget's, or the last one the page holds.
    """
    if not isinstance(widget, (AttentionWidget, Compare)):
        raise TypeError(
            f"to_html exports an AttentionWidget or a Compare, got {type(widget).__name__}"
        )
    if path is not None:
        return widget.save_html(path, all_steps=all_steps, title=title)
    panels = widget.panels if isinstance(widget, Compare) else [widget]
    return export_page(
        [panel.session for panel in panels],
        presentations=[panel.presentation() for panel in panels],
        direction=widget.direction if isinstance(widget, Compare) else None,
        all_steps=all_steps,
        title=title,
    )
