"""Session: the state a widget shows, as a plain object with no Jupyter in it.

A session holds a model's :class:`~attn_widget.core.Stepper` over one
sequence, the tokens shown for its inputs (and, over a text model, the words
behind them), the data ``version`` and the one lock.  It follows changes of
the weights, owns the output head and its predictions, the what-if edits and
their history, and tells whoever subscribed when a new version exists.

The widget (``widget.py``), the HTML export and the figure
(``render/``) are peer consumers of it: each reads the same step records,
under the same lock.

**Versions.** The steps shown were computed from the inputs, the weights and
the knockout as they were.  An edit, new inputs, a new knockout, or a change
of the weights (of the model, of the head, or, over a text model, of the
embedding) drops the steps that depended on them and makes a new version: the
version number goes up, the steps the position needs are computed again, and
every subscriber hears a :class:`NewVersion`.  If a step fails on the way, the
position falls back to the last step that ran, subscribers still hear of the
new version (``complete=False``), and the error is raised.  The knockout is
``session/knockout.py``'s.

**All or nothing.** Each change of the data is one :class:`~.change.Change`:
if anything is raised before subscribers are told of it, an error or a
``KeyboardInterrupt`` on any line, the data is put back as it was, the
position falls back to where the valid steps end, and subscribers hear of a
new version if the steps they may hold are no longer the session's.

**The lock.** Every path that computes steps or reads them (moves, edits,
predictions, sensitivity, figures, exports, training pushes) takes
:attr:`Session.lock`, a re-entrant lock, so the stepper and the tokens never
see two at once, whatever thread each comes from.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor

from ..core import Stepper, input_sensitivity
from ..protocol import ZERO_INPUT
from .change import AllOrNothing
from .checks import (
    check_edit_index,
    check_length,
    check_position,
    check_token,
    check_tokens,
    check_top,
    check_total_chars,
)
from .events import Listener, Moved, NewVersion, Problem
from .head import Head, first_param, head_labels, make_head
from .knockout import Knockout
from .model import check_model, describe_model
from .words import Words, read_words, vocabulary_of

#: An x given from elsewhere (edit(i, token, x)): the inputs no longer follow the
#: text model's embedding.
_FREE = object()
# head= not given to from_text: the text model's own head is used.
_OWN_HEAD = object()


class Session(AllOrNothing, Knockout):
    """A model stepping through one sequence, as a widget shows it.

    Args:
        model: a :class:`~attn_widget.core.SelfAttentionRNN`, an
            :class:`~attn_widget.core.LSTMN`, or any other
            :class:`~attn_widget.core.StepModel`.
        inputs: x_1 … x_T, shape (T, D), a float tensor matching the model.
        tokens: the text of each input, T strings; defaults to ``x1 … xT``.
        head: an output head, h (…, H) → logits (…, C): each step then carries
            softmax(head(h))'s top ``top_k`` classes, named by ``labels``.

    Attributes:
        model, stepper, tokens, version, lock, head (a :class:`Head` or None).
        text_model: the text model of :meth:`from_text` (None otherwise), and
            ``words``, the words its inputs are the embedding of (None once an
            input is a vector from elsewhere).
        vocabulary: the words an input may be replaced by (a text model's).
        unknown: ``[i, word]`` for each input read as ``<unk>``.
        edits: ``[i, old token, new token]`` for each edit undo takes back.
        knockout: the slots hidden from attention (sorted), see :meth:`set_knockout`.

    Example::

        >>> s = Session(SelfAttentionRNN(4, 8), torch.randn(3, 4), ["a", "b", "c"])
        >>> s.goto(2); s.current.t
        1
    """

    def __init__(
        self,
        model,
        inputs: Tensor | None = None,
        tokens: Sequence[str] | None = None,
        *,
        head=None,
        labels: Sequence[str] | None = None,
        top_k: int = 5,
    ):
        check_model(model)
        if inputs is None:
            raise ValueError("inputs is required: a float tensor x of shape (T, D)")
        stepper = Stepper(model, inputs)  # checks shape, dtype, NaN/Inf, emptiness
        if tokens is None:
            tokens = [f"x{i}" for i in range(1, stepper.T + 1)]
        self.tokens: list[str] = check_tokens(tokens, stepper.T)
        self.head: Head | None = make_head(head, labels, top_k, model)
        self.model = model
        self.stepper = stepper
        self.version = 0
        self.lock = threading.RLock()
        self.text_model = None
        self.words: Words | None = None
        self.vocabulary: list[str] = []
        self.unknown: list[list] = []
        self.edits: list[list] = []
        # What undo restores: the tokens, inputs, words and unknowns before each edit.
        self._history: list[tuple] = []
        self._held_by: str | None = None  # why the inputs cannot change alone
        self._listeners: list[Listener] = []
        self._change = None  # the change under way, if any (AllOrNothing)

    @classmethod
    def from_text(cls, text_model, text: str | Sequence[str], *, head=_OWN_HEAD, **kwargs):
        """A session over ``text`` read by a ``TextRNN`` (its ``.rnn`` and
        ``.embed_text``), with its output head ``.out`` unless ``head=`` says
        otherwise.  Words its vocabulary lacks are read as ``<unk>``."""
        if not hasattr(text_model, "embed_text") or not hasattr(text_model, "rnn"):
            raise TypeError(
                "text_model must be a TextRNN (with .embed_text and .rnn), "
                f"got {type(text_model).__name__}"
            )
        tokens, x, unknown = read_words(text_model, text)
        if head is _OWN_HEAD:
            head = getattr(text_model, "out", None)
            if head is not None:
                kwargs.setdefault("labels", head_labels(text_model))
        session = cls(text_model.rnn, x, tokens, head=head, **kwargs)
        session.text_model = text_model
        session.words = Words.of(text_model, tokens)
        session.unknown = unknown
        session.vocabulary = vocabulary_of(text_model)
        return session

    # -- what it shows -----------------------------------------------------------

    @property
    def T(self) -> int:
        return self.stepper.T

    @property
    def frontier(self) -> int:
        """How many steps have been computed (positions 0 … frontier are ready)."""
        return self.stepper.frontier

    @property
    def position(self) -> int:
        """The position k: how many inputs have been read, 0 … T."""
        return self.stepper.k

    @property
    def inputs(self) -> Tensor:
        """x_1 … x_T, shape (T, D)."""
        return self.stepper.x

    @property
    def steps(self) -> list:
        """The computed step records, ``steps[t]`` is step t (a copy of the list,
        taken under the lock: another thread may change the session meanwhile)."""
        with self.lock:
            return list(self.stepper.steps)

    @property
    def current(self):
        """The step shown at the current position (step k-1), or None at k = 0."""
        with self.lock:
            return self.stepper.current

    def describe(self) -> dict:
        """The session as a front end is told of it: the model's equations and
        sizes, ``T``, ``tokens``, ``version``, ``frontier``, ``prediction_labels``,
        ``vocabulary``, ``accepts_text``, ``unknown``, ``edits``, ``knockout``
        (the hidden slots) and ``can_knockout`` (whether a view should offer to
        hide slots: the model attends and takes a mask, and nothing holds it)."""
        with self.lock:
            return {
                **describe_model(self.model),
                "T": self.T,
                "tokens": list(self.tokens),
                "version": self.version,
                "frontier": self.frontier,
                "prediction_labels": list(self.head.labels) if self.head else [],
                "vocabulary": list(self.vocabulary),
                "accepts_text": self.text_model is not None,
                "unknown": [list(pair) for pair in self.unknown],
                "edits": [list(edit) for edit in self.edits],
                "knockout": list(self.knockout),
                "can_knockout": self.can_knockout,
            }

    def trace(self):
        """The computed steps as a trace, like ``model(x)`` up to the frontier."""
        with self.lock:
            return self.stepper.trace()

    # -- who listens -------------------------------------------------------------

    def subscribe(self, listener: Listener) -> None:
        """Call ``listener(event)`` with each :class:`NewVersion`, :class:`Moved` and
        :class:`Problem`."""
        self._listeners.append(listener)

    def unsubscribe(self, listener: Listener) -> None:
        self._listeners.remove(listener)

    def release(self) -> bool:
        """Forget every computed step if no one listens any more (what a closed
        widget does: its steps are most of its memory), back at position 0; the
        next move computes what it needs.  Returns whether it did."""
        with self._changing():
            if self._listeners:
                return False
            self.stepper.truncate(0)
            return True

    def _tell(self, event: NewVersion | Moved | Problem) -> None:
        for listener in list(self._listeners):
            listener(event)

    # -- moving and computing ----------------------------------------------------

    def goto(self, k: int) -> None:
        """Move to position k (0 … T), computing the steps not yet run.  If what the
        steps were computed from has changed, every step is recomputed (a new
        version).  A step that fails leaves the position where it was.  Subscribers
        hear :class:`Moved` once the move is done, whoever asked for it: two widgets
        on one session show one position."""
        with self.lock:
            before = (self.position, self.version)
            with self._changing():
                k = check_position(k, self.T, "goto position")
                self._with_one_set_of_weights(lambda: self.stepper.goto(k), k)
            if self.version == before[1] and self.position != before[0]:
                self._tell(Moved(self.position, self.frontier))  # a new version told its own

    def compute(self, n: int) -> None:
        """Make sure steps 0 … n-1 are computed with the model as it is now,
        without moving."""
        with self._changing():
            self._with_one_set_of_weights(lambda: self.stepper.compute(n), self.position)

    def follow(self) -> None:
        """If the model, its head or its embedding changed, recompute every step
        with what they are now (a new version)."""
        with self._changing():
            if self.stale():
                self._new_version(self.position, reason="reset")

    def stale(self) -> bool:
        """True when what the steps were computed from has changed: the model's
        weights, the head's, or (over a text model) the embedding."""
        with self.lock:
            if self.stepper.weights_changed():
                return True
            param = self._param()
            if self.inputs.dtype != param.dtype or self.inputs.device != param.device:
                return True  # the model moved (model.double()): the inputs follow it
            if self.head is not None and self.head.changed():
                return True
            return self.words is not None and self.words.stale()

    def recompute(self, *, reason: str = "reset", snapshot: bool = True) -> None:
        """Recompute every step (after a training update), keeping the position."""
        with self._changing():
            self._new_version(self.position, reason=reason, snapshot=snapshot, drop=True)

    # -- what the model predicts, and how much h_k depends on each input ----------

    def predicted(self, steps: Sequence, top: int | None = None) -> list:
        """The steps as they are shown: with the head's top-k prediction from each
        step's h, softmax(head(h_{t+1})), when there is a head.  A head that fails
        is reported (:class:`Problem`) and the steps come without predictions."""
        if self.head is None:
            return list(steps)
        try:
            return self.head.predicted(steps, top)
        except Exception as error:  # a move completes; subscribers hear why
            self._tell(Problem(f"the head could not predict: {error}"))
            return list(steps)

    def prediction(self, k: int | None = None, *, top: int | None = None) -> dict[str, float]:
        """What the head predicts at position k (default: the current one) from h_k:
        ``{label: probability}`` for the ``top`` most likely labels (default: the
        head's ``top_k``), largest first.  Empty at k = 0 or without a head."""
        with self.lock:
            k = self.position if k is None else check_position(k, self.T, "prediction position")
            top = check_top(top)
            if self.head is None or k == 0:
                return {}
            self.compute(k)
            (step,) = self.head.predicted([self.stepper.steps[k - 1]], top)  # raises clearly
            labels = self.head.labels
            return {labels[int(i)]: float(p) for p, i in zip(step.pred_p, step.pred_i, strict=True)}

    def sensitivity(self, k: int | None = None) -> Tensor:
        """‖∂h_k/∂x_i‖_F for the inputs read so far, i = 1 … k (shape (k,)), by
        :func:`~attn_widget.core.input_sensitivity`; k defaults to the position."""
        with self.lock:
            k = self.position if k is None else check_position(k, self.T, "sensitivity position")
            if k == 0:
                return self.inputs.new_zeros(0)
            return input_sensitivity(self.model, self.inputs[:k])

    # -- what changes the data ----------------------------------------------------

    def hold_inputs(self, reason: str) -> None:
        """From now on the inputs cannot change alone; an attempt raises
        ValueError(reason) (a comparison's panels read the same inputs)."""
        self._held_by = reason

    def edit(self, i: int, token: str | None, x: Tensor, *, move: bool = False) -> None:
        """Replace input x_i (1 … T) and its token, or append one at i = T+1.

        Steps from step i-1 on depended on the old input: they are dropped (a new
        version).  The position stays (clamped to the new T) unless ``move``,
        which goes to i.
        """
        with self.lock:
            self._refuse_if_held()
            T = self.T
            if isinstance(i, bool) or not isinstance(i, (int, np.integer)):
                raise TypeError(f"edit index must be an int in 1 … T+1 = {T + 1}, got {i!r}")
            i = int(i)
            if not 1 <= i <= T + 1:
                raise ValueError(f"edit index must be in 1 … T+1 = {T + 1}, got {i}")
            if i == T + 1:
                check_length(T + 1, "the sequence with one more input")
            if token is None:
                if i == T + 1:
                    raise ValueError("appending an input needs its token text: token=...")
                token = self.tokens[i - 1]
            token = check_token(token, "token")
            check_total_chars([*self.tokens[: i - 1], token, *self.tokens[i:]])
            x = self.stepper.check_input(x)  # before anything moves: a bad x changes nothing
            self._edit(i, token, x, move=move, word=_FREE)

    def replace(self, i: int, word: str) -> None:
        """A what-if: x_i (1 … T) becomes the embedding of ``word``, a word of the
        text model's vocabulary.  Steps from step i-1 on are recomputed; earlier
        steps stay as they were.  :meth:`undo` takes it back."""
        with self._changing():  # the embedding runs under no_grad: see change.py
            self._refuse_if_held()
            i = check_edit_index(i, self.T)
            if not self.vocabulary:
                raise ValueError(
                    "replace(i, word) needs a text model's vocabulary "
                    "(AttentionWidget.from_text); for vector inputs use edit(i, token, x) "
                    "or zero_input(i)"
                )
            word = check_token(word, "word")
            if word not in self.vocabulary:
                near = [v for v in self.vocabulary if v.startswith(word[:2])][:8]
                hint = f"; words that start alike: {near}" if near else ""
                raise ValueError(f"{word!r} is not in the model's vocabulary{hint}"[:300])
            with torch.no_grad():
                x = self.text_model.embed_text([word])[1][0].detach()
            self._edit(i, word, x.to(self._param()), move=False, word=word)

    def zero_input(self, i: int) -> None:
        """A what-if: x_i (1 … T) becomes the zero vector, shown as ``ZERO_INPUT``
        (⟨0⟩).  Steps from step i-1 on are recomputed; :meth:`undo` takes it back."""
        with self.lock:
            self._refuse_if_held()
            i = check_edit_index(i, self.T)
            zeros = self._param().new_zeros(self.model.input_size)
            self._edit(i, ZERO_INPUT, zeros, move=False, word=None)

    def undo(self) -> bool:
        """Take back the last edit: its tokens and inputs come back, and the steps
        are recomputed.  Returns False when there is nothing to undo."""
        with self._changing():
            self._refuse_if_held()
            if not self._history:
                return False
            k = self.position
            tokens, x, words, unknown = self._history[-1]
            self.stepper.set_inputs(x.to(self._param()))  # the model may have changed dtype
            self._history.pop()
            self.words = words  # a new version re-embeds them if the embedding changed since
            self.unknown = unknown
            self.edits = self.edits[:-1]
            self._new_version(min(k, self.T), tokens=tokens, reason="reset")
            return True

    def read_text(self, text: str | Sequence[str]) -> None:
        """Read a new sentence with the text model's own tokenizer and vocabulary,
        back at position 0.  Words the vocabulary lacks are read as ``<unk>``
        (``unknown`` lists them, as the tokenizer gave them)."""
        with self._changing():
            self._refuse_if_held()
            if self.text_model is None:
                raise ValueError(
                    "read_text needs a text model: build the widget with "
                    "AttentionWidget.from_text(text_model, text)"
                )
            tokens, x, unknown = read_words(self.text_model, text)
            probe = self._new_stepper(x.to(self._param()))
            tokens = check_tokens(tokens, probe.T)  # before anything changes
            self.stepper = probe
            self.words = Words.of(self.text_model, tokens)
            self._history.clear()
            self.unknown = unknown
            self.edits = []
            self._new_version(0, tokens=tokens, reason="reset")

    def set_inputs(self, tokens: Sequence[str] | None, x: Tensor) -> None:
        """Show a new sequence: x (T, D) with its tokens; back to position 0."""
        with self._changing():
            self._refuse_if_held()
            probe = self._new_stepper(x)  # validates before anything changes
            if tokens is None:
                tokens = [f"x{i}" for i in range(1, probe.T + 1)]
            tokens = check_tokens(tokens, probe.T)
            self.stepper = probe
            self.words = None
            self._history.clear()
            self.unknown = []
            self.edits = []
            self._new_version(0, tokens=tokens, reason="reset")

    # -- internals ---------------------------------------------------------------

    def _param(self) -> Tensor:
        """A parameter of the model: what new inputs take their dtype and device from."""
        return first_param(self.model)

    def _new_stepper(self, x: Tensor) -> Stepper:
        """A stepper over new inputs x, checked.  It keeps the knockout: a knockout
        belongs to the stepper, not to the inputs; less the slots past the new T,
        which name states the new sequence does not have."""
        probe = Stepper(self.model, x)
        probe.set_knockout([i for i in self.stepper.knockout if i <= probe.T])
        return probe

    def _refuse_if_held(self) -> None:
        if self._held_by is not None:
            raise ValueError(self._held_by)

    def _edit(self, i: int, token: str, x: Tensor, *, move: bool, word) -> None:
        """Put x (D,) and its token at input i, keeping the steps before step i-1.
        ``word``: the word the text model embedded into x, None for a zero input,
        or _FREE for an x from elsewhere (the inputs no longer follow the embedding).
        A step that fails (or an interrupt) puts the inputs and tokens back, as for
        any change (:meth:`_changing`)."""
        with self._changing():
            s = self.stepper
            keep_k = self.position  # before following the weights, which may drop every step
            self._follow_the_weights()
            before = (list(self.tokens), s.x.clone(), self.words, list(self.unknown))
            s.goto(i - 1)
            s.step(x.to(s.x))  # drops steps ≥ i-1; computes step i-1
            tokens = list(self.tokens)
            old = tokens[i - 1] if i <= len(tokens) else ""
            if i == len(tokens) + 1:
                tokens.append(token)
            else:
                tokens[i - 1] = token
            if self.words is not None and word is not _FREE:
                self.words = self.words.with_word(i, word)
            else:
                self.words = None  # the inputs are no longer all the text model's embedding
            self._history.append(before)
            self.unknown = [pair for pair in self.unknown if pair[0] != i]
            self.edits = [*self.edits, [i, old, token]]
            k = i if move else min(keep_k, s.T)
            self._new_version(k, tokens=tokens, reason="reset")

    def _new_version(
        self,
        k: int,
        *,
        reason: str,
        snapshot: bool = True,
        tokens: list[str] | None = None,
        drop: bool = False,
    ) -> None:
        """Bump the version (``drop``: forget every step first), compute what
        position k needs and tell subscribers.  If a step fails (or anything is
        raised), the change this is part of ends as :meth:`_changing` says."""
        with self._changing() as change:
            change.reason, change.snapshot = reason, snapshot
            self.version += 1  # first: whatever follows, subscribers hear of a new version
            s = self.stepper
            if drop:
                s.truncate(0)
            self._follow_the_weights()
            if tokens is not None:
                self.tokens = list(tokens)
            s.goto(min(k, s.T))
            # Told before it is committed: a subscriber interrupted half-way through
            # is told again, of the data put back, under a version of its own.
            change.told = True
            self._tell(NewVersion(self.version, s.k, reason, snapshot))
            change.commit()

    def _follow_the_weights(self) -> None:
        """After the weights changed (a training update, an in-place edit,
        ``model.double()``), drop every step so all are recomputed with the new
        ones, never mixed; inputs follow the model's dtype and device, and the
        words behind the inputs are embedded anew when the embedding changed."""
        s = self.stepper
        param = self._param()
        if self.words is not None and self.words.stale():
            x, words = self.words.embedded(param)
            s.set_inputs(x)  # forgets every step
            self.words = words  # after: until then they say the inputs are stale
        elif s.x.dtype != param.dtype or s.x.device != param.device:
            s.set_inputs(s.x.to(param))  # forgets every step
        elif s.weights_changed():
            s.truncate(0)
        if self.head is not None:
            self.head.followed()  # a new version predicts every step anew

    def __repr__(self) -> str:
        rule = describe_model(self.model)
        name = rule["update_rule"] + (f"/{rule['align_name']}" if rule["align_name"] else "")
        words = " ".join(self.tokens[:8]) + (" …" if self.T > 8 else "")
        return f"Session({name}, read {self.position} of {self.T}: {words!r})"
