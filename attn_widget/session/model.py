"""What a session needs of a model: that it can be stepped, and the names a front
end shows it by."""

from __future__ import annotations

from torch import nn

from ..core import StepModel


def check_model(model) -> None:
    """``model`` as a session steps it: an ``nn.Module`` that is a :class:`StepModel`."""
    if not (isinstance(model, nn.Module) and isinstance(model, StepModel)):
        hint = (
            "; for a TextRNN use AttentionWidget.from_text(text_model, text)"
            if hasattr(model, "rnn")
            else ""
        )
        raise TypeError(
            "model must be a SelfAttentionRNN, an LSTMN or another StepModel (an nn.Module "
            "with input_size, hidden_size, new_cache, step_record and trace_of_steps), "
            f"got {type(model).__name__}{hint}"
        )


def describe_model(model) -> dict:
    """What names the model's equations for a front end: ``update_rule``,
    ``align_name``, ``z_layout`` (the model's own, or the class name, "" and []
    for a model that names none), ``hidden_size``, ``input_size`` and
    ``zero_slot``: whether attention may read slot 0, h_0 = 0, so the sums run
    over i = 0 … t (the SimpleRNN models; an LSTMN unless made with
    ``zero_slot=False``, whose sums run over i = 1 … t)."""
    return {
        "update_rule": str(getattr(model, "update_rule", None) or type(model).__name__),
        "align_name": str(getattr(model, "align_name", None) or ""),
        "z_layout": [[str(name), int(size)] for name, size in getattr(model, "z_layout", ())],
        "hidden_size": model.hidden_size,
        "input_size": model.input_size,
        "zero_slot": bool(getattr(model, "zero_slot", True)),
    }
