"""What the wire needs of the widget it speaks for: a few synced traits and the
comm's ``send``.  A typing.Protocol, so the wire imports no widget (and no
Jupyter); ``AttentionWidget`` satisfies it."""

from __future__ import annotations

from typing import Any, Protocol


class Host(Protocol):
    """The widget side of the wire: the traits the front end reads, and the comm."""

    t: int  # the position k, written by both sides
    T: int
    frontier: int  # steps computed, as the front end is told
    status: str  # the status line ("error: …" after a refused request)
    playing: bool
    editable: bool
    accepts_text: bool
    knockout: list  # the hidden slots; setting it validates and makes a new version
    can_knockout: bool
    comm: Any  # None once the widget is closed

    @property
    def keys(self) -> list[str]: ...  # the synced traits

    def send(self, content: dict, buffers: list | None = None) -> None: ...

    def send_state(self, key: str | list[str] | None = None) -> None: ...
