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

from .rnn import (
    Stepper,
    _alpha_of_steps,
    _check_lengths,
    _check_sequence,
    _check_sizes,
    _check_weight_count,
    _check_weights_finite,
    _last_states,
    _unbatch,
)


@dataclass
class LSTMNTrace:
    """What an LSTMN run computed.

    Attributes:
        h: hidden tape h_0 … h_T, (…, T+1, H).
        m: memory tape m_0 … m_T, (…, T+1, H).
        alpha: weights, (…, T, T+1); row t holds α_{t,0 … t} and zeros for i > t.
        h_tilde: attended hidden summaries h̃_0 … h̃_{T-1}, (…, T, H).
        m_tilde: attended memory summaries m̃_0 … m̃_{T-1}, (…, T, H).
        lengths: the true length of each sequence in a padded batch, or None.
            Entries past a sequence's length are zero.
    """

    h: Tensor
    m: Tensor
    alpha: Tensor
    h_tilde: Tensor
    m_tilde: Tensor
    lengths: Tensor | None = None

    def last(self) -> Tensor:
        """h at each sequence's own end, h_{L}: shape (…, H)."""
        return _last_states(self.h, self.lengths)


@dataclass(frozen=True)
class LSTMNStep:
    """One step t of an unbatched sequence: the tensors the LSTMN's step used.

    Attributes:
        t: the step index; this step read x_{t+1} and wrote slot t+1 of both tapes.
        x: x_{t+1}, shape (D,).
        scores: a_{t,i} = v·tanh(W_h h_i + W_x x_{t+1} + W_h̃ h̃_{t-1}), i = 0 … t, (t+1,).
        alpha: α_{t,0 … t} = softmax(scores), shape (t+1,).
        h_tilde: h̃_t = Σ_i α_{t,i} h_i, shape (H,).
        m_tilde: m̃_t = Σ_i α_{t,i} m_i, shape (H,).
        i, f, o: the input, forget and output gates, σ(·), shape (H,) each.
        c_hat: ĉ_t = tanh(·), the candidate memory, shape (H,).
        m: m_{t+1} = f ⊙ m̃_t + i ⊙ ĉ_t, shape (H,).
        h: h_{t+1} = o ⊙ tanh(m_{t+1}), shape (H,).
    """

    t: int
    x: Tensor
    scores: Tensor
    alpha: Tensor
    h_tilde: Tensor
    m_tilde: Tensor
    i: Tensor
    f: Tensor
    o: Tensor
    c_hat: Tensor
    m: Tensor
    h: Tensor


class _Tapes:
    """The tapes h_0 … h_n and m_0 … m_n, each slot's key W_h h_i (projected once,
    when the slot is written), and the summaries h̃_{-1} = 0, h̃_0 … h̃_{n-1} that
    the next step's query reads.  Lists of (B, ·) tensors, so autograd can follow
    a batched run through them; the stepper cuts them back after an edit."""

    def __init__(self, model: LSTMN, batch: int, like: Tensor):
        zero = like.new_zeros(batch, model.hidden_size)  # (B, H)
        self.h, self.m = [zero], [zero]
        self.keys = [model.W_h(zero)]  # (B, d) each
        self.h_tilde = [zero]  # h_tilde[t] is h̃_{t-1}

    def cut(self, n: int) -> None:
        """Keep slots 0 … n (the state at position n), as before step n first ran."""
        for tape in (self.h, self.m, self.keys, self.h_tilde):
            del tape[n + 1 :]


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
        _check_sizes(input_size=input_size, hidden_size=hidden_size, attn_size=attn_size)
        _check_weight_count("lstmn", input_size, hidden_size, attn_size)
        d = attn_size or hidden_size
        self.input_size, self.hidden_size, self.attn_size = input_size, hidden_size, d
        self.W_h = nn.Linear(hidden_size, d, bias=False)
        self.W_x = nn.Linear(input_size, d, bias=False)
        self.W_h_tilde = nn.Linear(hidden_size, d, bias=False)
        self.v = nn.Linear(d, 1, bias=False)
        self.W = nn.Linear(hidden_size + input_size, 4 * hidden_size)

    def _weight_shapes(self) -> dict[str, tuple[int, ...] | None]:
        """Each parameter the step reads and the shape the sizes give it; None marks a
        bias the score's maps would add but the equations do not have."""
        H, D, d = self.hidden_size, self.input_size, self.attn_size
        return {
            "W_h.weight": (d, H),
            "W_x.weight": (d, D),
            "W_h_tilde.weight": (d, H),
            "v.weight": (1, d),
            "W.weight": (4 * H, H + D),
            "W.bias": (4 * H,),
            "W_h.bias": None,
            "W_x.bias": None,
            "W_h_tilde.bias": None,
            "v.bias": None,
        }

    def _advance(self, t: int, x_next: Tensor, x_score: Tensor, tapes: _Tapes) -> tuple:
        """Step t for a batch: x_next (B, D) is x_{t+1}, x_score (B, d) is W_x x_{t+1}.

        Reads slots 0 … t of the tapes and h̃_{t-1}, appends slot t+1 and h̃_t.
        Returns scores, α (B, t+1), h̃_t, m̃_t, i, f, o, ĉ_t, m_{t+1}, h_{t+1} (B, H).
        """
        query = x_score + self.W_h_tilde(tapes.h_tilde[t])  # (B, d)
        keys = torch.stack(tapes.keys[: t + 1], 1)  # (B, t+1, d)
        scores = self.v(torch.tanh(keys + query[:, None])).squeeze(-1)  # (B, t+1)
        alpha = torch.softmax(scores, dim=-1)  # (B, t+1)
        h_tilde = (alpha[:, None] @ torch.stack(tapes.h[: t + 1], 1)).squeeze(1)  # (B, H)
        m_tilde = (alpha[:, None] @ torch.stack(tapes.m[: t + 1], 1)).squeeze(1)  # (B, H)
        i_pre, f_pre, o_pre, c_pre = self.W(torch.cat([h_tilde, x_next], -1)).chunk(4, dim=-1)
        i, f, o = torch.sigmoid(i_pre), torch.sigmoid(f_pre), torch.sigmoid(o_pre)
        c_hat = torch.tanh(c_pre)
        m_next = f * m_tilde + i * c_hat
        h_next = o * torch.tanh(m_next)
        tapes.h.append(h_next)
        tapes.m.append(m_next)
        tapes.keys.append(self.W_h(h_next))
        tapes.h_tilde.append(h_tilde)
        return scores, alpha, h_tilde, m_tilde, i, f, o, c_hat, m_next, h_next

    def forward(self, x: Tensor, lengths: Tensor | None = None) -> LSTMNTrace:
        """Run every step over x (T, D) or (B, T, D); the stepper runs the same step.

        ``lengths`` (B,), for a padded batch: steps past a sequence's length are
        zeroed in the trace and never affect its earlier steps (the model is causal).
        """
        x, batched = _check_sequence(x, self, batched_ok=True)
        B, T, _ = x.shape
        lengths = _check_lengths(lengths, B, T, batched)
        _check_weights_finite(self)
        x_scores = self.W_x(x)  # (B, T, d), all steps at once
        tapes = _Tapes(self, B, x)
        alphas, m_tildes = [], []
        for t in range(T):
            _, alpha, _, m_tilde, *_ = self._advance(t, x[:, t], x_scores[:, t], tapes)
            alphas.append(F.pad(alpha, (0, T - t)))  # zeros for i > t
            m_tildes.append(m_tilde)
        tapes_and_sums = (tapes.h, tapes.m, alphas, tapes.h_tilde[1:], m_tildes)
        h, m, alpha, h_tilde, m_tilde = (torch.stack(v, 1) for v in tapes_and_sums)
        if lengths is not None:
            steps = torch.arange(T + 1, device=x.device)
            slots = (steps <= lengths[:, None].to(x.device))[..., None]  # (B, T+1, 1)
            live = slots[:, 1:]  # (B, T, 1): step t ran on x_{t+1}, t < length
            h, m = h * slots, m * slots
            alpha, h_tilde, m_tilde = alpha * live, h_tilde * live, m_tilde * live
        if not batched:
            return LSTMNTrace(h[0], m[0], alpha[0], h_tilde[0], m_tilde[0])
        return LSTMNTrace(h, m, alpha, h_tilde, m_tilde, lengths)

    # -- one step at a time -------------------------------------------------

    def stepper(self, x: Tensor | None = None) -> Stepper:
        """A :class:`~attn_widget.core.Stepper` over the unbatched x (T, D), or over
        inputs fed one by one; its steps are :class:`LSTMNStep` records."""
        return Stepper(self, x)

    def _new_cache(self, x: Tensor, capacity: int) -> _Tapes:
        """The stepper's tapes for one sequence (they grow as it steps)."""
        return _Tapes(self, 1, x)

    def _step_record(self, t: int, x_next: Tensor, tapes: _Tapes) -> LSTMNStep:
        """Run step t on x_next (D,) with the stepper's tapes; the record of what it used."""
        tapes.cut(t)  # after an edit, slots past t belong to the old inputs
        x_row = x_next[None]  # (1, D)
        values = self._advance(t, x_row, self.W_x(x_row), tapes)
        # The record keeps its own copies: the tapes (h, m) and the stepper's inputs
        # stay as they are whatever a caller does to a record.
        return LSTMNStep(t, x_next.clone(), *(_unbatch(v).clone() for v in values))

    def _trace_of_steps(self, steps: list[LSTMNStep], x: Tensor) -> LSTMNTrace:
        """The stepper's steps 0 … n-1 as an :class:`LSTMNTrace`, like ``model(x[:n])``."""
        n, H = len(steps), self.hidden_size
        zero = x.new_zeros(H)

        def summaries(name: str) -> Tensor:
            return torch.stack([getattr(s, name) for s in steps]) if n else x.new_zeros(0, H)

        return LSTMNTrace(
            h=torch.stack([zero] + [s.h for s in steps]),
            m=torch.stack([zero] + [s.m for s in steps]),
            alpha=_alpha_of_steps(steps, x),
            h_tilde=summaries("h_tilde"),
            m_tilde=summaries("m_tilde"),
        )
