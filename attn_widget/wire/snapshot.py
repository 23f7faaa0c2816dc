"""The saved-state snapshot: when it is rebuilt, and what it holds.

The binary trait ``_snapshot`` ("ATW1", see :func:`~attn_widget.protocol.pack_snapshot`)
holds computed steps, so a saved notebook draws without a kernel:

- it holds the steps from step 0 on that fit in ``STEP_DATA_LIMIT`` bytes
  (:func:`~attn_widget.wire.outbox.saved_count`), with the head's top k, and
  says how many were computed, so a reader is told where the saved ones end;
- a new version rebuilds it, except while a message from the front end is
  answered (a click never rewrites the saved state, docs/design.md §2) and for a
  training push;
- after each notebook cell that computed steps it lacks, the widget saves every
  step computed (``kernel.refresh_after_each_cell``);
- ``precompute``: at each rebuild, the steps it can hold are computed and
  saved: from step 0 on, while they fit in ``STEP_DATA_LIMIT`` (every step of
  a sentence of a few hundred tokens).  The rest wait for a move, as without
  precompute, so a precomputed widget over a long text answers at once
  instead of computing T² numbers nobody asked for.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence

from ..protocol import STEP_DATA_LIMIT, pack_snapshot, step_bytes
from ..session import Session
from .host import Host
from .outbox import saved_count


class Snapshots:
    """One widget's snapshot policy; ``write`` stores the packed bytes in its trait."""

    def __init__(
        self, session: Session, host: Host, write: Callable[[bytes], None], *, precompute: bool
    ):
        self.session, self.host, self.write = session, host, write
        self.precompute = precompute
        self._holds: tuple[int, int] | None = None  # (version, steps computed) it was made of
        self._paused = False

    @contextlib.contextmanager
    def paused(self) -> Iterator[None]:
        """No rebuild meanwhile: a message from the front end is being answered."""
        self._paused = True  # a flag: the next pause starts afresh (see Outbox.held)
        try:
            yield
        finally:
            self._paused = False

    def new_version(self) -> None:
        """A new version in a cell: the saved state follows it."""
        if not self._paused:
            self.rebuild()

    def rebuild(self) -> None:
        """Empty, or with ``precompute`` the steps it can hold, computed now."""
        s = self.session
        with s.lock:
            if self.precompute:
                self.compute_what_fits()
                self.host.frontier = s.frontier
            self.save(s.steps if self.precompute else [])

    def compute_what_fits(self) -> None:
        """Compute the steps from step 0 on while they fit in STEP_DATA_LIMIT (one
        more, at most: the one that does not fit).  A step that fails is left for
        the move that needs it to report."""
        s = self.session
        steps = s.stepper.steps  # read under the lock, not copied: it grows as we go
        total = sum(step_bytes(step) for step in steps)
        try:
            while s.frontier < s.T and total <= STEP_DATA_LIMIT:
                s.compute(s.frontier + 1)
                total += step_bytes(s.stepper.steps[-1])
        except Exception:
            pass

    def save_all(self) -> None:
        """Every step computed so far, within the bound."""
        with self.session.lock:
            self.save(self.session.steps)

    def save(self, steps: Sequence) -> None:
        s = self.session
        shown = s.predicted(steps)
        kept = saved_count(shown)
        self.write(pack_snapshot(s.version, shown[:kept], computed=len(steps)))
        self._holds = (s.version, len(steps))

    def behind(self) -> bool:
        """Whether steps were computed (or a version made) that it lacks."""
        s = self.session
        return self._holds != (s.version, len(s.steps))
