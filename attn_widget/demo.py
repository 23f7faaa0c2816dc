"""Ready-made widgets on the shipped demo models: no training, no network.

    from attn_widget import demo
    demo()                          # lookup, eq4 / dot, opened at the step that answers
    demo("lookup", update="eq1")    # the SimpleRNN baseline on the same sequence
    demo("recall", update="lstmn")  # the paper's LSTMN on long-range recall

The models live in ``attn_widget/checkpoints/`` (made by
``scripts/make_checkpoints.py``).  Each checkpoint's metadata names its demo
sentence, the position to open at, how the sentence was picked
(``demo_pick``) and the held-out figures measured on the model
(``held_out``; ``python -m benchmarks.lesson`` measures them afresh):

- ``lookup`` (the default): associative recall,
  ``k3 v7 k1 v2 … ? k1 .`` → ``v2``.  The widget opens at k = T, the step
  that reads ``.`` with weights chosen from the state that has read the
  query.  eq1 fails this task; eq4 finds the pair by content.
- ``recall``: ``d2 d5 … k1 d1 … d6 ?`` → ``k1``, the key anywhere in the
  first positions.  The widget opens at k = T, the step that reads ``?``.
- ``agreement``: ``the author that the teachers liked is famous .`` The widget
  opens at the verb's index, the step that reads the word before the verb.
  A control: eq1 solves it as well as eq4, so it does not need attention,
  and its sentence is a picked one (see its ``demo_pick``).

The demo sentences of lookup and recall are typical: the held-out sequence
whose weight on the answer-bearing state, at the answering step of the eq4
model, is the median.
"""

from __future__ import annotations

from collections.abc import Sequence

from .checkpoint import builtin_checkpoint, load_checkpoint
from .text import TextRNN

TASKS = ("lookup", "recall", "agreement")


def demo_model(task: str = "lookup", update: str = "eq4") -> TextRNN:
    """The shipped :class:`TextRNN` for ``task`` and ``update``; its metadata is ``.metadata``."""
    return load_checkpoint(builtin_checkpoint(task, update))


def demo(
    task: str = "lookup",
    *,
    update: str = "eq4",
    text: str | Sequence[str] | None = None,
    **widget_kwargs,
):
    """An :class:`~attn_widget.widget.AttentionWidget` on a shipped model, ready to explore.

    Args:
        task: ``"lookup"``, ``"recall"`` or ``"agreement"``.
        update: ``"eq4"`` (dot align), ``"eq3"`` (additive align), ``"eq1"``
            (the SimpleRNN baseline, no attention) or, for recall and agreement,
            ``"lstmn"`` (the LSTMN of Cheng, Dong & Lapata 2016, with its two tapes).
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
