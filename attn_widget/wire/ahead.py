"""Computing ahead of the position, so a forward click finds its step in the browser.

After each answered move the kernel computes up to :data:`AHEAD_STEPS` steps
past the position, for at most :data:`AHEAD_SECONDS`, and pushes them through
the outbox like any other steps (reason "ahead").  It runs on the loop the
kernel runs cells on, once the current message is answered, and only there:
outside a kernel, or with no live loop, nothing is computed ahead.
"""

from __future__ import annotations

import asyncio
import time

from ..kernel import loop_is_live
from ..session import Session
from .host import Host
from .outbox import Outbox

#: After each move the kernel computes up to this many steps past the position,
#: within AHEAD_SECONDS, and pushes them, so a forward click or Play finds its step
#: already in the browser (only inside a kernel, between cells).
AHEAD_STEPS = 8
AHEAD_SECONDS = 0.03


class ComputeAhead:
    """Queues and runs the computing ahead of one widget's position."""

    def __init__(
        self, session: Session, host: Host, outbox: Outbox, loop: asyncio.AbstractEventLoop | None
    ):
        self.session, self.host, self.outbox, self.loop = session, host, outbox, loop
        self._queued = False

    def queue(self) -> None:
        """Compute ahead of the position once the current message is answered."""
        if self._queued or not loop_is_live(self.loop):
            return
        self._queued = True
        try:
            self.loop.call_soon_threadsafe(self.run)
        except BaseException:
            self._queued = False  # or nothing would be computed ahead again
            raise

    def run(self) -> None:
        """Compute up to AHEAD_STEPS steps past the position (for at most
        AHEAD_SECONDS) and push them; a step that fails is left for the move that
        needs it to report.  Stale weights wait for that move too: it recomputes."""
        s = self.session
        with s.lock:
            self._queued = False
            if self.host.comm is None or s.stale():
                return
            stepper = s.stepper
            goal = min(stepper.T, s.position + AHEAD_STEPS)
            deadline = time.perf_counter() + AHEAD_SECONDS
            try:
                while stepper.frontier < goal and time.perf_counter() < deadline:
                    stepper.compute(stepper.frontier + 1)
            except Exception:
                pass
            # The steps computed ahead count as needed; what lies beyond them goes
            # only as far as the outbox's bound allows.
            self.outbox.push(min(stepper.frontier, goal), reason="ahead")
