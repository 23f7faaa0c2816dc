"""What the front end was sent, and the one rule for what a message may carry.

Every "steps" message goes out through :meth:`Outbox.push`, whichever path
asks for it: a move, an answer to ``sync``, computing ahead, a new version
(an edit, new inputs, a training push, a precomputed widget).  The rule
(docs/design.md §2, "One bound on step data"):

- each step of the current version goes out once, from step 0 on; the
  outbox counts what the front end holds (:attr:`Outbox.sent`);
- a push for position k sends every step before k that the front end lacks:
  the position needs them;
- a message holds at most ``STEP_DATA_LIMIT`` bytes of steps (a step larger
  than that by itself goes alone), so steps a position needs that take more
  go out in several messages;
- after those, computed steps beyond k are added while the last message has
  room, so the next clicks need no round trip; never a message of its own.

The saved-state snapshot holds the longest run of steps from step 0 that fits
in the same bound (:func:`saved_count`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence

from ..protocol import STEP_DATA_LIMIT, encode_steps, step_bytes, steps_within
from ..session import Session
from .host import Host


def message_spans(
    steps: Sequence, need: int, limit: int, size: Callable = step_bytes
) -> list[tuple[int, int]]:
    """How steps (the unsent computed ones, in order) go out: ``(start, end)``
    spans, one per message.  The first ``need`` always go; a message holds at
    most ``limit`` bytes (``size`` of each step), a lone larger step excepted;
    steps past the needed ones are added only while the last message has room."""
    spans: list[tuple[int, int]] = []
    start = end = total = 0
    for j, step in enumerate(steps):
        cost = size(step)
        if total + cost > limit:
            if j >= need:
                break
            if j > start:  # the message is full: the needed steps go on in the next
                spans.append((start, j))
                start, total = j, 0
        total += cost
        end = j + 1
    if end > start:
        spans.append((start, end))
    return spans


def nearest_first_spans(
    steps: Sequence, need: int, limit: int, size: Callable = step_bytes
) -> list[tuple[int, int]]:
    """The spans of :func:`message_spans` for a front end stepping back (a refill),
    in the order they are sent: the needed steps cut into messages from the last
    one back, so that the first message holds the steps nearest the position,
    as many as fit; steps past the needed ones are added to that first message
    while it has room.  With nothing needed, the spans of :func:`message_spans`."""
    if need <= 0:
        return message_spans(steps, need, limit, size)
    need = min(need, len(steps))
    spans: list[tuple[int, int]] = []
    end, total = need, 0
    for j in range(need - 1, -1, -1):
        cost = size(steps[j])
        if total + cost > limit and j + 1 < end:  # full: the earlier steps go in the next
            spans.append((j + 1, end))
            end, total = j + 1, 0
        total += cost
    spans.append((0, end))
    # what fits beyond the needed steps rides in the first message
    first_start, first_end = spans[0]
    room = limit - sum(size(steps[j]) for j in range(first_start, first_end))
    while first_end < len(steps) and size(steps[first_end]) <= room:
        room -= size(steps[first_end])
        first_end += 1
    spans[0] = (first_start, first_end)
    return spans


def saved_count(steps: Sequence) -> int:
    """How many of ``steps``, from the first, a saved snapshot holds."""
    return steps_within(steps, STEP_DATA_LIMIT)


class Outbox:
    """The steps of the current version the front end was sent, and the sending."""

    def __init__(self, session: Session, host: Host):
        self.session, self.host = session, host
        self.sent = 0  # steps of `version` the front end holds, from step 0
        self.version = session.version
        self._held = False

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        """Send nothing meanwhile: a new version's traits are being set, and its
        own message follows them.  A flag, not a count: each hold starts afresh, so
        one that an interrupt kept from ending is ended by the next
        (docs/design.md §2, "Interrupts")."""
        self._held = True
        try:
            yield
        finally:
            self._held = False

    def restart(self) -> None:
        """A new version: the front end holds none of its steps."""
        self.sent, self.version = 0, self.session.version

    def front_end_has(self, version: int, have: int) -> None:
        """The front end says it holds steps 0 … have-1 of ``version`` (a sync)."""
        start = have if version == self.session.version else 0
        self.sent = min(max(start, 0), self.session.frontier)
        self.version = self.session.version

    def refill(self, version: int, have: int, k: int) -> None:
        """The front end dropped steps have … k-1 to stay within its memory budget
        and asks for them again (a sync with k): send them, and what fits beyond,
        but go on counting as sent what it was sent past them, or the next push
        for the kernel's t would send those again (while the front end scrubs
        back, that t lags far behind it)."""
        held = self.sent if version == self.session.version and not self.is_behind() else 0
        self.front_end_has(version, have)
        # Nearest first: the front end is stepping back towards ``have``, so when
        # the steps take several messages, the one that ends at k goes first
        # (scrubbing back four positions a frame ran past the near steps while the
        # far ones were on the wire).
        self.push(k, reason="sync", always=True, nearest_first=True)
        self.sent = max(self.sent, min(held, self.session.frontier))

    def is_behind(self) -> bool:
        """Whether the session has a version whose steps were never counted here (a
        new version whose own message did not go out: something was raised first)."""
        return self.version != self.session.version

    def push(
        self, k: int, *, reason: str, always: bool = False, nearest_first: bool = False
    ) -> None:
        """Send what position k needs that the front end was not sent, and what
        fits beyond it (see the module docstring).  ``always`` sends a message
        even when it holds no step (a new version); ``nearest_first`` sends the
        messages from the one that ends nearest k back (a refill)."""
        if self._held:
            return
        s = self.session
        with s.lock:
            if self.is_behind():
                self.restart()  # counts of an older version mean nothing now
            self.host.frontier = s.frontier
            lo = min(self.sent, s.frontier)
            if k <= lo and not always:
                return
            unsent = s.predicted(s.steps[lo:])
            cut = nearest_first_spans if nearest_first else message_spans
            spans = cut(unsent, k - lo, STEP_DATA_LIMIT) or [(0, 0)]
            for start, end in spans:
                if end > start or always:
                    self._send(unsent[start:end], reason)
            self.sent = max(self.sent, lo + max(end for _, end in spans))

    def _send(self, steps: Sequence, reason: str) -> None:
        s = self.session
        descriptors, data = encode_steps(steps)
        self.host.send(
            {
                "type": "steps",
                "version": s.version,
                "frontier": s.frontier,
                "T": s.T,
                "reason": reason,
                "steps": descriptors,
            },
            buffers=[data],
        )
