"""AttentionWidget: step a model with attention over its past through a sentence,
live in JupyterLab.

The widget is the traits the front end syncs and a thin public API.  What it
shows is a :class:`~attn_widget.session.Session` (``w.session``: the stepper,
the tokens, the version, the one lock, the head, the what-if history); the
conversation with the front end is :mod:`attn_widget.wire` (what was sent,
computing ahead, the saved snapshot, the answers to its messages); figures and
the HTML export are :mod:`attn_widget.render`'s, drawn from the session.

Position ``t`` (the k of docs/design.md §1, 0 … T) is one synced trait that both sides
write.  A move past the computed ``frontier`` runs the stepper here and sends
only the new steps, each once, as float32 bytes; moves back, or forward to
steps already sent, are served by the front end's store without the kernel.
The messages and their encoding are in :mod:`attn_widget.protocol`; where
messages run, and when the saved state is refreshed, in :mod:`attn_widget.kernel`.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Sequence
from pathlib import Path

import anywidget
import traitlets as tl
from torch import Tensor, nn

from . import widget_traits as traits
from .kernel import (
    cell_loop,
    defer_to_loop,
    made_by_this_cell,
    refresh_after_each_cell,
    refuse_pickling,
    serialised,
)
from .protocol import FRONT_END_TRAITS, MAX_SPEED, MIN_SPEED, SHADINGS
from .render.bundle import STATIC, read_static
from .render.export import Presentation, check_page_path, export_page
from .session import Moved, NewVersion, Problem, Session, check_position, check_token
from .wire import Answers, ComputeAhead, Outbox, Snapshots, screen_state

__all__ = ["STATIC", "AttentionWidget"]


def _bundle() -> tuple[str, str]:
    """The widget's JS and CSS, read from ``attn_widget/static/``."""
    js, css = read_static(("widget.js", "widget.css"), "the attn_widget front end")
    return js, css


class AttentionWidget(anywidget.AnyWidget):
    """Step a :class:`SelfAttentionRNN` or an :class:`~attn_widget.core.LSTMN` through a
    sequence and watch h, c (for the LSTMN: h̃, m̃, the gates and m) and α change.

    Args:
        model: the :class:`SelfAttentionRNN` or :class:`~attn_widget.core.LSTMN` (for
            a ``TextRNN`` use :meth:`from_text`).  An LSTMN shows as ``update_rule =
            "lstmn"``, with its own equations and the paper's departures marked.
        tokens: the text of each input, T strings; shown as text, never as HTML.
            Defaults to ``["x1", …, "xT"]``.
        inputs: x_1 … x_T, shape (T, D), a float tensor matching the model.
        session: a :class:`~attn_widget.session.Session` to show, instead of
            ``model``, ``tokens``, ``inputs`` and the head's arguments.
        precompute: run now, and after each new version, the steps the saved
            state can hold and store them there (a reader without a kernel can
            step through them): every step of a sentence of a few hundred tokens,
            the first ``STEP_DATA_LIMIT`` bytes of them on a longer one, whose
            later steps run on demand; by default every step runs on demand.
        speed: play speed in steps per second.
        head: an output head, h (…, H) → logits (…, C) (``from_text`` passes a
            ``TextRNN``'s): each step then shows softmax(head(h))'s top ``top_k``
            classes, named by ``labels`` (C strings, shown as text).
        title: a name shown above the view (the panels of :func:`compare` use it).
        knockout: slots to hide from attention from the start (see ``knockout``
            below).

    Traits synced with the front end: ``t`` (the position k, 0 … T, written by
    both sides), ``T``, ``tokens``, ``update_rule``, ``align_name``,
    ``z_layout``, ``hidden_size``, ``input_size``, ``zero_slot`` (whether
    attention reads slot 0, h_0), ``frontier`` (steps
    computed), ``version`` (bumped when inputs or weights change),
    ``playing``, ``speed``, ``shading`` ("alpha": tokens shaded by the weights
    α_{k-1,i}; "gradient": by ‖∂h_k/∂x_i‖, see :meth:`sensitivity`), ``status``
    and ``_snapshot`` (binary, for saved state).

    **Knockout.** ``knockout`` is the list of slots hidden from attention
    (slot 0 is ⟨start⟩, h_0; slot i is h_i, made after reading x_i; each in
    0 … T): no step may attend to them, so their α is exactly 0 and the other
    weights renormalise (docs/design.md §1), and the prediction shows what the
    model does without them.  Set it from Python (``w.knockout = [3]``;
    ``w.knockout = []`` or ``None`` shows all again; a 1-D bool mask, True at the
    slots to hide, works too; a bad value raises and leaves it as it
    was), or in the view: a click on a token's slot in knockout mode, or K on
    the focused token (``can_knockout`` says whether the view offers it).  It
    drops the steps from the first changed slot on and makes a new version,
    keeping the position; ``w.observe(f, names="knockout")`` hears it.  It is
    not an edit: :meth:`undo` leaves it alone.  Under eq1, which attends to no
    past state, slots set from Python or by a message are kept (so a
    comparison's panels run one experiment) and change no number; ``status``
    says so, and the view does not offer knockout (``can_knockout`` is False).

    Example::

        >>> model = SelfAttentionRNN(4, 8)
        >>> w = AttentionWidget(model, tokens=["a", "b", "c"], inputs=torch.randn(3, 4))
        >>> w.step(); w.t
        1
    """

    t = traits.PositionTrait(0).tag(sync=True)
    T = tl.Int(0).tag(sync=True)
    tokens = tl.List(tl.Unicode()).tag(sync=True)
    update_rule = tl.Unicode("eq4").tag(sync=True)
    align_name = tl.Unicode("").tag(sync=True)
    z_layout = tl.List().tag(sync=True)
    hidden_size = tl.Int(0).tag(sync=True)
    input_size = tl.Int(0).tag(sync=True)
    # Whether attention may read slot 0 (h_0 = 0): the equations' sums start at
    # i = 0, or at i = 1 for an LSTMN(zero_slot=False), the paper's cell.
    zero_slot = tl.Bool(True).tag(sync=True)
    frontier = tl.Int(0).tag(sync=True)
    version = tl.Int(0).tag(sync=True)
    playing = tl.Bool(False).tag(sync=True)
    speed = traits.SpeedTrait(4.0).tag(sync=True)
    shading = traits.ShadingTrait("alpha").tag(sync=True)
    status = tl.Unicode("").tag(sync=True)
    _snapshot = tl.Bytes(b"").tag(sync=True)
    # Names this widget for the front end: one controller per widget, for all views.
    _widget_id = tl.Unicode("").tag(sync=True)
    # The head's class names (empty without a head); each step carries pred_p, pred_i.
    prediction_labels = tl.List(tl.Unicode()).tag(sync=True)
    # A name shown above the view (a panel of a comparison: "eq1", "eq4 / dot").
    title = tl.Unicode("").tag(sync=True)
    # False in a comparison's other panels: one set of controls drives them all.
    show_controls = tl.Bool(True).tag(sync=True)
    # What-if editing (docs/design.md §2): the words a token may become (a text
    # model's vocabulary; empty for vectors, which can only be zeroed), whether the
    # view may edit (not a comparison's panels), whether it offers a text box, the
    # inputs read as <unk> ([i, word]) and the edits undo takes back ([i, old, new]).
    vocabulary = tl.List(tl.Unicode()).tag(sync=True)
    editable = tl.Bool(True).tag(sync=True)
    accepts_text = tl.Bool(False).tag(sync=True)
    unknown = tl.List().tag(sync=True)
    edits = tl.List().tag(sync=True)
    # Knockout (see the class docstring): the hidden slots, sorted, set from
    # Python or by the "knockout" message; whether the view offers to hide slots.
    knockout = traits.KnockoutTrait().tag(sync=True)
    can_knockout = tl.Bool(False).tag(sync=True)

    MIN_SPEED, MAX_SPEED = MIN_SPEED, MAX_SPEED
    _built = False  # until __init__ ends: t then follows the session
    _moving = False  # while this widget moves the session: it hears its own Moved
    FRONT_END_TRAITS = FRONT_END_TRAITS
    SHADINGS = SHADINGS
    __reduce_ex__ = refuse_pickling

    def __init__(
        self,
        model=None,
        tokens: Sequence[str] | None = None,
        inputs: Tensor | None = None,
        *,
        session: Session | None = None,
        precompute: bool = False,
        speed: float = 4.0,
        head: nn.Module | None = None,
        labels: Sequence[str] | None = None,
        top_k: int = 5,
        title: str = "",
        knockout: Sequence[int] | None = None,
        **kwargs,
    ):
        if session is None:
            session = Session(model, inputs, tokens, head=head, labels=labels, top_k=top_k)
        elif not isinstance(session, Session):
            raise TypeError(f"session must be a Session, got {type(session).__name__}")
        elif any(v is not None for v in (model, tokens, inputs, head, labels)):
            raise TypeError(
                "give a session, or a model with its inputs (and tokens, head, labels), not both"
            )
        speed = traits.check_speed(speed)
        if not isinstance(precompute, bool):
            raise TypeError(f"precompute must be True or False, got {precompute!r}")
        owned = sorted(set(kwargs) & (set(self.class_traits(sync=True)) - {"layout"}))
        if owned:
            raise TypeError(
                f"{owned} describe the model and its data and are set by the widget; "
                "to start at a position call goto(k) after building it"
            )
        if knockout is not None:
            session.set_knockout(knockout)
        self.session = session
        self._esm, self._css = _bundle()
        super().__init__(
            **session.describe(),
            title=check_token(title, "title"),
            speed=speed,
            status=session.knockout_note,
            _widget_id=uuid.uuid4().hex,
            **kwargs,
        )
        # JupyterLab may deliver the front end's messages on a kernel subshell
        # thread while a cell runs; they are handed to the main thread's loop,
        # so they wait for the cell to end (docs/design.md §4) and never race it.
        self._main_loop = cell_loop()
        self._outbox = Outbox(session, self)
        self._ahead = ComputeAhead(session, self, self._outbox, self._main_loop)
        self._snapshots = Snapshots(session, self, self._write_snapshot, precompute=precompute)
        self._answers = Answers(session, self, self._outbox, self._ahead, self._snapshots)
        session.subscribe(self._hear)
        self.on_msg(self._on_custom_msg)
        self._snapshots.rebuild()
        self._built = True
        self.t = session.position  # a session given may stand anywhere
        refresh_after_each_cell(self._snapshot_after_cell)
        made_by_this_cell(self)  # closed when its cell runs again, unless a name holds it

    def close(self) -> None:
        """Close the widget: its views go, and it lets go of its steps and saved
        state (the steps are computed again if it is used from Python after).
        Running again the cell that made a widget closes it, unless a name of the
        notebook holds it (:mod:`attn_widget.kernel`)."""
        s = self.__dict__.get("session")
        if s is None:  # its __init__ refused its arguments: there is nothing to let go of
            super().close()
            return
        with s.lock:
            super().close()
            with contextlib.suppress(ValueError):  # closed before: unsubscribed already
                s.unsubscribe(self._hear)
            if s.release():  # no other widget shows this session
                self._snapshot = b""
                self._show_session()

    @classmethod
    def from_text(cls, text_model, text: str | Sequence[str], **kwargs) -> AttentionWidget:
        """A widget over ``text`` read by a ``TextRNN`` (its ``.rnn`` and ``.embed_text``),
        with its output head ``.out``; see :meth:`Session.from_text`."""
        heads = {name: kwargs.pop(name) for name in ("head", "labels", "top_k") if name in kwargs}
        return cls(session=Session.from_text(text_model, text, **heads), **kwargs)

    # -- the model's side ----------------------------------------------------

    @property
    def model(self):
        return self.session.model

    @property
    def stepper(self):
        """The kernel-side :class:`Stepper`; its position follows ``t``."""
        return self.session.stepper

    @property
    def inputs(self) -> Tensor:
        """x_1 … x_T, shape (T, D)."""
        return self.session.inputs

    def sensitivity(self, k: int | None = None) -> Tensor:
        """How much h_k depends on each input read so far: ‖∂h_k/∂x_i‖_F, i = 1 … k.

        The gradient view of forgetting (:func:`~attn_widget.core.input_sensitivity`
        on x_1 … x_k): in eq1 it falls geometrically with the distance k − i; with
        attention it need not.  ``k`` defaults to the current position; the
        result has shape (k,), entry i − 1 for x_i.  With ``shading =
        "gradient"`` the widget shades the tokens by it, on a log scale.
        """
        return self.session.sensitivity(k)

    def prediction(self, k: int | None = None, *, top: int | None = None) -> dict[str, float]:
        """What the head predicts at position k (default: the current one) from h_k:
        ``{label: probability}`` for the ``top`` most likely labels (default: the
        widget's ``top_k``, the ones it shows), largest first.  Empty at k = 0 or
        without a head."""
        return self.session.prediction(k, top=top)

    @property
    def position(self) -> int:
        """The position k = ``t``: how many tokens have been read, 0 … T.

        Position k shows step k-1, the step that read x_k: the red token, and
        its weights α_{k-1,·}, which h_{k-1} chose before reading x_k.
        Setting it is ``goto(k)``.
        """
        return self.t

    @position.setter
    def position(self, k: int) -> None:
        self.goto(k)

    @property
    def current(self):
        """The step shown at the current position (step t-1), or None at t = 0."""
        return self.session.current

    # -- moving ----------------------------------------------------------------

    @serialised  # the move and the step it returns are one: another thread waits
    def step(self, x_next: Tensor | None = None, *, token: str | None = None):
        """Move to t+1 and return the step shown there.

        With ``x_next`` (shape (D,)) it is a what-if: x_{t+1} is replaced (or
        appended at the end, which needs ``token``), later steps are dropped,
        the data version is bumped and the new step runs.
        """
        k = self.session.position  # where the session stands: another widget may show it
        if x_next is not None:
            self.session.edit(k + 1, token, x_next, move=True)
            return self.current
        if k >= self.T:
            raise ValueError(
                f"cannot step past the end: t = {k} = T; pass step(x_next, token=...) "
                "to append an input"
            )
        self.t = k + 1
        return self.current

    @serialised
    def back(self):
        """Move to t-1 (no-op at 0)."""
        k = self.session.position
        if k > 0:
            self.t = k - 1
        return self.current

    @serialised
    def goto(self, k: int):
        """Move to position k (0 … T), computing any steps not yet run."""
        self.t = check_position(k, self.T, "goto position")
        return self.current

    @serialised
    def reset(self) -> None:
        """Back to position 0 and stop playing.  Computed steps stay."""
        with self.hold_sync():
            self.playing = False
            self.t = 0

    @serialised
    def play(self) -> None:
        """Ask the front end to play forward at ``speed`` steps per second."""
        if self.session.position >= self.T:
            self.t = 0
        self.playing = True

    def pause(self) -> None:
        self.playing = False

    # -- what changes the data (each a new version; see Session) -----------------

    def edit(self, i: int, token: str | None, x: Tensor, *, move: bool = False) -> None:
        """Replace input x_i (1 … T) and its token, or append one at i = T+1.

        Steps from step i-1 on depended on the old input: they are dropped and
        the data version is bumped.  The position stays (clamped to the new T)
        unless ``move``, which goes to i.
        """
        self.session.edit(i, token, x, move=move)

    def replace(self, i: int, word: str) -> None:
        """A what-if: x_i (1 … T) becomes the embedding of ``word``, a word of the
        text model's vocabulary (``vocabulary``), as a click on a token does.

        Steps from step i-1 on are recomputed; earlier steps stay as they were.
        :meth:`undo` takes it back.  Needs a widget made by :meth:`from_text`."""
        self.session.replace(i, word)

    def zero_input(self, i: int) -> None:
        """A what-if: x_i (1 … T) becomes the zero vector, shown as ``ZERO_INPUT``
        (⟨0⟩).  Steps from step i-1 on are recomputed; :meth:`undo` takes it back."""
        self.session.zero_input(i)

    def undo(self) -> bool:
        """Take back the last edit (from the view, :meth:`replace`, :meth:`zero_input`
        or :meth:`edit`): its tokens and inputs come back, and the steps are
        recomputed.  Returns False when there is nothing to undo."""
        return self.session.undo()

    def read_text(self, text: str | Sequence[str]) -> None:
        """Read a new sentence with the text model's own tokenizer and vocabulary,
        back at position 0, as the view's text box does.  Words the vocabulary
        lacks are read as ``<unk>`` and shown so (``unknown`` lists them, as the
        tokenizer gave them).  Needs a widget made by :meth:`from_text`."""
        self.session.read_text(text)

    def set_inputs(self, tokens: Sequence[str] | None, x: Tensor) -> None:
        """Show a new sequence: x (T, D) with its tokens; back to position 0."""
        self.session.set_inputs(tokens, x)

    def refresh(self) -> None:
        """Recompute after the weights changed (a training update), keeping the position."""
        self.session.recompute()

    def push_trace(self) -> None:
        """For a training loop: recompute up to the current t and push it (one message,
        unless the steps take more than ``STEP_DATA_LIMIT`` bytes).

        Front-end messages wait while a cell runs (docs/design.md §4), so the kernel
        pushes.  The saved-state snapshot is not rebuilt (call :meth:`snapshot`).
        """
        self.session.recompute(reason="trace", snapshot=False)

    def snapshot(self) -> None:
        """Store every step computed so far in the saved widget state.

        This runs by itself after every notebook cell in which the widget
        computed new steps, so a saved notebook shows what its cells computed;
        clicks in the front end never trigger it.  It holds the steps from
        step 0 on that fit in ``STEP_DATA_LIMIT`` bytes; a reader without a
        kernel is told on screen where the saved steps end.
        """
        self._snapshots.save_all()

    def trace(self):
        """The computed steps as a Trace, like ``model(x)`` up to the frontier."""
        return self.session.trace()

    # -- sharing ---------------------------------------------------------------

    def figure(self, position: int | None = None, *, strips: bool = True):
        """The widget at position k (default: the current one) as a matplotlib
        ``Figure``: the tokens with x_k red and earlier slots shaded by α, the α
        matrix up to step k-1, and (``strips``) the state strips, in the widget's
        colour scales.  ``fig.savefig("step.svg")`` for a paper or slides.  Needs
        matplotlib (in the ``lab`` extra)."""
        try:
            from .render.figure import step_figure
        except ImportError as error:
            raise ImportError("w.figure() draws with matplotlib: pip install matplotlib") from error
        k = self.t if position is None else position
        return step_figure(self.session, k, strips=strips)

    def presentation(self) -> Presentation:
        """How this widget shows its session: position, title, speed, controls."""
        return Presentation(self.t, self.title, self.speed, self.show_controls, self._widget_id)

    def save_html(
        self, path: str | os.PathLike, *, all_steps: bool = True, title: str | None = None
    ) -> Path:
        """Write this widget to ``path`` as one HTML page that steps, plays and
        scrubs offline, opened from a file, with no kernel: the same view, from
        the steps computed here (all of them, unless ``all_steps=False``), at most
        ``STEP_DATA_LIMIT`` bytes of them.  Returns the path written, so the call
        can end a cell without printing the page (``attn_widget.to_html(w)``
        gives the page's text).  See :func:`attn_widget.render.export.export_page`."""
        path = check_page_path(path)
        export_page(
            [self.session],
            path,
            presentations=[self.presentation()],
            all_steps=all_steps,
            title=title,
        )
        return path

    def __repr__(self) -> str:
        rule = self.update_rule + (f"/{self.align_name}" if self.align_name else "")
        words = " ".join(self.tokens[:8]) + (" …" if self.T > 8 else "")
        return f"AttentionWidget({rule}, read {self.t} of {self.T}: {words!r})"

    # -- the session's news: a new version, a problem ---------------------------

    def _hear(self, event: NewVersion | Moved | Problem) -> None:
        """The session's news.  A new version's traits are set, then its own message
        goes out.  If anything is raised meanwhile, the session's change is undone
        and this hears of the state it is back in (session/change.py).  A move that
        another widget (or Python, on the session) made is this widget's move too:
        ``t`` follows, and its view is sent what the position needs."""
        if isinstance(event, Problem):
            self.status = f"error: {event.message}"[:300]
            return
        if isinstance(event, Moved):
            if not self._moving and self.t != event.position:
                self.t = event.position  # the session stands there: _move moves nothing
            return
        # Setting t here moves nothing (the session stands there already) and
        # sends nothing: the new version's own message follows the traits.
        with self._outbox.held(), self.hold_sync():
            self._show_session()
            self.status = self.session.knockout_note
        if event.complete and event.snapshot:
            self._snapshots.new_version()
        self._outbox.restart()
        self._outbox.push(self.t, reason=event.reason, always=True)
        if event.complete:
            self._ahead.queue()

    def _show_session(self) -> None:
        """Set the traits that describe the session's data to what it holds now."""
        s = self.session
        with s.lock:  # what the traits' checks compare with (widget_traits.py)
            described = s.describe()
            for name in ("version", "tokens", "T", "unknown", "edits", "knockout", "frontier"):
                if getattr(self, name) != described[name]:
                    setattr(self, name, described[name])
            self.t = s.position

    def _settle(self) -> None:
        """After something was raised on the way (a failing step, a KeyboardInterrupt):
        the traits say what the session holds, and the front end is sent what its
        position needs, of a new version if the session has one it was not told of."""
        s = self.session
        with s.lock:
            with self._outbox.held(), self.hold_sync():
                self._show_session()
            behind = self._outbox.is_behind()
            self._outbox.push(self.t, reason="reset" if behind else "step", always=behind)

    def _write_snapshot(self, blob: bytes) -> None:
        self._snapshot = blob

    def _snapshot_after_cell(self) -> None:
        """Refresh the snapshot if a cell computed steps it lacks (see :meth:`snapshot`)."""
        with self.session.lock:
            if self.comm is not None and self._snapshots.behind():
                self.snapshot()

    # -- the front end's side --------------------------------------------------

    def _move(self, k) -> int:
        """Move the session to position k, before ``t`` takes the value (see
        :class:`~attn_widget.widget_traits.PositionTrait`).  A move completes or
        leaves the position as it was (the steps that did run are kept: they are
        valid); if it fails, Play stops, or it would ask for the failing step at
        every tick."""
        k = check_position(k, self.T)
        if not self._built:
            return k  # traitlets checks the default value while the widget is built
        s = self.session
        with s.lock:
            try:
                self._moving = True  # its own Moved: t takes k when this returns
                try:
                    s.goto(k)  # the latest value: another thread may have moved it since
                finally:
                    self._moving = False
                self.frontier = s.frontier
                if k == self.t:  # no change for the observer: send what k lacks, if anything
                    self._outbox.push(k, reason="step")
                return k
            except BaseException:
                self.playing = False
                self._settle()
                raise

    def _hide(self, slots) -> list[int]:
        """Set the session's knockout, before ``knockout`` takes the value (see
        :class:`~attn_widget.widget_traits.KnockoutTrait`): the session's checks
        (ints in 0 … T, a model that takes a mask) refuse a bad value before
        anything changes."""
        new = list(self.session.check_knockout(slots))
        if not self._built:
            return new  # the constructor's knockout= is the session's already
        s = self.session
        with s.lock:
            try:
                s.set_knockout(new)  # a no-op when the session holds it already
                return new
            except BaseException:
                self._settle()
                raise

    @tl.observe("t")
    @serialised
    def _on_t(self, _change) -> None:
        """The position moved (the session stands there): send what it needs."""
        if self.t >= self.T and self.playing:
            self.playing = False
        self._outbox.push(self.t, reason="step")
        self._ahead.queue()

    @tl.validate(*traits.FOLLOW_SESSION, *traits.DESCRIBE_MODEL, "title")
    def _kernel_owned(self, proposal):
        return traits.kernel_owned(self, proposal.trait.name, proposal.value)

    def set_state(self, sync_data):
        """State from the front end: a bad value gets an error reply, never an exception."""
        if not defer_to_loop(self._main_loop, self._apply_state, sync_data):
            self._apply_state(sync_data)

    @serialised
    def _apply_state(self, sync_data) -> None:
        update, problems, resend = screen_state(self, sync_data)
        try:
            super().set_state(update)
        except Exception as error:  # a widget must never take the kernel down
            problems.append(f"could not apply {sorted(update)}: {error}")
            resend = None  # all of them
        if resend != []:
            self.send_state(resend)  # the front end hears the values kept
        if problems:
            self._answers.reply_error("; ".join(problems), "update")

    def _on_custom_msg(self, _widget, content, buffers) -> None:
        """A custom message from the front end: an error reply, never an exception."""
        if not defer_to_loop(self._main_loop, self._answers.answer, content, buffers):
            self._answers.answer(content, buffers)
