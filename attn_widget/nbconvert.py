"""Saved widgets in a notebook's HTML export, drawn offline: an nbconvert preprocessor.

    jupyter nbconvert --to html --execute \\
        --HTMLExporter.preprocessors=attn_widget.nbconvert.OfflineWidgets notebook.ipynb

Without it, nbconvert's HTML shows a widget through the Jupyter widgets "HTML
manager", which the page loads from a CDN (unpkg.com) and which then loads
anywidget from another: offline, or wherever scripts from there are blocked, the
widget's output is blank.  This preprocessor replaces the output of each
AttentionWidget, and of each comparison, with what an exported page holds
(:mod:`attn_widget.render.export`): a JSON data block made from the widget's
saved state (its traits and its ``_snapshot`` of computed steps) and, once per
notebook, the front end itself (``standalone.js`` and ``widget.css``, about
56 kB).  The page then draws every such widget with the same view as JupyterLab,
with no kernel and nothing fetched: it steps, plays and scrubs within the saved
steps.  The notebook file is not changed: the cost is paid in the HTML only.

It needs the notebook's saved widget state (``metadata.widgets``), which
``--execute`` records (nbclient does by default), as does a notebook saved
from JupyterLab with *Save Widget State Automatically* on.  Without it, or for a
widget output it cannot read (another front-end version's snapshot, say), the
output is left as it was, with a warning.  Other widgets (sliders, plots) are
left to the widget manager; once no output needs it, the widget state is
dropped from the HTML, so the page asks no CDN for one.

A comparison (``compare(...)``) is drawn as one: its panels move together, as
they do in the notebook (a box of AttentionWidgets whose positions are linked).
"""

from __future__ import annotations

import base64
import copy
from collections.abc import Mapping

from nbconvert.preprocessors import Preprocessor

from .render.export import notebook_fragment, saved_panel

__all__ = ["OfflineWidgets", "offline_widgets"]

VIEW = "application/vnd.jupyter.widget-view+json"
STATE = "application/vnd.jupyter.widget-state+json"
#: How anywidget names the Python class of an AttentionWidget in its saved state.
ANYWIDGET_ID = "attn_widget.widget.AttentionWidget"
_REF = "IPY_MODEL_"


class OfflineWidgets(Preprocessor):
    """nbconvert preprocessor: each AttentionWidget (or comparison) output becomes
    HTML that draws it offline from the notebook's saved widget state; see the
    module's docstring."""

    def preprocess(self, nb, resources):
        offline_widgets(nb, warn=self.log.warning)
        return nb, resources


def offline_widgets(nb, *, warn=None) -> int:
    """Replace, in place, each output of ``nb`` (a notebook node, nbformat 4) that
    shows an AttentionWidget or a comparison with a ``text/html`` output that
    draws it offline (the front end goes with the first one), keeping its
    ``text/plain``.  Drops ``metadata.widgets`` once no output shows a widget
    through the widget manager.  Returns how many outputs were replaced.

    ``warn(message)`` hears each widget output left as it was."""
    models = _saved_models(nb)
    replaced = 0
    still_managed = False
    for index, cell in enumerate(nb.get("cells", [])):
        for output in cell.get("outputs", []) or []:
            data = output.get("data") or {}
            view = data.get(VIEW)
            if not isinstance(view, Mapping):
                continue
            model_id = str(view.get("model_id", ""))
            try:
                shown = _panels_of(model_id, models)
                if shown is None:
                    still_managed = still_managed or model_id in models
                    continue
                panels, direction = shown
                html = notebook_fragment(panels, direction=direction, bundle=replaced == 0)
            except (ValueError, TypeError, KeyError) as error:
                still_managed = True
                if warn is not None:
                    warn(f"attn_widget: cell {index}: widget {model_id} left as it was: {error}")
                continue
            output["data"] = {"text/html": html, "text/plain": data.get("text/plain", "")}
            replaced += 1
    if replaced and not still_managed:
        nb.get("metadata", {}).pop("widgets", None)
    return replaced


def _saved_models(nb) -> dict[str, dict]:
    """model id → {"state": traits, "buffers": {trait name: bytes}} from the
    notebook's saved widget state (empty when it has none)."""
    widgets = (nb.get("metadata") or {}).get("widgets") or {}
    saved = (widgets.get(STATE) or {}).get("state") or {}
    models = {}
    for model_id, model in saved.items():
        if not isinstance(model, Mapping):
            continue
        buffers = {}
        for buffer in model.get("buffers") or []:
            path = buffer.get("path") or []
            if len(path) == 1 and buffer.get("encoding") == "base64":
                buffers[str(path[0])] = base64.b64decode(buffer.get("data", ""))
        models[model_id] = {"state": dict(model.get("state") or {}), "buffers": buffers}
    return models


def _is_ours(model: dict | None) -> bool:
    return model is not None and model["state"].get("_anywidget_id") == ANYWIDGET_ID


def _panel(model: dict, *, alone: bool) -> dict:
    snapshot = model["buffers"].get("_snapshot")
    if snapshot is None:
        raise ValueError("its saved state holds no _snapshot of steps")
    return saved_panel(copy.deepcopy(model["state"]), snapshot, alone=alone)


def _panels_of(model_id: str, models: dict) -> tuple[list[dict], str | None] | None:
    """The panels an output shows and their layout, or None when it is not an
    AttentionWidget, or a box of them whose positions are linked (a comparison)."""
    model = models.get(model_id)
    if model is None:
        return None
    if _is_ours(model):
        return [_panel(model, alone=True)], None
    children = model["state"].get("children")
    if not isinstance(children, list) or len(children) < 2:
        return None
    ids = [c.removeprefix(_REF) for c in children if isinstance(c, str)]
    if len(ids) != len(children) or not all(_is_ours(models.get(c)) for c in ids):
        return None
    if not _linked(ids, models):
        return None
    layout = models.get(str(model["state"].get("layout", "")).removeprefix(_REF))
    flow = str((layout or {"state": {}})["state"].get("flex_flow") or "")
    panels = [_panel(models[c], alone=False) for c in ids]
    return panels, "column" if flow.startswith("column") else "row"


def _linked(ids: list[str], models: dict) -> bool:
    """Whether every panel's ``t`` is linked to the first's in the browser
    (``ipywidgets.jslink``, as ``compare`` does), so they move as one."""
    pairs = set()
    for model in models.values():
        state = model["state"]
        source, target = state.get("source"), state.get("target")
        if not (isinstance(source, list) and isinstance(target, list)):
            continue
        if len(source) == len(target) == 2 and source[1] == target[1] == "t":
            a, b = (str(x).removeprefix(_REF) for x in (source[0], target[0]))
            pairs |= {(a, b), (b, a)}
    return all((ids[0], other) in pairs for other in ids[1:])
