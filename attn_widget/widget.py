"""AttentionWidget: step a SelfAttentionRNN through a sentence, live in JupyterLab.

The kernel owns a :class:`~attn_widget.core.Stepper`; the front end (``js/``,
bundled into ``attn_widget/static/``) only draws what the kernel computed.

Position ``t`` (the k of docs/design.md §1, 0 … T) is one synced trait that both sides
write.  A move past the computed ``frontier`` runs the stepper here and sends
only the new steps, each once, as float32 bytes; moves back, or forward to
steps already sent, are served by the front end's store without the kernel.
The messages and their encoding are in :mod:`attn_widget.protocol`; where
messages run, and when the saved state is refreshed, in :mod:`attn_widget.kernel`.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import anywidget
import numpy as np
import torch
import traitlets as tl
from torch import Tensor, nn

from .core import LSTMN, LSTMNStep, SelfAttentionRNN, Step, input_sensitivity
from .core.rnn import _parameter_slots, _weight_stamp
from .kernel import cell_loop, defer_to_loop, loop_is_live, refresh_after_each_cell, serialised
from .protocol import (
    FRONT_END_MESSAGES,
    FRONT_END_TRAITS,
    MAX_SPEED,
    MAX_TEXT_CHARS,
    MAX_TOP_K,
    MIN_SPEED,
    SHADINGS,
    STEP_DATA_LIMIT,
    ZERO_INPUT,
    encode_steps,
    pack_snapshot,
    steps_within,
)
from .text import PAD, UNK, Vocab

STATIC = Path(__file__).parent / "static"

#: After each move the kernel computes up to this many steps past the position,
#: within AHEAD_SECONDS, and pushes them, so a forward click or Play finds its step
#: already in the browser (only inside a kernel, between cells).
AHEAD_STEPS = 8
AHEAD_SECONDS = 0.03

BUILD_HINT = (
    "build it with `pip install -e .` (runs the npm build hook) or "
    "`npm --prefix js install && npm --prefix js run build`"
)


def read_static(names: Sequence[str], what: str) -> list[str]:
    """Files of the built front end in ``attn_widget/static/``, as text; a missing
    one is an error that names the build command."""
    paths = [STATIC / name for name in names]
    missing = [p.name for p in paths if not p.is_file()]
    if missing:
        raise RuntimeError(
            f"{what} is not built (missing {', '.join(missing)} in {STATIC}); {BUILD_HINT}"
        )
    return [p.read_text(encoding="utf-8") for p in paths]


def _bundle() -> tuple[str, str]:
    """The widget's JS and CSS, read from ``attn_widget/static/``."""
    js, css = read_static(("widget.js", "widget.css"), "the attn_widget front end")
    return js, css


# -- the widget ----------------------------------------------------------------


def _check_token(token, what: str) -> str:
    if not isinstance(token, str):
        raise TypeError(f"{what} must be a str, got {type(token).__name__}: {token!r}")
    try:
        token.encode("utf-8")
    except UnicodeEncodeError as error:
        raise ValueError(
            f"{what} = {token!r} holds a lone surrogate, half of a UTF-16 pair, "
            "which cannot be sent to the browser"
        ) from error
    return token


#: An x given from elsewhere (edit(i, token, x)): the inputs no longer follow the
#: text model's embedding.
_FREE = object()


def _read_words(text_model, text) -> tuple[list[str], Tensor, list[list]]:
    """What a text model reads from ``text``: the tokens shown (a word its
    vocabulary lacks is shown as the ``<unk>`` it is read as), x (T, D) and the
    unknown words as ``[i, word]``, the word as the tokenizer gave it (i = 1 … T)."""
    tokens, x = text_model.embed_text(text)
    tokens = list(tokens)
    vocab = getattr(text_model, "vocab", None)
    unknown = []
    if isinstance(vocab, Vocab):
        for i, token in enumerate(tokens):
            if token not in vocab:
                unknown.append([i + 1, token])
                tokens[i] = UNK
    return tokens, x.detach(), unknown


def _derived(text_model, words: list) -> tuple | None:
    """What re-embeds a from_text widget's inputs when the embedding changes:
    (text model, words with None for a zeroed input, parameter slots, stamp)."""
    embed = getattr(text_model, "embed", None)
    if not isinstance(embed, nn.Module):
        return None
    slots = _parameter_slots(embed)
    return (text_model, list(words), slots, _weight_stamp(slots))


def _embed_words(text_model, words: list) -> Tensor:
    """x (T, D): each word's embedding, zero where the word is None."""
    with torch.no_grad():
        present = [w for w in words if w is not None]
        x = text_model.embed_text(present)[1] if present else None
        like = x if x is not None else _first_param(text_model.embed)
        out = like.new_zeros(len(words), text_model.rnn.input_size)
        rows = [i for i, w in enumerate(words) if w is not None]
        if rows:
            out[rows] = x
    return out


def _check_tokens(tokens, T: int) -> list[str]:
    if isinstance(tokens, str):
        raise TypeError(
            "tokens must be a list of str, one per input, got a single str; "
            "to split text use AttentionWidget.from_text(text_model, text)"
        )
    if not isinstance(tokens, (list, tuple)):
        raise TypeError(f"tokens must be a list of str, got {type(tokens).__name__}")
    for i, token in enumerate(tokens):
        _check_token(token, f"tokens[{i}]")
    if len(tokens) != T:
        raise ValueError(
            f"tokens must have one entry per input: inputs has T = {T} rows, "
            f"got {len(tokens)} tokens"
        )
    return list(tokens)


@dataclass(frozen=True)
class _Predicted:
    """A step as sent with a head: the step's own fields, and the head's top k."""

    step: Step | LSTMNStep
    pred_p: Tensor  # (k,) probabilities, largest first
    pred_i: Tensor  # (k,) their class indices, as float32

    def __getattr__(self, name: str):
        return getattr(self.step, name)


def _first_param(module: nn.Module) -> Tensor:
    """A parameter of ``module`` (what its inputs take their dtype and device from)."""
    return next(module.parameters(), torch.empty(0))


def _head_probabilities(head: nn.Module, h: Tensor) -> Tensor:
    """softmax(head(h)) for states h (N, H), with the head in eval mode (no dropout,
    batch norm's running statistics) and put back as it was."""
    training = head.training
    head.eval()
    try:
        with torch.no_grad():
            return torch.softmax(head(h.to(_first_param(head))).float(), dim=-1)
    finally:
        head.train(training)


def _head_labels(text_model) -> list[str]:
    """Class names for a TextRNN's head: its checkpoint's ``classes``, the vocabulary
    for a next-token head, else ``class 0 …``."""
    n = text_model.out.out_features
    classes = (getattr(text_model, "metadata", None) or {}).get("classes")
    if isinstance(classes, list) and len(classes) == n and len({str(c) for c in classes}) == n:
        return [str(c) for c in classes]
    vocab = getattr(text_model, "vocab", None)
    if vocab is not None and len(vocab) == n:
        return list(vocab.to_list())
    return [f"class {i}" for i in range(n)]


def _check_head(head, labels, top_k, model) -> tuple[nn.Module | None, list[str], int]:
    """The output head (h (…, H) → logits (…, C)), its C labels and how many to show."""
    if isinstance(top_k, bool) or not isinstance(top_k, int) or not 1 <= top_k <= MAX_TOP_K:
        raise ValueError(f"top_k must be an int in 1 … {MAX_TOP_K}, got {top_k!r}")
    if head is None:
        if labels is not None:
            raise ValueError("labels name the classes of a head: give head= too")
        return None, [], top_k
    if not isinstance(head, nn.Module):
        raise TypeError(f"head must be an nn.Module mapping h to logits, got {type(head).__name__}")
    try:
        probs = _head_probabilities(head, _first_param(model).new_zeros(2, model.hidden_size))
    except Exception as error:
        raise ValueError(
            f"head cannot read this model's states h of size H = {model.hidden_size}: {error}"
        ) from error
    if probs.dim() != 2 or probs.shape[0] != 2 or probs.shape[1] < 1:
        raise ValueError(
            f"head must map (N, H) to (N, C) logits with C ≥ 1, got shape {tuple(probs.shape)}"
        )
    n = probs.shape[1]
    if labels is None:
        return head, [f"class {i}" for i in range(n)], top_k
    if isinstance(labels, str) or not isinstance(labels, (list, tuple)):
        raise TypeError(f"labels must be a list of str, one per class, got {type(labels).__name__}")
    if len(labels) != n:
        raise ValueError(f"labels must name each of the head's C = {n} classes, got {len(labels)}")
    labels = [_check_token(label, f"labels[{i}]") for i, label in enumerate(labels)]
    if len(set(labels)) != n:
        raise ValueError(f"labels must be distinct, got {labels!r}"[:300])
    return head, labels, top_k


def _describe(model: SelfAttentionRNN | LSTMN) -> dict:
    """The traits that name the model's equations for the front end."""
    if isinstance(model, LSTMN):  # its score is additive over [h_i; x_{t+1}; h̃_{t-1}]
        return {"update_rule": "lstmn", "align_name": "additive", "z_layout": []}
    return {
        "update_rule": model.update,
        "align_name": model.align_name or "",
        "z_layout": [[name, size] for name, size in model.z_layout],
    }


def _check_position(k, T: int, what: str = "position") -> int:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)):
        raise TypeError(f"{what} must be an int in 0 … T = {T}, got {type(k).__name__}: {k!r}")
    if not 0 <= int(k) <= T:
        raise ValueError(f"{what} must be in 0 … T = {T}, got {int(k)}")
    return int(k)


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
        precompute: run every step now and store the whole trace in the
            saved-state snapshot (a reader without a kernel can then step through
            it all); by default steps run on demand.
        speed: play speed in steps per second.
        head: an output head, h (…, H) → logits (…, C) (``from_text`` passes a
            ``TextRNN``'s): each step then shows softmax(head(h))'s top ``top_k``
            classes, named by ``labels`` (C strings, shown as text).
        title: a name shown above the view (the panels of :func:`compare` use it).

    Traits synced with the front end: ``t`` (the position k, 0 … T, written by
    both sides), ``T``, ``tokens``, ``update_rule``, ``align_name``,
    ``z_layout``, ``hidden_size``, ``input_size``, ``frontier`` (steps
    computed), ``version`` (bumped when inputs or weights change),
    ``playing``, ``speed``, ``shading`` ("alpha": tokens shaded by the weights
    α_{k-1,i}; "gradient": by ‖∂h_k/∂x_i‖, see :meth:`sensitivity`), ``status``
    and ``_snapshot`` (binary, for saved state).

    Example::

        >>> model = SelfAttentionRNN(4, 8)
        >>> w = AttentionWidget(model, tokens=["a", "b", "c"], inputs=torch.randn(3, 4))
        >>> w.step(); w.t
        1
    """

    t = tl.Int(0).tag(sync=True)
    T = tl.Int(0).tag(sync=True)
    tokens = tl.List(tl.Unicode()).tag(sync=True)
    update_rule = tl.Unicode("eq4").tag(sync=True)
    align_name = tl.Unicode("").tag(sync=True)
    z_layout = tl.List().tag(sync=True)
    hidden_size = tl.Int(0).tag(sync=True)
    input_size = tl.Int(0).tag(sync=True)
    frontier = tl.Int(0).tag(sync=True)
    version = tl.Int(0).tag(sync=True)
    playing = tl.Bool(False).tag(sync=True)
    speed = tl.Float(4.0).tag(sync=True)
    shading = tl.Unicode("alpha").tag(sync=True)
    status = tl.Unicode("").tag(sync=True)
    _snapshot = tl.Bytes(b"").tag(sync=True)
    # Names this widget for the front end, which keeps one controller (store,
    # play timer) per widget however many views show it.
    _widget_id = tl.Unicode("").tag(sync=True)
    # The output head's class names (the vocabulary, for a language model);
    # empty when the widget has no head.  Each step then carries pred_p, pred_i.
    prediction_labels = tl.List(tl.Unicode()).tag(sync=True)
    # A name shown above the view (a panel of a comparison: "eq1", "eq4 / dot").
    title = tl.Unicode("").tag(sync=True)
    # False in a comparison's other panels: one set of controls drives them all.
    show_controls = tl.Bool(True).tag(sync=True)
    # What-if editing from the view (docs/design.md §2, "What-if and your own
    # sentence"): the words a token may be replaced by (a text model's vocabulary;
    # empty for vector inputs, which can only be zeroed), whether the view may
    # edit at all (not a comparison's panels), whether it offers a text box (a
    # from_text widget), the inputs read as <unk> ([i, the word as the tokenizer
    # gave it]) and the
    # edits undo takes back ([i, old token, new token], oldest first).
    vocabulary = tl.List(tl.Unicode()).tag(sync=True)
    editable = tl.Bool(True).tag(sync=True)
    accepts_text = tl.Bool(False).tag(sync=True)
    unknown = tl.List().tag(sync=True)
    edits = tl.List().tag(sync=True)

    MIN_SPEED, MAX_SPEED = MIN_SPEED, MAX_SPEED
    FRONT_END_TRAITS = FRONT_END_TRAITS
    SHADINGS = SHADINGS

    def __init__(
        self,
        model: SelfAttentionRNN | LSTMN,
        tokens: Sequence[str] | None = None,
        inputs: Tensor | None = None,
        *,
        precompute: bool = False,
        speed: float = 4.0,
        head: nn.Module | None = None,
        labels: Sequence[str] | None = None,
        top_k: int = 5,
        title: str = "",
        **kwargs,
    ):
        if not isinstance(model, (SelfAttentionRNN, LSTMN)):
            hint = (
                "; for a TextRNN use AttentionWidget.from_text(text_model, text)"
                if hasattr(model, "rnn")
                else ""
            )
            raise TypeError(
                f"model must be a SelfAttentionRNN or an LSTMN, got {type(model).__name__}{hint}"
            )
        if inputs is None:
            raise ValueError("inputs is required: a float tensor x of shape (T, D)")
        stepper = model.stepper(inputs)  # checks shape, dtype, NaN/Inf, emptiness
        if tokens is None:
            tokens = [f"x{i}" for i in range(1, stepper.T + 1)]
        tokens = _check_tokens(tokens, stepper.T)
        head, labels, top_k = _check_head(head, labels, top_k, model)
        speed = self._check_speed(speed)
        if not isinstance(precompute, bool):
            raise TypeError(f"precompute must be True or False, got {precompute!r}")
        owned = sorted(set(kwargs) & (set(self.class_traits(sync=True)) - {"layout"}))
        if owned:
            raise TypeError(
                f"{owned} describe the model and its data and are set by the widget; "
                "to start at a position call goto(k) after building it"
            )
        self._lock = threading.RLock()  # see kernel.serialised
        self._esm, self._css = _bundle()
        self._model = model
        self._stepper = stepper
        self._precompute = bool(precompute)
        self._head, self._top_k = head, top_k
        self._head_slots = _parameter_slots(head) if head is not None else []
        self._head_stamp = _weight_stamp(self._head_slots)
        # For a widget made by from_text: the text model, and (while the inputs are
        # exactly its embedding of them) the words they were embedded from, None for
        # a zeroed input, so a change to the embedding re-embeds them (see _stale).
        self._text_model = None
        self._text = None
        # What undo restores: the tokens, inputs, words and unknowns before each edit.
        self._history: list[tuple] = []
        self._compared = False  # set by a comparison: its panels read the same inputs
        self._bulk = False  # set while a method moves t and sends the data itself
        self._sent = 0  # steps of this version sent to the front end, from step 0
        self._ahead_queued = False
        self._from_front_end = False
        # True while a message from the view is answered: a click never rewrites the
        # saved snapshot (docs/design.md §2); the hook after the next cell does.
        self._answering = False
        super().__init__(
            tokens=tokens,
            T=stepper.T,
            **_describe(model),
            prediction_labels=labels,
            title=_check_token(title, "title"),
            hidden_size=model.hidden_size,
            input_size=model.input_size,
            speed=speed,
            _widget_id=uuid.uuid4().hex,
            **kwargs,
        )
        # JupyterLab may deliver the front end's messages on a kernel subshell
        # thread while a cell runs; they are handed to the main thread's loop,
        # so they wait for the cell to end (docs/design.md §4) and never race it.
        self._main_loop = cell_loop()
        self.on_msg(self._on_custom_msg)
        self._rebuild_snapshot()
        refresh_after_each_cell(self)

    @classmethod
    def from_text(cls, text_model, text: str | Sequence[str], **kwargs) -> AttentionWidget:
        """A widget over ``text`` read by a ``TextRNN`` (its ``.rnn`` and ``.embed_text``)."""
        if not hasattr(text_model, "embed_text") or not hasattr(text_model, "rnn"):
            raise TypeError(
                "text_model must be a TextRNN (with .embed_text and .rnn), "
                f"got {type(text_model).__name__}"
            )
        tokens, x, unknown = _read_words(text_model, text)
        head = getattr(text_model, "out", None)
        if head is not None and "head" not in kwargs:
            kwargs["head"] = head
            kwargs.setdefault("labels", _head_labels(text_model))
        widget = cls(text_model.rnn, tokens=tokens, inputs=x, **kwargs)
        widget._text_model = text_model
        widget._text = _derived(text_model, tokens)
        with widget.hold_sync():
            widget.unknown = unknown
            widget.accepts_text = True
            vocab = getattr(text_model, "vocab", None)
            if isinstance(vocab, Vocab):
                widget.vocabulary = [w for w in vocab.to_list() if w != PAD]
        return widget

    # -- the model's side ----------------------------------------------------

    @property
    def model(self) -> SelfAttentionRNN | LSTMN:
        return self._model

    @property
    def stepper(self):
        """The kernel-side :class:`Stepper`; its position follows ``t``."""
        return self._stepper

    @property
    def inputs(self) -> Tensor:
        """x_1 … x_T, shape (T, D)."""
        return self._stepper.x

    def sensitivity(self, k: int | None = None) -> Tensor:
        """How much h_k depends on each input read so far: ‖∂h_k/∂x_i‖_F, i = 1 … k.

        The gradient view of forgetting (:func:`~attn_widget.core.input_sensitivity`
        on x_1 … x_k): in eq1 it falls geometrically with the distance k − i; with
        attention it need not.  ``k`` defaults to the current position; the
        result has shape (k,), entry i − 1 for x_i.  With ``shading =
        "gradient"`` the widget shades the tokens by it, on a log scale.
        """
        k = self.t if k is None else _check_position(k, self.T, "sensitivity position")
        if k == 0:
            return self.inputs.new_zeros(0)
        return input_sensitivity(self._model, self.inputs[:k])

    @tl.validate("shading")
    def _valid_shading(self, proposal):
        if proposal["value"] not in self.SHADINGS:
            raise tl.TraitError(
                f"shading must be one of {self.SHADINGS}, got {proposal['value']!r}"
            )
        return proposal["value"]

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
    def current(self) -> Step | LSTMNStep | None:
        """The step shown at the current position (step t-1), or None at t = 0."""
        return self._stepper.steps[self.t - 1] if self.t else None

    # -- moving ----------------------------------------------------------------

    def step(self, x_next: Tensor | None = None, *, token: str | None = None) -> Step:
        """Move to t+1 and return the step shown there.

        With ``x_next`` (shape (D,)) it is a what-if: x_{t+1} is replaced (or
        appended at the end, which needs ``token``), later steps are dropped,
        the data version is bumped and the new step runs.
        """
        if x_next is not None:
            self.edit(self.t + 1, token, x_next, move=True)
            return self.current
        if self.t >= self.T:
            raise ValueError(
                f"cannot step past the end: t = {self.t} = T; pass step(x_next, token=...) "
                "to append an input"
            )
        self.t += 1
        return self.current

    def back(self) -> Step | LSTMNStep | None:
        """Move to t-1 (no-op at 0)."""
        if self.t > 0:
            self.t -= 1
        return self.current

    def goto(self, k: int) -> Step | LSTMNStep | None:
        """Move to position k (0 … T), computing any steps not yet run."""
        self.t = _check_position(k, self.T, "goto position")
        return self.current

    def reset(self) -> None:
        """Back to position 0 and stop playing.  Computed steps stay."""
        with self.hold_sync():
            self.playing = False
            self.t = 0

    def play(self) -> None:
        """Ask the front end to play forward at ``speed`` steps per second."""
        if self.t >= self.T:
            self.t = 0
        self.playing = True

    def pause(self) -> None:
        self.playing = False

    # -- what changes the data -------------------------------------------------

    @serialised
    def edit(self, i: int, token: str | None, x: Tensor, *, move: bool = False) -> None:
        """Replace input x_i (1 … T) and its token, or append one at i = T+1.

        Steps from step i-1 on depended on the old input: they are dropped and
        the data version is bumped.  The position stays (clamped to the new T)
        unless ``move``, which goes to i.
        """
        self._refuse_if_compared()
        if isinstance(i, bool) or not isinstance(i, (int, np.integer)):
            raise TypeError(f"edit index must be an int in 1 … T+1 = {self.T + 1}, got {i!r}")
        i = int(i)
        if not 1 <= i <= self.T + 1:
            raise ValueError(f"edit index must be in 1 … T+1 = {self.T + 1}, got {i}")
        if token is None:
            if i == self.T + 1:
                raise ValueError("appending an input needs its token text: token=...")
            token = self.tokens[i - 1]
        token = _check_token(token, "token")
        x = self._stepper.check_input(x)  # before anything moves: a bad x changes nothing
        self._edit(i, token, x, move=move, word=_FREE)

    def replace(self, i: int, word: str) -> None:
        """A what-if: x_i (1 … T) becomes the embedding of ``word``, a word of the
        text model's vocabulary (``vocabulary``), as a click on a token does.

        Steps from step i-1 on are recomputed; earlier steps stay as they were.
        :meth:`undo` takes it back.  Needs a widget made by :meth:`from_text`."""
        self._refuse_if_compared()
        i = self._check_edit_index(i)
        if not self.vocabulary:
            raise ValueError(
                "replace(i, word) needs a text model's vocabulary (AttentionWidget.from_text); "
                "for vector inputs use edit(i, token, x) or zero_input(i)"
            )
        word = _check_token(word, "word")
        if word not in self.vocabulary:
            near = [v for v in self.vocabulary if v.startswith(word[:2])][:8]
            hint = f"; words that start alike: {near}" if near else ""
            raise ValueError(f"{word!r} is not in the model's vocabulary{hint}"[:300])
        with torch.no_grad():
            x = self._text_model.embed_text([word])[1][0].detach()
        self._edit(i, word, x.to(self._param()), move=False, word=word)

    def zero_input(self, i: int) -> None:
        """A what-if: x_i (1 … T) becomes the zero vector, shown as ``ZERO_INPUT``
        (⟨0⟩).  Steps from step i-1 on are recomputed; :meth:`undo` takes it back."""
        self._refuse_if_compared()
        i = self._check_edit_index(i)
        zeros = self._param().new_zeros(self._model.input_size)
        self._edit(i, ZERO_INPUT, zeros, move=False, word=None)

    @serialised
    def undo(self) -> bool:
        """Take back the last edit (from the view, :meth:`replace`, :meth:`zero_input`
        or :meth:`edit`): its tokens and inputs come back, and the steps are
        recomputed.  Returns False when there is nothing to undo."""
        self._refuse_if_compared()
        if not self._history:
            return False
        tokens, x, text, unknown = self._history[-1]
        self._stepper.set_inputs(x.to(self._param()))  # the model may have changed dtype since
        self._history.pop()
        self._text = text  # a new version re-embeds it if the embedding changed since
        with self.hold_sync():
            self.unknown = unknown
            self.edits = self.edits[:-1]
        self._new_version(min(self.t, self._stepper.T), tokens=tokens, reason="reset")
        return True

    @serialised
    def read_text(self, text: str | Sequence[str]) -> None:
        """Read a new sentence with the text model's own tokenizer and vocabulary,
        back at position 0, as the view's text box does.  Words the vocabulary
        lacks are read as ``<unk>`` and shown so (``unknown`` lists them, as the
        tokenizer gave them).  Needs a widget made by :meth:`from_text`."""
        self._refuse_if_compared()
        if self._text_model is None:
            raise ValueError(
                "read_text needs a text model: build the widget with "
                "AttentionWidget.from_text(text_model, text)"
            )
        tokens, x, unknown = _read_words(self._text_model, text)
        probe = self._model.stepper(x.to(self._param()))
        tokens = _check_tokens(tokens, probe.T)  # before anything changes
        self._stepper = probe
        self._text = _derived(self._text_model, tokens)
        self._history.clear()
        with self.hold_sync():
            self.unknown = unknown
            self.edits = []
        self._new_version(0, tokens=tokens, reason="reset")

    def _param(self) -> Tensor:
        """A parameter of the model: what new inputs take their dtype and device from."""
        return _first_param(self._model)

    def _check_edit_index(self, i) -> int:
        if isinstance(i, bool) or not isinstance(i, (int, np.integer)):
            raise TypeError(f"the input to edit must be an int in 1 … T = {self.T}, got {i!r}")
        if not 1 <= int(i) <= self.T:
            raise ValueError(f"the input to edit must be in 1 … T = {self.T}, got {int(i)}")
        return int(i)

    @serialised
    def _edit(self, i: int, token: str, x: Tensor, *, move: bool, word) -> None:
        """Put x (D,) and its token at input i, keeping the steps before step i-1.
        ``word``: the word the text model embedded into x, None for a zero input, or
        _FREE for an x from elsewhere (the inputs no longer follow the embedding)."""
        s = self._stepper
        self._follow_the_weights()
        before = (list(self.tokens), s.x.clone(), self._text, list(self.unknown))
        keep_k = self.t
        try:
            s.goto(i - 1)
            s.step(x.to(s.x))  # drops steps ≥ i-1; computes step i-1
        except Exception:
            # The inputs may now hold the new x_i (the step after it failed) or not:
            # a new version with the tokens as they were says so to the front end.
            s.set_inputs(before[1])
            self._new_version(min(keep_k, s.T), reason="reset")
            raise
        tokens = list(self.tokens)
        old = tokens[i - 1] if i <= len(tokens) else ""
        if i == len(tokens) + 1:
            tokens.append(token)
        else:
            tokens[i - 1] = token
        if self._text is not None and word is not _FREE:
            text_model, words, slots, stamp = self._text
            words = list(words)
            words[i - 1 : i] = [word]
            self._text = (text_model, words, slots, stamp)
        else:
            self._text = None  # the inputs are no longer all the text model's embedding
        self._history.append(before)
        with self.hold_sync():
            self.unknown = [pair for pair in self.unknown if pair[0] != i]
            self.edits = [*self.edits, [i, old, token]]
        self._new_version(i if move else min(keep_k, s.T), tokens=tokens, reason="reset")

    @serialised
    def set_inputs(self, tokens: Sequence[str] | None, x: Tensor) -> None:
        """Show a new sequence: x (T, D) with its tokens; back to position 0."""
        self._refuse_if_compared()
        probe = self._model.stepper(x)  # validates before anything changes
        tokens = _check_tokens(
            tokens if tokens is not None else [f"x{i}" for i in range(1, probe.T + 1)], probe.T
        )
        self._stepper = probe
        self._text = None
        self._history.clear()
        with self.hold_sync():
            self.unknown = []
            self.edits = []
        self._new_version(0, tokens=tokens, reason="reset")

    def refresh(self) -> None:
        """Recompute after the weights changed (a training update), keeping the position."""
        self._stepper.truncate(0)
        self._new_version(self.t, reason="reset")

    def push_trace(self) -> None:
        """For a training loop: recompute up to the current t and push it in one message.

        Front-end messages wait while a cell runs (docs/design.md §4), so the kernel
        pushes.  The saved-state snapshot is not rebuilt (call :meth:`snapshot`).
        """
        self._stepper.truncate(0)
        self._new_version(self.t, reason="trace", snapshot=False)

    def snapshot(self) -> None:
        """Store every step computed so far in the saved widget state.

        This runs by itself after every notebook cell in which the widget
        computed new steps, so a saved notebook shows what its cells computed;
        clicks in the front end never trigger it.  It holds the steps from
        step 0 on that fit in ``STEP_DATA_LIMIT`` bytes; a reader without a
        kernel is told on screen where the saved steps end.
        """
        self._pack_snapshot(self._stepper.steps)

    def trace(self):
        """The computed steps as a Trace, like ``model(x)`` up to the frontier."""
        return self._stepper.trace()

    # -- internals ---------------------------------------------------------------

    @serialised
    def _new_version(
        self, k: int, *, tokens: list[str] | None = None, reason: str, snapshot: bool = True
    ) -> None:
        s = self._stepper
        self._follow_the_weights()
        k = min(k, s.T)
        self._bulk = True
        try:
            with self.hold_sync():
                self.version += 1
                if tokens is not None:
                    self.tokens = tokens
                self.T = s.T
                if self.t == k:
                    s.goto(k)
                self.t = k
                self.status = ""
        except Exception:
            # The new version stands with the steps that did run: the position
            # falls back to the last of them, and the front end is told.
            if self.t > s.frontier:
                self.t = s.frontier
            self.frontier = s.frontier
            self._sent = 0
            self._push_steps(self.t, reason=reason, always=True)
            raise
        finally:
            self._bulk = False
        self.frontier = s.frontier
        if snapshot and not self._answering:  # a click never rewrites the saved state
            self._rebuild_snapshot()
        self._sent = 0
        self._push_steps(self.t, reason=reason, always=True)
        self._queue_ahead()

    def _refuse_if_compared(self) -> None:
        if self._compared:
            raise ValueError(
                "this widget is a panel of a comparison, whose panels read the same inputs "
                "in lockstep: its inputs cannot change alone; build a new compare(...) instead"
            )

    def _follow_the_model(self) -> None:
        """As a move does: if the model, its head or its embedding changed, recompute
        every step with what they are now (a new version, sent to the front end)."""
        if self._stale():
            self._new_version(self.t, reason="reset")

    def _stale(self) -> bool:
        """True when what the shown steps were computed from has changed: the
        model's weights, the head's, or (for from_text) the embedding."""
        if self._stepper.weights_changed():
            return True
        if _weight_stamp(self._head_slots) != self._head_stamp:
            return True
        return self._text is not None and _weight_stamp(self._text[2]) != self._text[3]

    def _follow_the_weights(self) -> None:
        """After the weights changed (a training update, an in-place edit,
        ``model.double()``), drop every step so all are recomputed with the new
        ones, never mixed; inputs follow the model's dtype and device, and a
        from_text widget re-embeds its tokens when the embedding changed."""
        s = self._stepper
        param = self._param()
        if self._text is not None and _weight_stamp(self._text[2]) != self._text[3]:
            text_model, words, slots, _ = self._text
            s.set_inputs(_embed_words(text_model, words).to(param))  # forgets every step
            self._text = (text_model, words, slots, _weight_stamp(slots))
        elif s.x.dtype != param.dtype or s.x.device != param.device:
            s.set_inputs(s.x.to(param))  # forgets every step
        elif s.weights_changed():
            s.truncate(0)
        self._head_stamp = _weight_stamp(self._head_slots)  # a new version re-sends its top k

    def _rebuild_snapshot(self) -> None:
        if self._precompute:
            self._stepper.goto(self._stepper.T)
            self._stepper.goto(self.t)
            self.frontier = self._stepper.frontier
        self._pack_snapshot(self._stepper.steps if self._precompute else [])

    def _pack_snapshot(self, steps: Sequence[Step]) -> None:
        sent = self._with_predictions(steps)
        kept = steps_within(sent, STEP_DATA_LIMIT)
        self._snapshot = pack_snapshot(self.version, sent[:kept], computed=len(steps))
        self._snapshot_holds = (self.version, len(steps))

    def _snapshot_after_cell(self) -> None:
        """Refresh the snapshot if a cell computed steps it lacks (see :meth:`snapshot`)."""
        steps = self._stepper.steps
        if self.comm is None or self._snapshot_holds == (self.version, len(steps)):
            return
        self.snapshot()

    def __repr__(self) -> str:
        rule = self.update_rule + (f"/{self.align_name}" if self.align_name else "")
        words = " ".join(self.tokens[:8]) + (" …" if self.T > 8 else "")
        return f"AttentionWidget({rule}, read {self.t} of {self.T}: {words!r})"

    def _with_predictions(self, steps: Sequence[Step | LSTMNStep], top: int | None = None) -> list:
        """The steps as they go on the wire: with the head's top-k prediction from
        each step's h, softmax(head(h_{t+1})), when the widget has a head."""
        if self._head is None:
            return list(steps)
        if not steps:
            return []
        try:
            probs = _head_probabilities(self._head, torch.stack([s.h for s in steps]))
        except Exception as error:  # a move completes; the status line says why
            self.status = f"error: the head could not predict: {error}"[:300]
            return list(steps)
        top = probs.topk(min(top or self._top_k, probs.shape[-1]), dim=-1)
        return [
            _Predicted(step, p, i.float())
            for step, p, i in zip(steps, top.values, top.indices, strict=True)
        ]

    def prediction(self, k: int | None = None, *, top: int | None = None) -> dict[str, float]:
        """What the head predicts at position k (default: the current one) from h_k:
        ``{label: probability}`` for the ``top`` most likely labels (default: the
        widget's ``top_k``, the ones it shows), largest first.  Empty at k = 0 or
        without a head."""
        k = self.t if k is None else _check_position(k, self.T, "prediction position")
        if top is not None:
            if isinstance(top, bool) or not isinstance(top, (int, np.integer)) or top < 1:
                raise ValueError(f"top must be a positive int, got {top!r}")
            top = int(top)
        if self._head is None or k == 0:
            return {}
        self._follow_the_model()
        self._stepper.compute(k)
        (step,) = self._with_predictions([self._stepper.steps[k - 1]], top)
        labels = self.prediction_labels
        return {labels[int(i)]: float(p) for p, i in zip(step.pred_p, step.pred_i, strict=True)}

    def figure(self, position: int | None = None, *, strips: bool = True):
        """The widget at position k (default: the current one) as a matplotlib
        ``Figure``: the tokens with x_k red and earlier slots shaded by α, the α
        matrix up to step k-1, and (``strips``) the state strips, in the widget's
        colour scales.  ``fig.savefig("step.svg")`` for a paper or slides.  Needs
        matplotlib (in the ``lab`` extra)."""
        try:
            from .figure import step_figure
        except ImportError as error:
            raise ImportError("w.figure() draws with matplotlib: pip install matplotlib") from error
        self._follow_the_model()
        return step_figure(self, position, strips=strips)

    def save_html(self, path, *, all_steps: bool = True, title: str | None = None) -> str:
        """Write this widget as one HTML page that steps, plays and scrubs offline,
        opened from a file, with no kernel: the same view, from the steps computed
        here (all of them, unless ``all_steps=False``), at most ``STEP_DATA_LIMIT``
        bytes of them.  Returns the page's text.  See :func:`attn_widget.export.to_html`."""
        from .export import to_html

        return to_html(self, path, all_steps=all_steps, title=title)

    def _send_steps(self, steps: Sequence, *, reason: str) -> None:
        """Send steps (already with their predictions, see _with_predictions)."""
        descriptors, data = encode_steps(steps)
        self.send(
            {
                "type": "steps",
                "version": self.version,
                "frontier": self._stepper.frontier,
                "T": self.T,
                "reason": reason,
                "steps": descriptors,
            },
            buffers=[data],
        )

    def _reply_error(self, message: str, request: str | None = None) -> None:
        self.status = f"error: {message}"
        self.send({"type": "error", "message": message, "request": request})

    @staticmethod
    def _check_speed(speed) -> float:
        if isinstance(speed, bool) or not isinstance(speed, (int, float)) or speed != speed:
            raise TypeError(f"speed must be a number of steps per second, got {speed!r}")
        lo, hi = AttentionWidget.MIN_SPEED, AttentionWidget.MAX_SPEED
        if not lo <= speed <= hi:
            raise ValueError(f"speed must be in {lo} … {hi} steps per second, got {speed}")
        return float(speed)

    @tl.validate("t")
    def _validate_t(self, proposal):
        k = proposal["value"]
        if self._from_front_end and not 0 <= k <= self.T:
            return min(max(k, 0), self.T)  # the front end hears back the clamped value
        return _check_position(k, self.T)

    @tl.validate("speed")
    def _validate_speed(self, proposal):
        speed = proposal["value"]
        if self._from_front_end:
            return min(max(speed, self.MIN_SPEED), self.MAX_SPEED)
        return self._check_speed(speed)

    @tl.observe("t")
    @serialised
    def _on_t(self, change) -> None:
        s = self._stepper
        if not self._bulk and self._stale():
            self._new_version(self.t, reason="reset")  # recomputes every step
            return
        try:
            s.goto(self.t)  # the latest value: another thread may have moved it since
        except Exception:
            # A move completes or leaves the position as it was; the steps that
            # did run before the failure are valid, so they are kept and sent.
            if not self._bulk:
                self._push_steps(s.frontier, reason="step")
            self.playing = False  # or Play would ask for the failing step at every tick
            self.t = change["old"]
            raise
        if self.t >= self.T and self.playing:
            self.playing = False
        if not self._bulk:  # a bulk move (a new version) sends its own steps
            self._push_steps(self.t, reason="step")
            self._queue_ahead()

    def _queue_ahead(self) -> None:
        """Compute ahead of the position once the current message is answered."""
        if self._ahead_queued or not loop_is_live(self._main_loop):
            return
        self._ahead_queued = True
        self._main_loop.call_soon_threadsafe(self._compute_ahead)

    @serialised
    def _compute_ahead(self) -> None:
        """Compute up to AHEAD_STEPS steps past the position (for at most
        AHEAD_SECONDS) and push them; a step that fails is left for the move that
        needs it to report."""
        self._ahead_queued = False
        s = self._stepper
        if self.comm is None or self._stale():
            return
        goal, deadline = min(s.T, self.t + AHEAD_STEPS), time.perf_counter() + AHEAD_SECONDS
        try:
            while s.frontier < goal and time.perf_counter() < deadline:
                s.compute(s.frontier + 1)
        except Exception:
            pass
        self._push_steps(s.frontier, reason="ahead")

    def _push_steps(self, k: int, *, reason: str, always: bool = False) -> None:
        """Send what position k needs that the front end was not sent: the steps
        before k, then computed steps beyond it that fit in ``STEP_DATA_LIMIT``
        bytes (so a precomputed widget's next clicks need no round trip).

        ``self._sent`` counts the steps of this version sent so far, from step 0.
        ``always`` sends a message even when it holds no step (a new version)."""
        s = self._stepper
        self.frontier = s.frontier
        lo = min(self._sent, s.frontier)
        if k <= lo and not always:
            return
        ahead = self._with_predictions(s.steps[lo:])
        hi = min(s.frontier, max(k, lo + steps_within(ahead, STEP_DATA_LIMIT)))
        self._sent = max(self._sent, hi)
        self._send_steps(ahead[: hi - lo], reason=reason)

    def set_state(self, sync_data):
        """State from the front end: a bad value gets an error reply, never an exception."""
        if not defer_to_loop(self._main_loop, self._apply_state, sync_data):
            self._apply_state(sync_data)

    @serialised
    def _apply_state(self, sync_data) -> None:
        sync_data = dict(sync_data)
        problems = []
        unknown = sorted(key for key in sync_data if key not in self.keys)  # synced traits
        if unknown:
            problems.append(f"{unknown} are not traits of this widget; ignored")
            for key in unknown:
                del sync_data[key]
        kernel_owned = sorted(set(sync_data) - set(self.FRONT_END_TRAITS))
        if kernel_owned:  # T, frontier, version, tokens, … describe the kernel's data
            problems.append(f"{kernel_owned} are set by the kernel only; ignored")
            for key in kernel_owned:
                del sync_data[key]
            self.send_state(kernel_owned)  # put the front end back on the kernel's values
        expected = {
            "t": "an int",
            "speed": "a number (not NaN)",
            "playing": "a bool",
            "shading": "a str",
        }
        for key, kind in (("t", int), ("speed", (int, float)), ("playing", bool), ("shading", str)):
            if key not in sync_data:
                continue
            value = sync_data[key]
            ok = isinstance(value, kind) and (kind is bool or not isinstance(value, bool))
            if ok and key == "t" and not 0 <= value <= self.T:
                problems.append(f"t = {value} is outside 0 … T = {self.T}; clamped")
            if ok and key == "shading" and value not in self.SHADINGS:
                problems.append(f"shading must be one of {self.SHADINGS}, got {value!r}; ignored")
                del sync_data[key]
                self.send_state(key)
                continue
            if ok and key == "speed" and value != value:
                ok = False  # NaN: refused like a wrong type
            if ok and key == "speed" and not (self.MIN_SPEED <= value <= self.MAX_SPEED):
                problems.append(f"speed = {value} is outside {self.MIN_SPEED} … {self.MAX_SPEED}")
            if not ok:
                problems.append(f"{key} must be {expected[key]}, got {value!r}; ignored")
                del sync_data[key]
                self.send_state(key)  # put the front end back on the kernel's value
        self._from_front_end = True
        try:
            super().set_state(sync_data)
        except Exception as error:  # a widget must never take the kernel down
            problems.append(f"could not apply {sorted(sync_data)}: {error}")
            self.send_state()
        finally:
            self._from_front_end = False
        if problems:
            self._reply_error("; ".join(problems), "update")

    def _on_custom_msg(self, _widget, content, buffers) -> None:
        if not defer_to_loop(self._main_loop, self._answer, content, buffers):
            self._answer(content, buffers)

    @serialised
    def _answer(self, content, buffers) -> None:
        """A custom message from the front end: an error reply, never an exception."""
        request = content.get("type") if isinstance(content, dict) else None
        if not isinstance(request, str):
            request = None
        try:
            if not isinstance(content, dict):
                raise ValueError(f"a message must be a JSON object, got {type(content).__name__}")
            answers = {
                "sync": self._answer_sync,
                "sensitivity": self._answer_sensitivity,
                "ping": lambda _content: self.send({"type": "pong"}),
                "edit": self._answer_edit,
                "undo": self._answer_undo,
                "text": self._answer_text,
            }
            if request not in answers:
                raise ValueError(
                    f"unknown message type {request!r}; expected one of {FRONT_END_MESSAGES}"
                )
            self._answering = True
            try:
                answers[request](content)
            finally:
                self._answering = False
        except Exception as error:
            self._reply_error(str(error), request)

    def _answer_sync(self, content: dict) -> None:
        version, have = content.get("version", -1), content.get("have", 0)
        for name, value in (("version", version), ("have", have)):
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError(f"sync.{name} must be an int, got {value!r}")
        start = have if version == self.version else 0
        self._sent = min(max(start, 0), self._stepper.frontier)  # the front end has these
        self._push_steps(self.t, reason="sync", always=True)
        self._queue_ahead()

    def _answer_sensitivity(self, content: dict) -> None:
        version, k = content.get("version"), content.get("k")
        for name, value in (("version", version), ("k", k)):
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError(f"sensitivity.{name} must be an int, got {value!r}")
        if version != self.version:
            return  # asked about data that has since changed: the front end asks again
        values = self.sensitivity(k).detach().to("cpu", torch.float32).contiguous()
        reply = {"type": "sensitivity", "version": version, "k": k}
        if k == 0:
            self.send({**reply, "values": None})
            return
        array = {"buffer": 0, "dtype": "float32", "shape": [k], "offset": 0}
        self.send({**reply, "values": array}, buffers=[values.numpy().tobytes()])

    def _refuse_view_edits(self, content: dict) -> None:
        if not self.editable:
            raise ValueError("this widget's inputs cannot be edited from the view")
        version = content.get("version")
        if isinstance(version, bool) or not isinstance(version, int):
            raise ValueError(f"{content.get('type')}.version must be an int, got {version!r}")
        if version != self.version:
            raise ValueError("the inputs changed before this edit arrived; it was not applied")

    def _answer_edit(self, content: dict) -> None:
        """A what-if from the view: x_i becomes a vocabulary word, or zero."""
        self._refuse_view_edits(content)
        i, token = content.get("i"), content.get("token")
        if token is None:
            self.zero_input(i)
        elif isinstance(token, str):
            self.replace(i, token)
        else:
            raise ValueError(f"edit.token must be a word of the vocabulary or null, got {token!r}")

    def _answer_undo(self, content: dict) -> None:
        self._refuse_view_edits(content)
        if not self.undo():
            raise ValueError("there is no edit to undo")

    def _answer_text(self, content: dict) -> None:
        """The view's text box: read this sentence instead."""
        if not (self.editable and self.accepts_text):
            raise ValueError("this widget does not read typed text")
        text = content.get("text")
        if not isinstance(text, str):
            raise ValueError(f"text.text must be a str, got {type(text).__name__}")
        if len(text) > MAX_TEXT_CHARS:
            raise ValueError(
                f"the sentence is {len(text)} characters long; at most {MAX_TEXT_CHARS} are read"
            )
        self.read_text(text)
