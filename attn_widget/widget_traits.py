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
