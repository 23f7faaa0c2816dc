"""The built front end: ``attn_widget/static/``, written by the npm build (esbuild)
from ``js/src``.  The widget loads ``widget.js`` and ``widget.css``; an exported
page inlines ``standalone.js`` and ``widget.css``."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

STATIC = Path(__file__).resolve().parent.parent / "static"

BUILD_HINT = (
    "build it with `pip install -e .` (runs the npm build hook) or "
    "`npm --prefix js install && npm --prefix js run build`"
)


def read_static(names: Sequence[str], what: str) -> list[str]:
    """Files of the built front end in ``attn_widget/static/``, as text; a missing
    one is an error that names the build command."""
    paths = [STATIC / name for name in names]
    missing = [p.name for p in paths if not p.is_file()]
    if missing:
        raise RuntimeError(
            f"{what} is not built (missing {', '.join(missing)} in {STATIC}); {BUILD_HINT}"
        )
    return [p.read_text(encoding="utf-8") for p in paths]
