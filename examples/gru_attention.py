"""Bring your own model: a GRU cell that attends over its own past states.

This file uses attn_widget's public names only.  By implementing the
:class:`attn_widget.core.StepModel` protocol (``new_cache``, ``step_record``,
``trace_of_steps``) the model gets the stepper, the widget, the HTML export,
the figures, the gradient shading and knockout, with nothing else to write.

The model, in the notation of docs/design.md §1 (h_0 = 0; step t reads x_{t+1}):

    score_{t,i} = v·tanh(W_k h_i + W_q h_t)          i = 0 … t   (additive, Bahdanau)
    α_{t,i}     = softmax_i(score_{t,i})
    c_t         = Σ_i α_{t,i} h_i
    r           = σ(W_r [x_{t+1}; c_t] + U_r h_t + b_r)           reset gate
    u           = σ(W_u [x_{t+1}; c_t] + U_u h_t + b_u)           update gate
    ĥ           = tanh(W_n [x_{t+1}; c_t] + U_n (r ⊙ h_t) + b_n)  candidate
    h_{t+1}     = (1 − u) ⊙ h_t + u ⊙ ĥ

The score is v·tanh(W·[h_i; h_t]) with W = [W_k | W_q], the widget's "additive"
align.  Knockout hides slots from the softmax (``softmax_visible``).

Run it::

    python examples/gru_attention.py      # checks stepping against the batched run

or in a notebook::

    from gru_attention import GRUAttention
    w = AttentionWidget(GRUAttention(4, 8), tokens=[...], inputs=x)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from attn_widget.core import Stepper, alpha_of_steps
from attn_widget.core.align import softmax_visible
from attn_widget.core.checks import check_knockout, check_sequence, check_sizes


@dataclass
class GRUTrace:
    """What a batched run computed: h (…, T+1, H), c (…, T, H), alpha (…, T, T+1)."""

    h: Tensor
    c: Tensor
    alpha: Tensor


@dataclass(frozen=True)
class GRUStep:
    """One step t: what it read and made.  ``scores``, ``alpha``, ``c``, ``z``,
    ``pre`` and ``h`` are names the widget knows and draws (``z`` by the blocks of
    ``z_layout``); r, u and ĥ are this model's own."""

    t: int
    x: Tensor  # x_{t+1}, (D,)
    scores: Tensor  # (t+1,)
    alpha: Tensor  # (t+1,)
    c: Tensor  # c_t, (H,)
    r: Tensor  # (H,)
    u: Tensor  # (H,)
    z: Tensor  # [x_{t+1}; c_t], what the cell reads besides h_t, (D+H,)
    pre: Tensor  # the candidate's pre-activation, ĥ = tanh(pre), (H,)
    h_hat: Tensor  # ĥ, (H,)
    h: Tensor  # h_{t+1}, (H,)


class Past:
    """States h_0 … h_n and their keys W_k h_i, each projected once; lists of
    (B, ·) rows so autograd follows a batched run through them."""

    def __init__(self, model: GRUAttention, batch: int, like: Tensor):
        h0 = like.new_zeros(batch, model.hidden_size)
        self.h, self.keys = [h0], [model.W_k(h0)]

    def cut(self, t: int) -> None:
        """Keep slots 0 … t: step t is run (again) on a new input."""
        del self.h[t + 1 :], self.keys[t + 1 :]


class GRUAttention(nn.Module):
    """A GRU cell reading [x_{t+1}; c_t], with additive attention over h_0 … h_t.

    Args:
        input_size: D.  hidden_size: H.  attn_size: d, inside the score (default H).
    """

    # How the widget names it: its own update rule and the additive align.
    update_rule = "gru"
    align_name = "additive"

    def __init__(self, input_size: int, hidden_size: int, attn_size: int | None = None):
        super().__init__()
        check_sizes(input_size=input_size, hidden_size=hidden_size, attn_size=attn_size)
        d = attn_size or hidden_size
        self.input_size, self.hidden_size = input_size, hidden_size
        self.z_layout = [("x", input_size), ("c", hidden_size)]  # the blocks of a record's z
        self.W_k = nn.Linear(hidden_size, d, bias=False)
        self.W_q = nn.Linear(hidden_size, d, bias=False)
        self.v = nn.Linear(d, 1, bias=False)
        self.W = nn.Linear(input_size + hidden_size, 3 * hidden_size)  # [W_r; W_u; W_n], b
        self.U = nn.Linear(hidden_size, 2 * hidden_size, bias=False)  # [U_r; U_u]
        self.U_n = nn.Linear(hidden_size, hidden_size, bias=False)

    def _advance(self, t: int, x_next: Tensor, past: Past, hidden: Tensor | None):
        """Step t for a batch: x_next (B, D); reads slots 0 … t, appends slot t+1."""
        h_t = past.h[t]  # (B, H)
        keys = torch.stack(past.keys[: t + 1], 1)  # (B, t+1, d)
        scores = self.v(torch.tanh(keys + self.W_q(h_t)[:, None])).squeeze(-1)  # (B, t+1)
        alpha = torch.softmax(scores, -1) if hidden is None else softmax_visible(scores, hidden)
        c = (alpha[:, None] @ torch.stack(past.h[: t + 1], 1)).squeeze(1)  # (B, H)
        z = torch.cat([x_next, c], -1)  # (B, D+H)
        w_r, w_u, w_n = self.W(z).chunk(3, -1)
        u_r, u_u = self.U(h_t).chunk(2, -1)
        r, u = torch.sigmoid(w_r + u_r), torch.sigmoid(w_u + u_u)
        pre = w_n + self.U_n(r * h_t)
        h_hat = torch.tanh(pre)
        h_next = (1 - u) * h_t + u * h_hat
        past.h.append(h_next)
        past.keys.append(self.W_k(h_next))
        return scores, alpha, c, r, u, z, pre, h_hat, h_next

    def forward(self, x: Tensor, *, knockout: Tensor | None = None) -> GRUTrace:
        """Every step over x (T, D) or (B, T, D); ``knockout`` (T+1,) bool hides slots."""
        x, batched = check_sequence(x, self, batched_ok=True)
        B, T, _ = x.shape
        hidden = check_knockout(knockout, B, T, batched, x.device)  # (1 or B, T+1) or None
        past = Past(self, B, x)
        alphas, contexts = [], []
        for t in range(T):
            mask = None if hidden is None else hidden[:, : t + 1]
            _, alpha, c, *_ = self._advance(t, x[:, t], past, mask)
            alphas.append(nn.functional.pad(alpha, (0, T - t)))  # zeros for i > t
            contexts.append(c)
        h, c, alpha = torch.stack(past.h, 1), torch.stack(contexts, 1), torch.stack(alphas, 1)
        return GRUTrace(h, c, alpha) if batched else GRUTrace(h[0], c[0], alpha[0])

    def stepper(self, x: Tensor | None = None, *, knockout=None) -> Stepper:
        return Stepper(self, x, knockout=knockout)

    # -- the StepModel protocol ----------------------------------------------

    def new_cache(self, x: Tensor, capacity: int) -> Past:
        return Past(self, 1, x)  # lists grow as needed: capacity is not used

    def step_record(
        self, t: int, x_next: Tensor, past: Past, hidden: Tensor | None = None
    ) -> GRUStep:
        past.cut(t)
        mask = None if hidden is None else hidden[None]  # (1, t+1)
        values = self._advance(t, x_next[None], past, mask)
        return GRUStep(t, x_next.clone(), *(v[0].clone() for v in values))

    def trace_of_steps(self, steps: Sequence[GRUStep], x: Tensor) -> GRUTrace:
        zero = x.new_zeros(self.hidden_size)
        c = torch.stack([s.c for s in steps]) if steps else x.new_zeros(0, self.hidden_size)
        return GRUTrace(torch.stack([zero] + [s.h for s in steps]), c, alpha_of_steps(steps, x))


if __name__ == "__main__":
    torch.manual_seed(0)
    model = GRUAttention(4, 8).double()
    x = torch.randn(9, 4, dtype=torch.float64)
    stepper = model.stepper(x)
    stepper.goto(9)
    with torch.no_grad():
        batched = model(x)
    gap = (stepper.trace().h - batched.h).abs().max().item()
    print(f"stepped against batched, float64: max |Δh| = {gap:.1e}")
    assert gap < 1e-12
