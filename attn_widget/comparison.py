"""Compare mode: two or more models stepping in lockstep over the same input.

    from attn_widget import compare, demo_model
    cmp = compare(demo_model("recall", "eq1"), demo_model("recall", "eq4"), text="k3 d1 … ?")
    cmp            # one set of controls; one panel per model, each with its α and prediction
    cmp.goto(12)   # every panel moves; cmp.t, cmp.observe(handler, "t") as for one widget

Each panel is an :class:`~attn_widget.widget.AttentionWidget`, with its own
stepper, its own kernel conversation and its own view; nothing of the widget
is copied here.  What makes them one comparison:

- the first panel shows the controls, the others hide theirs
  (``show_controls = False``), so there is one Step, one Play, one scrubber;
- every panel's position ``t`` is linked to the first's twice: in the browser
  (``ipywidgets.jslink``), so a click or a Play beat moves every view in the
  same frame, and in the kernel (``traitlets.link``), so ``goto`` from Python
  moves them all even with no view open.  Each panel then fetches its own
  step, as it does for any move;
- the panels read the same sentence, so they hide the same slots from
  attention: every panel's ``knockout`` is linked to the first's in the
  kernel (a click in any panel's view, ``cmp.knockout = [3]`` or
  ``panel.knockout = [3]`` sets it for all), and each panel recomputes its
  own steps.  If a panel's model takes no knockout mask, no panel may hide
  a slot, and saying so beats a comparison in which the panels differ in
  more than their models.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Sequence
from pathlib import Path

import ipywidgets
import traitlets as tl
from torch import Tensor

from .core import supports_knockout
from .kernel import made_by_this_cell
from .render.export import check_page_path, export_page
from .session import check_position
from .widget import AttentionWidget, refuse_pickling

# Why a comparison's panel refuses an edit of its own.
_HELD = (
    "this widget is a panel of a comparison, whose panels read the same inputs "
    "in lockstep: its inputs cannot change alone; build a new compare(...) instead"
)
# Why a comparison's panels refuse a knockout.
_NO_KNOCKOUT = (
    "a comparison's panels hide the same slots from attention, and {name}'s model "
    "takes no knockout mask, so no panel can; show the other models in a compare(...) "
    "of their own"
)


class Compare(ipywidgets.Box):
    """Panels (AttentionWidgets over the same T inputs) that step as one.

    Use :func:`compare` to build one.  ``t`` is the shared position (0 … T);
    ``step()``, ``back()``, ``goto(k)``, ``reset()``, ``play()`` and ``pause()``
    act on all panels; ``panels`` are the widgets themselves.  ``knockout``
    (the slots hidden from attention) is every panel's, set for all at once.
    """

    t = tl.Int(0)
    knockout = tl.List()
    __reduce_ex__ = refuse_pickling

    def __init__(self, panels: Sequence[AttentionWidget], *, direction: str = "row"):
        panels = list(panels)
        if len(panels) < 2:
            raise ValueError(f"compare needs two or more panels, got {len(panels)}")
        for i, panel in enumerate(panels):
            if not isinstance(panel, AttentionWidget):
                raise TypeError(
                    f"panels[{i}] must be an AttentionWidget, got {type(panel).__name__}"
                )
        if len({tuple(p.tokens) for p in panels}) != 1:
            shown = "; ".join(" ".join(p.tokens[:6]) + (" …" if p.T > 6 else "") for p in panels)
            raise ValueError(f"the panels must read the same tokens, got: {shown}"[:400])
        if direction not in ("row", "column"):
            raise ValueError(f"direction must be 'row' or 'column', got {direction!r}")
        leader, *followers = panels
        start = leader.t
        self._links = []
        for panel in panels:
            panel.session.hold_inputs(_HELD)
            panel.editable = False  # so its view offers no edits or text box
        for panel in followers:
            panel.show_controls = False
            panel.goto(start)
            self._links.append(tl.link((leader, "t"), (panel, "t")))
            self._links.append(ipywidgets.jslink((leader, "t"), (panel, "t")))
        self._panels = tuple(panels)  # its children, for good (see set_state)
        wrap = "row wrap" if direction == "row" else "column nowrap"
        super().__init__(
            children=panels,
            layout=ipywidgets.Layout(display="flex", flex_flow=wrap, align_items="flex-start"),
        )
        for panel in panels:  # side by side where there is room, each at least 430 px
            panel.layout.flex = "1 1 430px"
            panel.layout.min_width = "0"
        self.t = start
        self._links.append(tl.link((leader, "t"), (self, "t")))
        self._share_knockout(leader, followers)
        made_by_this_cell(self)  # closed when its cell runs again, unless a name holds it

    def _share_knockout(self, leader: AttentionWidget, followers: list[AttentionWidget]) -> None:
        """One knockout for all panels (the module docstring says why), or none."""
        panels = [leader, *followers]
        unable = [p for p in panels if not supports_knockout(p.model)]
        if unable:
            reason = _NO_KNOCKOUT.format(name=unable[0].title or type(unable[0].model).__name__)
            for panel in panels:
                panel.knockout = []
                panel.session.hold_knockout(reason)
                panel.can_knockout = False
            return
        for panel in followers:
            panel.knockout = leader.knockout
            self._links.append(tl.link((leader, "knockout"), (panel, "knockout")))
        self.knockout = leader.knockout
        self._links.append(tl.link((leader, "knockout"), (self, "knockout")))

    @property
    def panels(self) -> list[AttentionWidget]:
        return list(self._panels)

    @tl.validate("children")
    def _fixed_children(self, proposal):
        """The panels are the comparison's children, for good: every step goes
        through all of them (a Box left without them raised IndexError everywhere)."""
        value = tuple(proposal["value"])
        panels = getattr(self, "_panels", value)  # during __init__ they are being set
        if len(value) != len(panels) or any(
            a is not b for a, b in zip(value, panels, strict=False)
        ):
            raise tl.TraitError(
                f"a comparison's children are its {len(panels)} panels, fixed when it was "
                f"made; got {len(value)} widgets.  Make a new comparison with compare(...)"
            )
        return value

    def set_state(self, sync_data):
        """The front end's changes, less a change of ``children`` (a forged message:
        no view offers one), which is refused before anything changes, and every
        view is sent the panels again."""
        if "children" in sync_data:
            mine = [f"IPY_MODEL_{panel.model_id}" for panel in self._panels]
            if sync_data["children"] != mine:
                self.send_state("children")
                raise ValueError(
                    f"a comparison's children are its {len(mine)} panels, fixed when it "
                    f"was made; the front end sent {str(sync_data['children'])[:200]}"
                )
        super().set_state(sync_data)

    @property
    def direction(self) -> str:
        """How the panels are laid out: ``"row"`` (side by side where there is
        room) or ``"column"``."""
        flow = str(getattr(self.layout, "flex_flow", "") or "")
        return "column" if flow.startswith("column") else "row"

    def save_html(
        self, path: str | os.PathLike, *, all_steps: bool = True, title: str | None = None
    ) -> Path:
        """Write the comparison to ``path`` as one HTML page whose panels step
        together offline (see :func:`attn_widget.render.export.export_page`).
        Returns the path written; ``attn_widget.to_html(cmp)`` gives the page's text."""
        path = check_page_path(path)
        panels = self.panels
        export_page(
            [panel.session for panel in panels],
            path,
            presentations=[panel.presentation() for panel in panels],
            direction=self.direction,
            all_steps=all_steps,
            title=title,
        )
        return path

    @property
    def T(self) -> int:
        return self._panels[0].T

    @property
    def position(self) -> int:
        """The shared position k: every panel has read x_1 … x_k."""
        return self.t

    def step(self) -> None:
        """Every panel reads the next input."""
        if self.t >= self.T:
            raise ValueError(f"cannot step past the end: position {self.t} of T = {self.T}")
        self.goto(self.t + 1)

    def back(self) -> None:
        self.goto(max(0, self.t - 1))

    @tl.validate("t")
    def _validate_t(self, proposal):
        return check_position(proposal["value"], self.T)

    @tl.validate("knockout")
    def _validate_knockout(self, proposal):
        # Checked as the panels check it, before any of them changes.
        return list(self._panels[0].session.check_knockout(proposal["value"]))

    def goto(self, k: int) -> None:
        """Move every panel to position k (0 … T), computing what each needs.  If a
        panel cannot (its step fails), the panels go back where they were, or, if
        one can no longer show that, to the last position they all can."""
        k = check_position(k, self.T)
        before = self.t
        try:
            self._panels[0].goto(k)
        except BaseException:
            # Back where they were; a panel whose model now fails altogether falls
            # back to its last good step, and the others join it there.
            for panel in self._panels:
                if panel.t != before:
                    with contextlib.suppress(Exception):
                        panel.goto(before)
            low = min(panel.t for panel in self._panels)
            for panel in self._panels:
                if panel.t != low:
                    with contextlib.suppress(Exception):
                        panel.goto(low)
            raise

    def reset(self) -> None:
        self.pause()
        self.goto(0)

    def play(self) -> None:
        """Play from the first panel's controls; the others follow its position."""
        self._panels[0].play()

    def pause(self) -> None:
        self._panels[0].pause()

    def __repr__(self) -> str:
        names = ", ".join(p.title or p.update_rule for p in self._panels)
        return f"Compare({names}: read {self.t} of {self.T})"


def compare(
    *models,
    text: str | Sequence[str] | None = None,
    inputs: Tensor | None = None,
    tokens: Sequence[str] | None = None,
    titles: Sequence[str] | None = None,
    direction: str = "row",
    **widget_kwargs,
) -> Compare:
    """Two or more models reading the same input in lockstep, in one widget.

    Args:
        *models: ``TextRNN`` models (give ``text``; each reads it with its own
            vocabulary, and its head's prediction is shown) or
            ``SelfAttentionRNN``/``LSTMN`` models (give ``inputs`` (T, D) and
            optionally ``tokens``).
        titles: a name per panel; defaults to each model's update rule and align.
        direction: ``"row"`` (side by side where there is room) or ``"column"``.
        **widget_kwargs: passed to every :class:`AttentionWidget` (``precompute``, ``speed``).

    Returns:
        A :class:`Compare`: one position ``t``, one set of controls, one panel per model.
    """
    if len(models) < 2:
        raise ValueError(f"compare needs two or more models, got {len(models)}")
    if titles is not None and (isinstance(titles, str) or len(titles) != len(models)):
        raise ValueError(f"titles must be a list naming each of the {len(models)} models")
    if "title" in widget_kwargs:
        raise TypeError("compare names its panels with titles=[...], one per model")
    if (text is None) == (inputs is None):
        raise ValueError("give either text (for TextRNN models) or inputs (T, D), not both")
    panels = []
    for i, model in enumerate(models):
        kwargs = dict(widget_kwargs)
        if titles is not None:
            kwargs["title"] = titles[i]
        if text is not None:
            panel = AttentionWidget.from_text(model, text, **kwargs)
        else:
            panel = AttentionWidget(model, tokens=tokens, inputs=inputs, **kwargs)
        if titles is None:
            panel.title = panel.update_rule + (f" / {panel.align_name}" if panel.align_name else "")
            if panel.update_rule in ("eq1", "lstmn"):
                panel.title = {"eq1": "eq1 (no attention)", "lstmn": "LSTMN"}[panel.update_rule]
        panels.append(panel)
    return Compare(panels, direction=direction)
