"""attn_widget: step through a recurrent network with self-attention, live in JupyterLab."""

from .checkpoint import load_checkpoint
from .core import (
    LSTMN,
    LSTMNStep,
    SelfAttentionRNN,
    Step,
    StepModel,
    Stepper,
    Trace,
    input_sensitivity,
)
from .demo import demo
from .session import Session

__version__ = "0.1.0"

__all__ = [
    "LSTMN",
    "AttentionWidget",
    "Compare",
    "LSTMNStep",
    "SelfAttentionRNN",
    "Session",
    "Step",
    "StepModel",
    "Stepper",
    "Trace",
    "__version__",
    "compare",
    "demo",
    "input_sensitivity",
    "load_checkpoint",
    "to_html",
]


def __getattr__(name: str):
    # The widget pulls in anywidget/ipywidgets; load it on first use so that
    # `import attn_widget` stays light and works without the front end built.
    if name == "AttentionWidget":
        from .widget import AttentionWidget

        return AttentionWidget
    if name in ("compare", "Compare"):
        from . import comparison

        return getattr(comparison, name)
    if name == "to_html":
        from .export import to_html

        return to_html
    raise AttributeError(f"module 'attn_widget' has no attribute {name!r}")
