"""A change of a session's data, all or nothing (docs/design.md §2, "Interrupts").

Every path that changes what a session shows (a move, a new version, an edit,
undo, new inputs or text, a knockout, a training push, following new weights) runs as one
:class:`Change`, under the session's lock.  It is made before anything changes
and keeps what the data was: the stepper, its inputs and its knockout, the tokens, the words
behind them, the unknown words, the edits and their history, the position, the
number of steps and the version.  A change within a change is part of it.

A change ends in one of two ways:

- it reaches its end: subscribers are told of the new version, and once they
  all heard of it the change is *committed*;
- anything is raised before that, an error or a ``KeyboardInterrupt`` on any
  line (Ctrl-C during ``train(widget=w)``), a subscriber's included: the data
  is put back as it was, the steps the change computed are dropped with those
  no longer valid for the data, and the position falls back to where the steps
  end.  If subscribers may hold steps that are no longer the session's (the
  version moved on, or steps were dropped), they are told of a new version
  (``complete=False``), with a number of its own if they may have seen the one
  that was undone.

Nothing is recomputed on the way back: an interrupt stops the work it
interrupted, and the next move computes what it needs.  Torch's grad mode is put
back too: an interrupt as a ``torch.no_grad()`` block ends skips its exit.  :class:`AllOrNothing`
is how a :class:`~.session.Session` runs its changes.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

import torch
from torch import Tensor

from ..core import WeightsChangedError
from .events import NewVersion

# How many times a move recomputes after weights that changed while it ran.
_ATTEMPTS = 5


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
            have seen some of it, so undoing it needs a number of its own).
        committed: True once they all heard of it: the change is done.
        reason, snapshot: what a new version of this change is told with.
    """

    def __init__(self, stepper, version: int, data: tuple):
        self.stepper, self.version, self.data = stepper, version, data
        self.x = stepper.x  # replaced, never written in place, by every change
        self.knockout = stepper.knockout  # a tuple: replaced, never written in place
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
        if stepper.knockout != self.knockout:  # step t reads slots 0 … t
            keep = min(keep, *(set(stepper.knockout) ^ set(self.knockout)))
        stepper.truncate(min(keep, stepper.frontier))  # before the inputs change
        stepper.x = self.x
        stepper.k = min(self.position, stepper.frontier, stepper.T)
        # After the truncation no kept step reads a changed slot: this drops and
        # computes nothing.
        stepper.set_knockout(self.knockout)
        return stepper

    def dropped_steps(self) -> bool:
        """Whether steps subscribers may hold are no longer the stepper's."""
        return self.stepper.frontier < self.frontier


class AllOrNothing:
    """How a :class:`~.session.Session` runs its changes (see the module docstring):
    a mixin, for the session's own fields."""

    _change: Change | None = None  # the change under way, if any

    @contextlib.contextmanager
    def _changing(self) -> Iterator[Change]:
        """Hold the lock and run a change of the data all or nothing (see the module
        docstring).  A change within a change is part of it."""
        with self.lock:
            if self._change is not None:
                yield self._change
                return
            change = Change(
                self.stepper,
                self.version,
                (self.tokens, self.words, self.unknown, self.edits, list(self._history)),
            )
            grad = torch.is_grad_enabled()
            try:
                self._change = change
                yield change
            except BaseException:
                # An interrupt that lands as a `with torch.no_grad()` block ends skips
                # its __exit__: grad would stay off for the rest of the kernel (and a
                # later train() would fail far from here).
                torch.set_grad_enabled(grad)
                self._change = None
                self._undo_change(change)
                raise
            finally:
                self._change = None

    def _undo_change(self, change: Change) -> None:
        """Put back what an unfinished change altered (see :mod:`.change`)."""
        if change.committed:
            return
        self.stepper = change.restore_stepper()
        self.tokens, self.words, self.unknown, self.edits, history = change.data
        self._history[:] = history
        if self.version != change.version or change.dropped_steps():
            if self.version == change.version or change.told:
                self.version += 1  # a number subscribers may have seen with other data
            change.commit()
            self._tell(
                NewVersion(
                    self.version, self.position, change.reason, change.snapshot, complete=False
                )
            )

    def _with_one_set_of_weights(self, run: Callable[[], object], k: int) -> None:
        """``run()`` (the stepper's goto or compute) on steps that all read the same
        weights.  A training loop on another thread changes them without this
        session's lock, even while a step runs: then every step is recomputed
        with the new ones (a new version at k), a few times at most."""
        for _ in range(_ATTEMPTS):
            try:
                if self.stale():
                    self._new_version(k, reason="reset")
                run()
                if not self.stepper.weights_changed():  # not even during the last step
                    return
            except WeightsChangedError:
                pass
        raise WeightsChangedError(
            f"the model's weights changed {_ATTEMPTS} times while this session computed "
            "its steps (is a training loop running on another thread?); try again when "
            "it pauses, or let train(widget=...) push its updates"
        )
