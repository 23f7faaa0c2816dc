"""The widget's traits that check or act before traitlets stores a value: the
position ``t`` and the ``knockout`` move the session in ``validate``, and
``speed`` is checked before traitlets' Float turns True into 1.0, ``shading``
against the shadings the view knows."""

from __future__ import annotations

import traitlets as tl

from .core.checks import knockout_slots
from .protocol import MAX_SPEED, MIN_SPEED, SHADINGS


class PositionTrait(tl.Int):
    """The trait ``t``: a value becomes the widget's only once its session stands
    there.  The move runs in ``validate``, which traitlets calls before it stores a
    value (also inside ``hold_trait_notifications``, where cross-validation waits),
    so whatever is raised on the way, a failing step or a KeyboardInterrupt, the
    trait and the stepper never disagree (docs/design.md §2, "Interrupts")."""

    def validate(self, obj, value):
        # obj is the AttentionWidget: the trait and its widget are one thing
        return obj._move(super().validate(obj, value))  # noqa: SLF001


class KnockoutTrait(tl.List):
    """The trait ``knockout``: as ``t``, a value becomes the widget's only once its
    session holds it, so a failing step or a KeyboardInterrupt never leaves the
    trait and the session's knockout apart."""

    def validate(self, obj, value):
        # None and a 1-D bool mask mean what they mean to the stepper (nothing
        # hidden; True hides slot i), and a bad value gets the stepper's clear error
        if not isinstance(value, list):
            value = list(knockout_slots(value))
        return obj._hide(super().validate(obj, value))  # noqa: SLF001


def check_speed(speed) -> float:
    """Play's speed: a number of steps per second (not a bool, not NaN) in
    MIN_SPEED … MAX_SPEED."""
    if isinstance(speed, bool) or not isinstance(speed, (int, float)) or speed != speed:
        raise TypeError(f"speed must be a number of steps per second, got {speed!r}")
    if not MIN_SPEED <= speed <= MAX_SPEED:
        raise ValueError(
            f"speed must be in {MIN_SPEED} … {MAX_SPEED} steps per second, got {speed}"
        )
    return float(speed)


class SpeedTrait(tl.Float):
    """The trait ``speed``, checked before traitlets' Float turns True into 1.0."""

    def validate(self, obj, value):
        return super().validate(obj, check_speed(value))


class ShadingTrait(tl.Unicode):
    """The trait ``shading``: one of ``SHADINGS`` ("alpha", "gradient")."""

    def validate(self, obj, value):
        value = super().validate(obj, value)
        if value not in SHADINGS:
            raise tl.TraitError(f"shading must be one of {SHADINGS}, got {value!r}")
        return value


# The traits that tell the view what the session holds (its data) and what the
# model is: the widget writes them from its session, a user never does (a page's
# writes are refused by screen_state).  ``w.tokens = [...]`` relabelled the view while
# the model still read the old words, and ``w.T = 10**9`` was kept (re-probe of
# hostile pass 2).
FOLLOW_SESSION = ("T", "tokens", "version", "frontier", "unknown", "edits")
DESCRIBE_MODEL = (
    "update_rule", "align_name", "z_layout", "hidden_size", "input_size", "zero_slot",
    "prediction_labels", "vocabulary", "accepts_text",
)  # fmt: skip


def _held_by_session(session, name: str):
    value = getattr(session, name)
    return [list(v) for v in value] if name in ("unknown", "edits") else (
        list(value) if name == "tokens" else value
    )  # fmt: skip


def refuse_foreign_value(obj, name: str, value):
    """``value`` for the trait ``name`` once the widget is built: what its session holds
    (or, for the model's description, what it was built with), else a TraitError
    saying how to change it."""
    if not obj._built:  # noqa: SLF001 - __init__ sets them from session.describe()
        return value
    if name in FOLLOW_SESSION:
        with obj.session.lock:  # the widget writes them under it, from the session
            if value == _held_by_session(obj.session, name):
                return value
            held = _held_by_session(obj.session, name)
    elif value == getattr(obj, name):
        return value
    else:
        held = getattr(obj, name)
    shown = repr(held) if len(repr(held)) < 80 else f"{repr(held)[:80]}…"
    raise tl.TraitError(
        f"{name} describes what the widget's session holds ({shown}) and is set by the "
        "widget: change the data with read_text, set_inputs, edit, replace or undo, and "
        "the model by making a new widget"
    )


def kernel_owned(obj, name: str, value):
    """The check of a trait the widget owns: the title is text bounded as a token
    is; the others are :func:`refuse_foreign_value`'s."""
    if name == "title":
        from .session import check_token

        return check_token(value, "title")
    return refuse_foreign_value(obj, name, value)
