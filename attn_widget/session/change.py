"""A change of a session's data, all or nothing (docs/design.md §2, "Interrupts").

Every path that changes what a session shows (a move that makes a new version,
an edit, undo, new inputs or text, a training push, following new weights) runs
as one :class:`Change`.  It is made before anything changes and keeps what the
data was: the stepper and its inputs, the tokens, the words behind them, the
unknown words, the edits and their history, the position and the version.

A change ends in one of two ways:

- it reaches its end: the session *commits* it (:meth:`Change.commit`) just
  before telling subscribers of the new version; from then on the session is
  the new one, whatever a subscriber does;
- anything is raised before that, an error or a ``KeyboardInterrupt`` on any
  line (Ctrl-C during ``train(widget=w)``): :meth:`Change.undo` puts the data
  back as it was and keeps only the steps that are still valid for it, and the
  position falls back to where its steps end.  If subscribers may hold steps
  that are no longer the session's (the version moved on, or steps were
  dropped), the session tells them of a new version (``complete=False``).

Nothing is recomputed on the way back: an interrupt stops the work it
interrupted, and the next move computes what it needs.
"""

from __future__ import annotations

from torch import Tensor


def first_difference(a: Tensor, b: Tensor) -> int:
    """The first row at which inputs a and b (T, D) differ: every step before it
    read the same inputs from both.  0 when their dtype or device differ."""
    if a.dtype != b.dtype or a.device != b.device:
        return 0
    rows = min(len(a), len(b))
    differ = (a[:rows] != b[:rows]).any(dim=1).nonzero()
    return int(differ[0, 0]) if len(differ) else rows


class Change:
    """What one change of a session may have to put back (see the module docstring).

    Args:
        stepper: the session's stepper before the change.
        version: the session's version before it.
        data: the session's other data before it (tokens, words, …), kept as given
            for the session to put back; lists that the change could alter in place
            must be copies.

    Attributes:
        told: True once subscribers are being told of the new version (they may
            have seen some of it, so undoing it needs a version of its own).
        committed: True once they all heard of it: the change is done.
        reason, snapshot: what a new version of this change is told with.
    """

    def __init__(self, stepper, version: int, data: tuple):
        self.stepper, self.version, self.data = stepper, version, data
        self.x = stepper.x  # replaced, never written in place, by every change
        self.frontier = stepper.frontier
        self.position = stepper.k
        self.told = self.committed = False
        self.reason, self.snapshot = "reset", True

    def commit(self) -> None:
        self.committed = True

    def restore_stepper(self):
        """The stepper as it was, over the inputs as they were, with the steps it had
        that are still valid for them (none that the change computed), standing
        where they end (at most where it stood)."""
        stepper = self.stepper
        keep = self.frontier
        if stepper.x is not self.x:
            keep = min(keep, first_difference(stepper.x, self.x))
        stepper.truncate(min(keep, stepper.frontier))  # before the inputs change
        stepper.x = self.x
        stepper.k = min(self.position, stepper.frontier, stepper.T)
        return stepper

    def dropped_steps(self) -> bool:
        """Whether steps subscribers may hold are no longer the stepper's."""
        return self.stepper.frontier < self.frontier
