"""attn_widget: step through a recurrent network with self-attention, live in JupyterLab."""

from .core import SelfAttentionRNN, Step, Stepper, Trace

__version__ = "0.1.0"

__all__ = ["SelfAttentionRNN", "Step", "Stepper", "Trace", "__version__"]
