"""An output head beside the recurrent model: what a session predicts from each h.

The head maps states h (…, H) to logits (…, C).  Each step a session shows
then carries softmax(head(h_{t+1}))'s top k, largest first (``pred_p``) with
their class indices (``pred_i``); the class names are the head's labels.  The
head is not part of the recurrent model: the prediction is the one number a
session computes from a step record (docs/design.md §6).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from ..core import WeightWatch
from ..protocol import MAX_TOP_K
from .checks import check_token


def first_param(module: nn.Module) -> Tensor:
    """A parameter of ``module``: what its inputs take their dtype and device from."""
    return next(module.parameters(), torch.empty(0))


@dataclass(frozen=True)
class Predicted:
    """A step as sent with a head: the step's own fields, and the head's top k."""

    step: object  # a Step, an LSTMNStep or another StepModel's record
    pred_p: Tensor  # (k,) probabilities, largest first
    pred_i: Tensor  # (k,) their class indices, as float32

    def __getattr__(self, name: str):
        return getattr(self.step, name)


class Head:
    """An output head, its C class names and how many of them a step shows.

    Build one with :func:`make_head`, which checks the head against the model.

    Attributes:
        module: the head, h (…, H) → logits (…, C).
        labels: the C class names.
        top_k: how many classes each step carries.
    """

    def __init__(self, module: nn.Module, labels: list[str], top_k: int):
        self.module, self.labels, self.top_k = module, labels, top_k
        self.watch = WeightWatch(module)

    def probabilities(self, h: Tensor) -> Tensor:
        """softmax(head(h)) for states h (N, H), with the head in eval mode (no
        dropout, batch norm's running statistics) and put back as it was.

        Raises ValueError when a weight of the head, or its output, is NaN or Inf:
        the probabilities would be NaN, shown as if they were numbers."""
        check_head_finite(self.module)
        training = self.module.training
        self.module.eval()
        try:
            with torch.no_grad():
                logits = self.module(h.to(first_param(self.module))).float()
        finally:
            self.module.train(training)
        if not bool(torch.isfinite(logits).all()):
            raise ValueError(
                "the output head gave NaN or Inf logits for finite states h (its weights "
                "are too large for float arithmetic)"
            )
        return torch.softmax(logits, dim=-1)

    def predicted(self, steps: Sequence, top: int | None = None) -> list[Predicted]:
        """Each step with the head's ``top`` (default: top_k) classes from its h."""
        if not steps:
            return []
        probs = self.probabilities(torch.stack([s.h for s in steps]))
        best = probs.topk(min(top or self.top_k, probs.shape[-1]), dim=-1)
        return [
            Predicted(step, p, i.float())
            for step, p, i in zip(steps, best.values, best.indices, strict=True)
        ]

    def changed(self) -> bool:
        """Whether the head's weights changed since the steps shown were predicted."""
        return self.watch.changed()

    def followed(self) -> None:
        """The steps shown are predicted anew (a new version): watch from now on."""
        self.watch = self.watch.renewed()


def check_head_finite(module: nn.Module) -> None:
    """Raise ValueError naming the first weight of the head that holds NaN or Inf."""
    for name, p in module.named_parameters():
        if not bool(torch.isfinite(p).all()):
            raise ValueError(
                f"the output head's weight {name} holds NaN or Inf: its predictions would be "
                "NaN (was it trained with too large a learning rate?)"
            )


def head_labels(text_model) -> list[str]:
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


def make_head(head, labels, top_k, model) -> Head | None:
    """The output head (h (…, H) → logits (…, C)) checked against ``model``'s H,
    with its C labels (``class i`` by default) and how many to show."""
    if isinstance(top_k, bool) or not isinstance(top_k, int) or not 1 <= top_k <= MAX_TOP_K:
        raise ValueError(f"top_k must be an int in 1 … {MAX_TOP_K}, got {top_k!r}")
    if head is None:
        if labels is not None:
            raise ValueError("labels name the classes of a head: give head= too")
        return None
    if not isinstance(head, nn.Module):
        raise TypeError(f"head must be an nn.Module mapping h to logits, got {type(head).__name__}")
    check_head_finite(head)
    checked = Head(head, [], top_k)
    try:
        probs = checked.probabilities(first_param(model).new_zeros(2, model.hidden_size))
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
        checked.labels = [f"class {i}" for i in range(n)]
        return checked
    if isinstance(labels, str) or not isinstance(labels, (list, tuple)):
        raise TypeError(f"labels must be a list of str, one per class, got {type(labels).__name__}")
    if len(labels) != n:
        raise ValueError(f"labels must name each of the head's C = {n} classes, got {len(labels)}")
    labels = [check_token(label, f"labels[{i}]") for i, label in enumerate(labels)]
    if len(set(labels)) != n:
        raise ValueError(f"labels must be distinct, got {labels!r}"[:300])
    checked.labels = labels
    return checked
