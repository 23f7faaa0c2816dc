"""What a session tells its subscribers: a new version of its data, a move to
another position, or a problem that does not stop it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class NewVersion:
    """What a subscriber hears when a session has a new version of its data.

    Attributes:
        version: the new data version.
        position: the position k the session stands at now.
        reason: ``"reset"`` (new inputs, an edit, new weights) or ``"trace"``
            (a training loop's push).
        snapshot: whether a saved copy of the steps should follow (False for a
            training push, which happens many times a cell).
        complete: False when a step failed: the position fell back to the last
            step that ran, and the error is being raised.
    """

    version: int
    position: int
    reason: str
    snapshot: bool = True
    complete: bool = True


@dataclass(frozen=True)
class Moved:
    """What a subscriber hears when a session moved to another position with the
    same data (``goto``, whoever asked): every widget showing the session stands
    where it stands.

    Attributes:
        position: the position k the session stands at now.
        frontier: how many steps are computed.
    """

    position: int
    frontier: int


@dataclass(frozen=True)
class Problem:
    """Something went wrong that does not stop the session (the head could not
    predict, say): a subscriber may show ``message``."""

    message: str


Listener = Callable[[NewVersion | Moved | Problem], None]
