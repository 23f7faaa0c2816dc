"""LSTMN: the Long Short-Term Memory-Network of Cheng, Dong & Lapata (2016, §3.1).

An LSTM whose single state is replaced by two tapes that grow by one slot a
step: a hidden tape h_0 … h_t and a memory tape m_0 … m_t (the paper writes
the memory cells c_i; here they are m_i, because c_t already names the
context of the SimpleRNN models).  h_0 = m_0 = 0, and the traces hold every
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

The zero slot, an option (``zero_slot``):

- **Off (``zero_slot=False``): the paper's cell.**  The tapes offer only the
  states of the tokens read so far: step t attends over slots 1 … t.  Step 0
  has an empty tape and reads nothing, h̃_0 = m̃_0 = 0 (the empty sum), so it
  is an LSTM step from a zero state: m_1 = i ⊙ ĉ_0, h_1 = o ⊙ tanh(m_1).
  Slot 0 stays in the traces (h_0 = m_0 = 0, every shape as with the slot on)
  but no step reads it: α_{t,0} = 0, row 0 of α is all 0 and rows t ≥ 1 sum
  to 1.  This is slot 0 hidden from every step, by the knockout rule below.
- **On (``zero_slot=True``, the default): the all-zero slot 0 is offered too,**
  as in the SimpleRNN models.  Step 0 is the same either way: it can attend
  only to slot 0, and h_0 = m_0 = 0 give the same h̃_0 = m̃_0 = 0.  The
  effect is at t ≥ 1: slot 0 scores v·tanh(W_x x_{t+1} + W_h̃ h̃_{t-1}), like
  any slot whose h_i is 0, and takes a share α_{t,0} of the weight while
  adding nothing to either sum.  The other slots' weights are (1 − α_{t,0})
  times the softmax over slots 1 … t, so both summaries of the same tapes
  shrink by that factor, h̃_t = (1 − α_{t,0}) h̃'_t and m̃_t = (1 − α_{t,0}) m̃'_t
  (h̃'_t, m̃'_t: the summaries without the slot): a learned, input-dependent
  scaling of the attended memory that the paper does not have.

  It is the default because the shipped checkpoints and every figure measured
  so far were trained with it (a config saved before the option existed loads
  with it), and because the weights then cover slots 0 … t as the SimpleRNN
  models' do (the lecture's i = 0 … t), so every model's ⟨start⟩ slot means
  the same in the widget.

Knockout (docs/design.md §3): a mask hides chosen slots from attention, as
for the SimpleRNN models.  The scores stay raw, α is 0 at hidden slots and a
softmax over the visible ones; a step that sees no slot reads nothing,
h̃_t = m̃_t = 0, so m_{t+1} = i ⊙ ĉ_t, as at the paper's step 0.  The gates and
the tapes' update are untouched: only what attention may read changes.

Also departing from the paper, on purpose: **the gate bias b.**  The paper
writes the gates as W·[h̃_t; x_t] with no bias; here ``W`` is an ``nn.Linear``
with its bias b, as in torch's LSTM.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from .align import softmax_visible
from .checks import (
    check_knockout,
    check_lengths,
    check_sequence,
    check_sizes,
    check_weight_count,
    check_weights_finite,
)
from .stepper import Stepper, alpha_of_steps, last_states


@dataclass
class LSTMNTrace:
    """What an LSTMN run computed.

    Attributes:
        h: hidden tape h_0 … h_T, (…, T+1, H).
        m: memory tape m_0 … m_T, (…, T+1, H).
        alpha: weights, (…, T, T+1); row t holds α_{t,0 … t} and zeros for i > t
            (and at slots hidden by knockout, or at slot 0 with ``zero_slot=False``).
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
        return last_states(self.h, self.lengths)


@dataclass(frozen=True)
class LSTMNStep:
    """One step t of an unbatched sequence: the tensors the LSTMN's step used.

    Attributes:
        t: the step index; this step read x_{t+1} and wrote slot t+1 of both tapes.
        x: x_{t+1}, shape (D,).
        scores: a_{t,i} = v·tanh(W_h h_i + W_x x_{t+1} + W_h̃ h̃_{t-1}), i = 0 … t, (t+1,):
            the raw scores of every slot, hidden or not.
        alpha: α_{t,0 … t}, shape (t+1,): softmax(scores) over the slots the step
            could read (all, but for knockout and, with ``zero_slot=False``,
            slot 0), exactly 0 at the others; all 0 if it could read none.
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
        zero_slot: offer the all-zero slot h_0 = m_0 = 0 to attention (the
            default, see the module docstring for what it does and why);
            False gives the paper's cell, whose step t reads slots 1 … t.

    Attributes:
        W_h, W_x, W_h_tilde: ``nn.Linear`` maps into the score space (no bias).
        v: ``nn.Linear(d, 1, bias=False)``.
        W: ``nn.Linear(H + D, 4H)``, the gates [i; f; o; ĉ] from [h̃_t; x_{t+1}]; ``W.bias`` is b.

    Shapes:
        x: (T, D) or (B, T, D) -> :class:`LSTMNTrace` with h, m (…, T+1, H),
        alpha (…, T, T+1), h_tilde, m_tilde (…, T, H), whatever ``zero_slot``.

    Example::

        >>> trace = LSTMN(3, 5)(torch.randn(4, 3))
        >>> trace.h.shape, trace.alpha.shape
        (torch.Size([5, 5]), torch.Size([4, 5]))
    """

    # How a front end names its equations: its own cell, with an additive score
    # over [h_i; x_{t+1}; h̃_{t-1}], and no z.
    update_rule = "lstmn"
    align_name = "additive"
    z_layout: tuple = ()

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        attn_size: int | None = None,
        *,
        zero_slot: bool = True,
    ):
        super().__init__()
        check_sizes(input_size=input_size, hidden_size=hidden_size, attn_size=attn_size)
        check_weight_count("lstmn", input_size, hidden_size, attn_size)
        if not isinstance(zero_slot, bool):
            raise TypeError(f"zero_slot must be True or False, got {zero_slot!r}")
        d = attn_size or hidden_size
        self.input_size, self.hidden_size, self.attn_size = input_size, hidden_size, d
        self.zero_slot = zero_slot
        self.W_h = nn.Linear(hidden_size, d, bias=False)
        self.W_x = nn.Linear(input_size, d, bias=False)
        self.W_h_tilde = nn.Linear(hidden_size, d, bias=False)
        self.v = nn.Linear(d, 1, bias=False)
        self.W = nn.Linear(hidden_size + input_size, 4 * hidden_size)

    def weight_shapes(self) -> dict[str, tuple[int, ...] | None]:
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

    def extra_repr(self) -> str:
        return (
            f"input_size={self.input_size}, hidden_size={self.hidden_size}, "
            f"attn_size={self.attn_size}, zero_slot={self.zero_slot}"
        )

    def _hidden(self, hidden: Tensor | None, n: int, like: Tensor) -> Tensor | None:
        """The slots attention may not read, (B or 1, n) bool, or None for none: the
        knockout mask ``hidden`` and, with ``zero_slot=False``, slot 0."""
        if self.zero_slot:
            return hidden
        slot_0 = torch.zeros(1, n, dtype=torch.bool, device=like.device)
        slot_0[0, 0] = True
        return slot_0 if hidden is None else hidden | slot_0

    def _advance(
        self, t: int, x_next: Tensor, x_score: Tensor, tapes: _Tapes, hidden: Tensor | None = None
    ) -> tuple:
        """Step t for a batch: x_next (B, D) is x_{t+1}, x_score (B, d) is W_x x_{t+1}.

        Reads slots 0 … t of the tapes and h̃_{t-1}, appends slot t+1 and h̃_t.
        ``hidden`` (B or 1, t+1), bool, if given, hides slots from attention.
        Returns scores, α (B, t+1), h̃_t, m̃_t, i, f, o, ĉ_t, m_{t+1}, h_{t+1} (B, H).
        """
        query = x_score + self.W_h_tilde(tapes.h_tilde[t])  # (B, d)
        keys = torch.stack(tapes.keys[: t + 1], 1)  # (B, t+1, d)
        scores = self.v(torch.tanh(keys + query[:, None])).squeeze(-1)  # (B, t+1)
        # (B, t+1); under knockout 0 at hidden slots
        alpha = torch.softmax(scores, -1) if hidden is None else softmax_visible(scores, hidden)
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

    def forward(
        self, x: Tensor, lengths: Tensor | None = None, *, knockout: Tensor | None = None
    ) -> LSTMNTrace:
        """Run every step over x (T, D) or (B, T, D); the stepper runs the same step.

        ``lengths`` (B,), for a padded batch: steps past a sequence's length are
        zeroed in the trace and never affect its earlier steps (the model is causal).

        ``knockout``: a bool tensor that broadcasts to (B, T+1), or (T+1,) unbatched;
        True at slot i hides h_i and m_i from every step's attention (α_{t,i} = 0,
        the rest renormalise; a step that sees no slot has h̃_t = m̃_t = 0), as
        for :meth:`SelfAttentionRNN.forward`.  Gradients follow by autograd.
        """
        x, batched = check_sequence(x, self, batched_ok=True)
        B, T, _ = x.shape
        lengths = check_lengths(lengths, B, T, batched)
        hidden = self._hidden(check_knockout(knockout, B, T, batched, x.device), T + 1, x)
        check_weights_finite(self)
        x_scores = self.W_x(x)  # (B, T, d), all steps at once
        tapes = _Tapes(self, B, x)
        alphas, m_tildes = [], []
        for t in range(T):
            hidden_t = None if hidden is None else hidden[:, : t + 1]  # (B or 1, t+1)
            _, alpha, _, m_tilde, *_ = self._advance(t, x[:, t], x_scores[:, t], tapes, hidden_t)
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

    def stepper(self, x: Tensor | None = None, *, knockout=None) -> Stepper:
        """A :class:`~attn_widget.core.Stepper` over the unbatched x (T, D), or over
        inputs fed one by one; its steps are :class:`LSTMNStep` records.
        ``knockout``: slots hidden from attention, as for ``Stepper.set_knockout``."""
        return Stepper(self, x, knockout=knockout)

    # -- the StepModel protocol: what the Stepper calls --------------------

    def new_cache(self, x: Tensor, capacity: int) -> _Tapes:
        """The stepper's tapes for one sequence (they grow as it steps)."""
        return _Tapes(self, 1, x)

    def step_record(
        self, t: int, x_next: Tensor, tapes: _Tapes, hidden: Tensor | None = None
    ) -> LSTMNStep:
        """Run step t on x_next (D,) with the stepper's tapes; the record of what it used.
        ``hidden`` (t+1,), bool, if given, hides those slots from the step's attention."""
        tapes.cut(t)  # after an edit, slots past t belong to the old inputs
        x_row = x_next[None]  # (1, D)
        hidden = self._hidden(None if hidden is None else hidden[None], t + 1, x_row)
        values = self._advance(t, x_row, self.W_x(x_row), tapes, hidden)
        # The record keeps its own copies: the tapes (h, m) and the stepper's inputs
        # stay as they are whatever a caller does to a record.
        return LSTMNStep(t, x_next.clone(), *(v[0].clone() for v in values))

    def trace_of_steps(self, steps: list[LSTMNStep], x: Tensor) -> LSTMNTrace:
        """The stepper's steps 0 … n-1 as an :class:`LSTMNTrace`, like ``model(x[:n])``."""
        n, H = len(steps), self.hidden_size
        zero = x.new_zeros(H)

        def summaries(name: str) -> Tensor:
            return torch.stack([getattr(s, name) for s in steps]) if n else x.new_zeros(0, H)

        return LSTMNTrace(
            h=torch.stack([zero] + [s.h for s in steps]),
            m=torch.stack([zero] + [s.m for s in steps]),
            alpha=alpha_of_steps(steps, x),
            h_tilde=summaries("h_tilde"),
            m_tilde=summaries("m_tilde"),
        )
