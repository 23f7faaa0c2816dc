"""Ready-made widgets on the shipped demo models: no training, no network.

    from attn_widget import demo
    demo("agreement")               # eq4 / dot, opened at the step that decides the verb
    demo("recall", update="eq1")    # the SimpleRNN baseline on the recall sequence
    demo("agreement", update="lstmn")  # the paper's LSTMN on the same sentence

The models live in ``attn_widget/checkpoints/`` (made by
``scripts/make_checkpoints.py``); each checkpoint's metadata names its demo
sentence and the position to open at:

- ``agreement``: a sentence with an attractor of the other number between
  subject and verb, e.g. ``the paintings behind the old window are missing .``
  The widget opens at position k = index of the verb: the step that has just
  read the word before the verb and whose new state decides *is* or *are*.
  For eq4, ``scripts/make_checkpoints.py`` picks the sentence so that this
  step puts its largest weight α on the subject noun, not on the nearer
  attractor (a test checks it).
- ``recall``: ``k1 d1 d5 … d6 ?``.  The widget opens at k = T, the step that
  reads ``?`` and answers; eq4 weights the key's state most.
"""

from __future__ import annotations

from collections.abc import Sequence

from .checkpoint import builtin_checkpoint, load_checkpoint
from .text import TextRNN

TASKS = ("agreement", "recall")


def demo_model(task: str = "agreement", update: str = "eq4") -> TextRNN:
    """The shipped :class:`TextRNN` for ``task`` and ``update``; its metadata is ``.metadata``."""
    return load_checkpoint(builtin_checkpoint(task, update))


def demo(
    task: str = "agreement",
    *,
    update: str = "eq4",
    text: str | Sequence[str] | None = None,
    **widget_kwargs,
):
    """An :class:`~attn_widget.widget.AttentionWidget` on a shipped model, ready to explore.

    Args:
        task: ``"agreement"`` or ``"recall"``.
        update: ``"eq4"`` (dot align), ``"eq3"`` (additive align), ``"eq1"``
            (the SimpleRNN baseline, no attention) or, for agreement, ``"lstmn"``
            (the LSTMN of Cheng, Dong & Lapata 2016, with its two tapes).
        text: another sentence to read instead of the demo one (words from the
            task's vocabulary; others become ``<unk>``).  The widget then opens
            at the end of it.
        **widget_kwargs: passed to ``AttentionWidget`` (``speed``; ``precompute``, which
            defaults to True here: demo sentences are short).

    Returns:
        The widget, positioned at the step worth looking at (see the module
        docstring).  Works offline: everything comes from files in the package.
    """
    if task not in TASKS:
        raise ValueError(f"task must be one of {TASKS}, got {task!r}")
    model = demo_model(task, update)
    widget_kwargs.setdefault("precompute", True)  # a few tokens: a saved notebook holds them all
    from .widget import AttentionWidget  # lazily: `import attn_widget` needs no front end

    if text is None:
        widget = AttentionWidget.from_text(model, model.metadata["demo_text"], **widget_kwargs)
        widget.goto(int(model.metadata["demo_position"]))
    else:
        widget = AttentionWidget.from_text(model, text, **widget_kwargs)
        widget.goto(widget.T)
    return widget
