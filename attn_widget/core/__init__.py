"""The PyTorch core: align functions, update rules and the self-attention RNN."""

from .align import ALIGN_NAMES, AdditiveAlign, DotAlign, make_align
from .cells import UPDATE_NAMES, z_layout
from .lstmn import LSTMN, LSTMNTrace
from .rnn import SelfAttentionRNN, Step, Stepper, Trace

__all__ = [
    "ALIGN_NAMES",
    "LSTMN",
    "UPDATE_NAMES",
    "AdditiveAlign",
    "DotAlign",
    "LSTMNTrace",
    "SelfAttentionRNN",
    "Step",
    "Stepper",
    "Trace",
    "make_align",
    "z_layout",
]
