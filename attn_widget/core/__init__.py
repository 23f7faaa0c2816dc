"""The PyTorch core: align functions, update rules, the self-attention RNN, and the
gradient view of how much the last state depends on each input."""

from .align import ALIGN_NAMES, AdditiveAlign, DotAlign, make_align
from .cells import UPDATE_NAMES, z_layout
from .lstmn import LSTMN, LSTMNStep, LSTMNTrace
from .rnn import SelfAttentionRNN, Step, Stepper, Trace, WeightsChangedError, WeightWatch
from .sensitivity import input_sensitivity

__all__ = [
    "ALIGN_NAMES",
    "LSTMN",
    "UPDATE_NAMES",
    "AdditiveAlign",
    "DotAlign",
    "LSTMNStep",
    "LSTMNTrace",
    "SelfAttentionRNN",
    "Step",
    "Stepper",
    "Trace",
    "WeightWatch",
    "WeightsChangedError",
    "input_sensitivity",
    "make_align",
    "z_layout",
]
