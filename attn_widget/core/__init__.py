"""The PyTorch core: align functions, update rules, the self-attention RNN and the
LSTMN, the stepper and the :class:`StepModel` protocol any model can join it
through, and the gradient view of how much the last state depends on each input.

Modules: ``checks`` (input checks), ``align``, ``cells``, ``rnn`` (the model),
``bptt`` (its hand-written backward), ``lstmn``, ``stepper`` (``Stepper``,
``StepModel``), ``sensitivity``.
"""

from .align import ALIGN_NAMES, AdditiveAlign, DotAlign, make_align
from .cells import UPDATE_NAMES, z_layout
from .lstmn import LSTMN, LSTMNStep, LSTMNTrace
from .rnn import SelfAttentionRNN, Step, Trace
from .sensitivity import input_sensitivity
from .stepper import (
    StepModel,
    Stepper,
    StepRecord,
    WeightsChangedError,
    WeightWatch,
    alpha_of_steps,
    last_states,
    supports_knockout,
)

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
    "StepModel",
    "StepRecord",
    "Stepper",
    "Trace",
    "WeightWatch",
    "WeightsChangedError",
    "alpha_of_steps",
    "input_sensitivity",
    "last_states",
    "make_align",
    "supports_knockout",
    "z_layout",
]
