"""Knockout as a session's state: the slots hidden from attention.

A knockout takes chosen states h_i away from every step's attention, as
``model(x, knockout=mask)`` does (docs/design.md §1): their α is exactly 0
and the other weights renormalise.  It is state of the session, like its
inputs: a change goes through the stepper (which drops exactly the steps
t ≥ the first changed slot), keeps the position and makes a new version,
under the session's one lock, so the head's predictions follow the new steps.
Like every change of a session's data it is all or nothing (session/change.py):
if a step fails or an interrupt lands on the way, the knockout as it was comes
back, with the steps still valid for it.

It is not an edit of the inputs and is not on the what-if undo history: it
is a switch whose state is on screen at every moment (the hidden slots are
marked), toggling a slot again is its own undo, and an undo that also toggled
slots would take back something the learner did not just do.  Edits, undo
and new inputs keep it (new inputs drop the slots past their T).
"""

from __future__ import annotations

from ..core import supports_knockout
from .checks import check_knockout_slots


class Knockout:
    """The knockout part of :class:`~attn_widget.session.Session` (a mixin: it
    uses the session's ``lock``, ``stepper``, ``model``, ``T``, ``position`` and
    its all-or-nothing changes)."""

    _knockout_held_by: str | None = None  # why the knockout cannot change

    @property
    def knockout(self) -> tuple[int, ...]:
        """The slots hidden from every step's attention, sorted (slot 0 is h_0,
        ⟨start⟩; slot i is h_i, made after reading x_i)."""
        return self.stepper.knockout

    @property
    def can_knockout(self) -> bool:
        """Whether hiding a slot can change anything here: the model takes a
        knockout mask, attends to past states (not eq1), and the knockout is not
        held (see :meth:`hold_knockout`)."""
        return (
            self._knockout_held_by is None
            and supports_knockout(self.model)
            and bool(getattr(self.model, "attends", True))
        )

    @property
    def knockout_note(self) -> str:
        """What a reader must know about the knockout, or "": under a model that
        attends to no past state (eq1) hidden slots change no number.  They are
        kept all the same, as ``model(x, knockout=mask)`` accepts a mask there: a
        comparison's panels, and a loop over models, run one experiment on all."""
        if not self.knockout or getattr(self.model, "attends", True):
            return ""
        name = getattr(self.model, "update_rule", type(self.model).__name__)
        return (
            f"{name} attends to no past state: hiding slots {list(self.knockout)} "
            "changes no number (knockout acts on attention)"
        )

    def hold_knockout(self, reason: str) -> None:
        """From now on the knockout cannot change; an attempt raises
        ValueError(reason) (a comparison whose panels cannot all hide slots)."""
        self._knockout_held_by = reason

    def check_knockout(self, slots) -> tuple[int, ...]:
        """``slots`` as this session's knockout (:func:`check_knockout_slots`),
        refused with the reason when it is held or the model takes no mask.
        Changes nothing."""
        with self.lock:
            new = check_knockout_slots(slots, self.T)
            if new != self.knockout and self._knockout_held_by is not None:
                raise ValueError(self._knockout_held_by)
            if new != self.knockout and new and not supports_knockout(self.model):
                raise TypeError(
                    f"{type(self.model).__name__} does not support knockout: its step_record "
                    "takes no hidden= mask (see attn_widget.core.StepModel)"
                )
            return new

    def set_knockout(self, slots) -> None:
        """Hide the states h_i, i in ``slots`` (0 … T), from every step's attention,
        as ``model(x, knockout=mask)`` does: their α is exactly 0 and the other
        weights renormalise (docs/design.md §1).  ``()`` shows them all again.

        Step t reads slots 0 … t, so the steps from the first changed slot on are
        dropped and those the position needs are computed again; earlier steps
        stay.  The position stays; a new version follows, as after an edit, and
        the head's predictions follow the new steps.  A knockout is not an edit
        of the inputs: :meth:`undo` does not take it back (setting it again
        does), and edits, undo and new inputs keep it.  If a step fails (or an
        interrupt lands) on the way, the knockout as it was comes back.
        """
        with self._changing():  # all or nothing (session/change.py)
            new = self.check_knockout(slots)
            if new == self.knockout:
                return
            keep_k = self.position  # before following the weights, which may drop every step
            self._follow_the_weights()
            self.stepper.set_knockout(new)  # drops steps ≥ the first changed slot; recomputes to k
            self._new_version(keep_k, reason="reset")
