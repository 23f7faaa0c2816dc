"""LSTMN: the Long Short-Term Memory-Network of Cheng, Dong & Lapata (2016, §3.1).

An LSTM whose single state is replaced by two tapes that grow by one slot a
step: a hidden tape h_0 … h_t and a memory tape m_0 … m_t (the paper writes
the memory cells c_i; here they are m_i, because c_t already names the
context of the SimpleRNN models).  h_0 = m_0 = 0, and the tapes hold every
slot from h_0 on, as in the rest of the project.

Step t (t = 0 … T-1) reads x_{t+1}.  It first attends over the tapes, scoring
each slot against the input and the previous step's summary h̃_{t-1}
(h̃_{-1} = 0):

    a_{t,i} = v·tanh(W_h h_i + W_x x_{t+1} + W_h̃ h̃_{t-1})     i = 0 … t
    α_{t,i} = softmax_i(a_{t,i})
    h̃_t = Σ_i α_{t,i} h_i          m̃_t = Σ_i α_{t,i} m_i

and then runs the LSTM gates on the attended summaries instead of on the
last state:

    [i; f; o; ĉ] = [σ; σ; σ; tanh](W·[h̃_t; x_{t+1}] + b)
    m_{t+1} = f ⊙ m̃_t + i ⊙ ĉ
    h_{t+1} = o ⊙ tanh(m_{t+1})

Where this departs from the paper, on purpose:

- **The h_0 = m_0 = 0 slot.** The paper's tapes hold only the states of the
  tokens read so far; here they start with an all-zero slot, as the
  SimpleRNN models' do, so the first step has something to attend to and
  the weights of step t always cover t + 1 slots.  Its hidden part scores
  v·tanh(W_x x_{t+1} + W_h̃ h̃_{t-1}), like any slot whose h_i is 0.
- **The gate bias b.** The paper writes the gates as W·[h̃_t; x_t] with no
  bias; here ``W`` is an ``nn.Linear`` with its bias b, as in torch's LSTM.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from .rnn import _check_sequence


@dataclass
class LSTMNTrace:
    """What an LSTMN run computed.

    Attributes:
        h: hidden tape h_0 … h_T, (…, T+1, H).
        m: memory tape m_0 … m_T, (…, T+1, H).
        alpha: weights, (…, T, T+1); row t holds α_{t,0 … t} and zeros for i > t.
        h_tilde: attended hidden summaries h̃_0 … h̃_{T-1}, (…, T, H).
        m_tilde: attended memory summaries m̃_0 … m̃_{T-1}, (…, T, H).
    """

    h: Tensor
    m: Tensor
    alpha: Tensor
    h_tilde: Tensor
    m_tilde: Tensor


class LSTMN(nn.Module):
    """Long Short-Term Memory-Network: an LSTM that attends over its own hidden and memory tapes.

    Args:
        input_size: D.
        hidden_size: H.
        attn_size: d, the width inside the additive score; defaults to H.

    Attributes:
        W_h, W_x, W_h_tilde: ``nn.Linear`` maps into the score space (no bias).
        v: ``nn.Linear(d, 1, bias=False)``.
        W: ``nn.Linear(H + D, 4H)``, the gates [i; f; o; ĉ] from [h̃_t; x_{t+1}]; ``W.bias`` is b.

    Shapes:
        x: (T, D) or (B, T, D) -> :class:`LSTMNTrace`.

    Example::

        >>> trace = LSTMN(3, 5)(torch.randn(4, 3))
        >>> trace.h.shape, trace.alpha.shape
        (torch.Size([5, 5]), torch.Size([4, 5]))
    """

    def __init__(self, input_size: int, hidden_size: int, attn_size: int | None = None):
        super().__init__()
        d = attn_size or hidden_size
        self.input_size, self.hidden_size, self.attn_size = input_size, hidden_size, d
        self.W_h = nn.Linear(hidden_size, d, bias=False)
        self.W_x = nn.Linear(input_size, d, bias=False)
        self.W_h_tilde = nn.Linear(hidden_size, d, bias=False)
        self.v = nn.Linear(d, 1, bias=False)
        self.W = nn.Linear(hidden_size + input_size, 4 * hidden_size)

    def forward(self, x: Tensor) -> LSTMNTrace:
        x, batched = _check_sequence(x, self, batched_ok=True)
        B, T, _ = x.shape
        H = self.hidden_size
        x_scores = self.W_x(x)  # (B, T, d), all steps at once
        h = [x.new_zeros(B, H)]  # hidden tape, h_0 = 0
        m = [x.new_zeros(B, H)]  # memory tape, m_0 = 0
        keys = [self.W_h(h[0])]  # W_h h_i, once per slot
        h_tilde = x.new_zeros(B, H)  # h̃_{-1} = 0
        alphas, h_tildes, m_tildes = [], [], []
        for t in range(T):
            query = x_scores[:, t] + self.W_h_tilde(h_tilde)  # (B, d)
            a = self.v(torch.tanh(torch.stack(keys, 1) + query[:, None])).squeeze(-1)
            alpha = torch.softmax(a, dim=-1)  # (B, t+1)
            h_tilde = (alpha[:, None] @ torch.stack(h, 1)).squeeze(1)  # (B, H)
            m_tilde = (alpha[:, None] @ torch.stack(m, 1)).squeeze(1)  # (B, H)
            i, f, o, c_hat = self.W(torch.cat([h_tilde, x[:, t]], -1)).chunk(4, dim=-1)
            m_next = torch.sigmoid(f) * m_tilde + torch.sigmoid(i) * torch.tanh(c_hat)
            h_next = torch.sigmoid(o) * torch.tanh(m_next)
            h.append(h_next)
            m.append(m_next)
            keys.append(self.W_h(h_next))
            alphas.append(F.pad(alpha, (0, T - t)))
            h_tildes.append(h_tilde)
            m_tildes.append(m_tilde)
        out = [torch.stack(v, 1) for v in (h, m, alphas, h_tildes, m_tildes)]
        if not batched:
            out = [v[0] for v in out]
        return LSTMNTrace(*out)
