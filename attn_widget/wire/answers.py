"""The answers to the front end: its custom messages, and its writes to traits.

Front end → kernel messages (``protocol.FRONT_END_MESSAGES``) are answered by
:meth:`Answers.answer`; a malformed or refused one gets an ``{"type":
"error"}`` reply and a status line, never an exception in the kernel
(docs/design.md §4).  A state update from the front end is screened by
:func:`screen_state` before it is applied: only ``FRONT_END_TRAITS`` may be
written, each with a value of its kind; a position or a speed out of range is
clamped, and the front end hears back the value kept.

A message runs with the session's lock held, and while it runs the saved
snapshot is left alone: a click never rewrites the saved state.
"""

from __future__ import annotations

import torch

from ..protocol import (
    FRONT_END_MESSAGES,
    FRONT_END_TRAITS,
    MAX_SPEED,
    MAX_TEXT_CHARS,
    MIN_SPEED,
    SHADINGS,
)
from ..session import Session
from .ahead import ComputeAhead
from .host import Host
from .outbox import Outbox
from .snapshot import Snapshots

# What each trait the front end may write must hold.
#: The longest error text sent back to the front end (and shown in ``status``).
ERROR_CHARS = 500
_KINDS = {"t": int, "speed": (int, float), "playing": bool, "shading": str}
_EXPECTED = {"t": "an int", "speed": "a number (not NaN)", "playing": "a bool", "shading": "a str"}


def screen_state(host: Host, sync_data) -> tuple[dict, list[str], list[str]]:
    """What of a state update from the front end may be applied.

    Returns the update to apply (with a position or speed out of range clamped),
    the problems to report, and the traits whose value the front end must hear
    back (refused, or clamped).  Nothing here raises.
    """
    if not isinstance(sync_data, dict):  # ipywidgets hands on whatever "state" the page sent
        got = type(sync_data).__name__
        return {}, [f"a state update must be a JSON object of trait values, got {got}; ignored"], []
    update = dict(sync_data)
    problems: list[str] = []
    resend: list[str] = []
    unknown = sorted(key for key in update if key not in host.keys)  # synced traits
    if unknown:
        problems.append(f"{unknown} are not traits of this widget; ignored")
        for key in unknown:
            del update[key]
    kernel_owned = sorted(set(update) - set(FRONT_END_TRAITS))
    if kernel_owned:  # T, frontier, version, tokens, … describe the kernel's data
        problems.append(f"{kernel_owned} are set by the kernel only; ignored")
        for key in kernel_owned:
            del update[key]
        resend += kernel_owned  # put the front end back on the kernel's values
    for key, kind in _KINDS.items():
        if key not in update:
            continue
        value = update[key]
        ok = isinstance(value, kind) and (kind is bool or not isinstance(value, bool))
        if ok and key == "speed" and value != value:
            ok = False  # NaN: refused like a wrong type
        if not ok:
            problems.append(f"{key} must be {_EXPECTED[key]}, got {value!r}; ignored")
            del update[key]
            resend.append(key)
        elif key == "t" and not 0 <= value <= host.T:
            problems.append(f"t = {value} is outside 0 … T = {host.T}; clamped")
            update[key] = min(max(value, 0), host.T)
            resend.append(key)
        elif key == "speed" and not MIN_SPEED <= value <= MAX_SPEED:
            problems.append(f"speed = {value} is outside {MIN_SPEED} … {MAX_SPEED}")
            update[key] = min(max(value, MIN_SPEED), MAX_SPEED)
            resend.append(key)
        elif key == "shading" and value not in SHADINGS:
            problems.append(f"shading must be one of {SHADINGS}, got {value!r}; ignored")
            del update[key]
            resend.append(key)
    return update, problems, resend


class Answers:
    """Answers one widget's custom messages from the front end."""

    def __init__(
        self,
        session: Session,
        host: Host,
        outbox: Outbox,
        ahead: ComputeAhead,
        snapshots: Snapshots,
    ):
        self.session, self.host = session, host
        self.outbox, self.ahead, self.snapshots = outbox, ahead, snapshots
        self._answers = {
            "sync": self._sync,
            "sensitivity": self._sensitivity,
            "ping": lambda _content: self.host.send({"type": "pong"}),
            "edit": self._edit,
            "undo": self._undo,
            "text": self._text,
            "knockout": self._knockout,
        }
        assert set(self._answers) == set(FRONT_END_MESSAGES)

    def answer(self, content, buffers) -> None:
        """A custom message from the front end: an error reply, never an exception."""
        request = content.get("type") if isinstance(content, dict) else None
        if not isinstance(request, str):
            request = None
        if request == "ping":
            # The heartbeat asks only whether the kernel is there: it reads no data, so
            # it does not wait for the session lock (a thread that holds it, training
            # with the widget, must not make the front end think the kernel silent).
            self._answers["ping"](content)
            return
        with self.session.lock:
            try:
                if not isinstance(content, dict):
                    raise ValueError(
                        f"a message must be a JSON object, got {type(content).__name__}"
                    )
                if request not in self._answers:
                    raise ValueError(
                        f"unknown message type {request!r}; expected one of {FRONT_END_MESSAGES}"
                    )
                with self.snapshots.paused():
                    self._answers[request](content)
            except Exception as error:
                self.reply_error(str(error), request)

    def reply_error(self, message: str, request: str | None = None) -> None:
        if len(message) > ERROR_CHARS:  # a forged message must not echo back megabytes
            message = message[: ERROR_CHARS - 1] + "…"
        self.host.status = f"error: {message}"
        self.host.send({"type": "error", "message": message, "request": request})

    def _sync(self, content: dict) -> None:
        """The front end holds steps 0 … have-1 of ``version``: send what it lacks
        up to position ``k`` (the front end's; by default the kernel's ``t``)."""
        version, have = content.get("version", -1), content.get("have", 0)
        k = content.get("k", self.host.t)
        for name, value in (("version", version), ("have", have), ("k", k)):
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError(f"sync.{name} must be an int, got {value!r}")
        if not 0 <= k <= self.host.T:
            raise ValueError(f"sync.k must be a position 0 … T = {self.host.T}, got {k}")
        if "k" in content:
            # A refill, up to the front end's position, not t: while it scrubs, its
            # writes of t wait behind the answers (ipywidgets holds them while the
            # kernel is busy), and answers up to a stale t sent thousands of steps
            # it then dropped.  Nothing is computed ahead of that stale t either.
            self.outbox.refill(version, have, k)
            return
        self.outbox.front_end_has(version, have)
        self.outbox.push(k, reason="sync", always=True)
        self.ahead.queue()

    def _sensitivity(self, content: dict) -> None:
        """‖∂h_k/∂x_i‖ for i = 1 … k, as float32 bytes (the gradient shading)."""
        version, k = content.get("version"), content.get("k")
        for name, value in (("version", version), ("k", k)):
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError(f"sensitivity.{name} must be an int, got {value!r}")
        if version != self.session.version:
            return  # asked about data that has since changed: the front end asks again
        try:
            values = self.session.sensitivity(k)
        except ValueError as error:  # past the core's bounds (CHUNK_BYTES, MAX_SECONDS)
            raise ValueError(
                f"gradient shading at position {k}: {error}; shading by α works at every position"
            ) from error
        values = values.detach().to("cpu", torch.float32).contiguous()
        reply = {"type": "sensitivity", "version": version, "k": k}
        if k == 0:
            self.host.send({**reply, "values": None})
            return
        array = {"buffer": 0, "dtype": "float32", "shape": [k], "offset": 0}
        self.host.send({**reply, "values": array}, buffers=[values.numpy().tobytes()])

    def _refuse_view_edits(self, content: dict) -> None:
        if not self.host.editable:
            raise ValueError("this widget's inputs cannot be edited from the view")
        version = content.get("version")
        if isinstance(version, bool) or not isinstance(version, int):
            raise ValueError(f"{content.get('type')}.version must be an int, got {version!r}")
        if version != self.session.version:
            raise ValueError("the inputs changed before this edit arrived; it was not applied")

    def _edit(self, content: dict) -> None:
        """A what-if from the view: x_i becomes a vocabulary word, or zero."""
        self._refuse_view_edits(content)
        if "token" not in content:  # null is the zero vector: a missing token is not
            raise ValueError("edit.token is missing: give a word of the vocabulary, or null")
        i, token = content.get("i"), content["token"]
        if token is None:
            self.session.zero_input(i)
        elif isinstance(token, str):
            self.session.replace(i, token)
        else:
            raise ValueError(f"edit.token must be a word of the vocabulary or null, got {token!r}")

    def _undo(self, content: dict) -> None:
        self._refuse_view_edits(content)
        if not self.session.undo():
            raise ValueError("there is no edit to undo")

    def _text(self, content: dict) -> None:
        """The view's text box: read this sentence instead."""
        if not (self.host.editable and self.host.accepts_text):
            raise ValueError("this widget does not read typed text")
        text = content.get("text")
        if not isinstance(text, str):
            raise ValueError(f"text.text must be a str, got {type(text).__name__}")
        if len(text) > MAX_TEXT_CHARS:
            raise ValueError(
                f"the sentence is {len(text)} characters long; at most {MAX_TEXT_CHARS} are read"
            )
        self.session.read_text(text)

    def _knockout(self, content: dict) -> None:
        """The view hides slots from attention (or shows them again): ``slots`` is
        the whole new knockout, for the version the view shows.  A request made
        for other data is refused, never applied to the data there is now.  What
        the trait refuses from Python (a model without a mask, a held knockout) it
        refuses here, and what it accepts (slots under eq1, which change nothing
        and are said so in ``status``) it accepts: one check, the session's."""
        version = content.get("version")
        if isinstance(version, bool) or not isinstance(version, int):
            raise ValueError(f"knockout.version must be an int, got {version!r}")
        if version != self.session.version:
            raise ValueError("the data changed before this knockout arrived; it was not applied")
        slots = content.get("slots")
        if not isinstance(slots, list):
            raise ValueError(f"knockout.slots must be a list of slot indices, got {slots!r}")
        self.host.knockout = slots  # the trait checks them (ints in 0 … T) and applies them
