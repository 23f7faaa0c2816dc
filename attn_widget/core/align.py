"""Align functions: how strongly the current state h_t attends to a past state h_i.

Every align function scores each past state h_i (i = 0 … t) against the
current state h_t; the weights are α_{t,i} = softmax_i(score_i).

To make a step cost O(t·d) instead of O(t·H·d), each score is split into a
part that depends on h_i alone (the *key*) and a part that depends on h_t
alone (the *query*).  Both are linear in the state, so one matmul with
``key_query_weight()`` gives them when the state is born; they are cached
and never projected again:

- ``dot``:        score_i = (W_K h_i)·(W_Q h_t)
- ``scaled_dot``: score_i = (W_K h_i)·(W_Q h_t) / √d_k
- ``additive``:   score_i = v·tanh(W·[h_i; h_t]) = v·tanh(W_← h_i + W_→ h_t),
  where W = [W_← | W_→] is split by columns.

A bilinear score can also be *folded*: s·(W_K h_i)·(W_Q h_t) = h_i·(F h_t)
with F = s·W_Kᵀ W_Q (H×H), so that the states themselves serve as keys
(``DotAlign.fold_weight``, ``fold_backward``; the model folds where
d_k ≥ H/2, see docs/design.md §1).  Additive does not fold.

Knockout (docs/design.md §3) hides some states from attention; the one place
that turns scores and a mask into weights is :func:`softmax_visible`.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

ALIGN_NAMES = ("dot", "scaled_dot", "additive")


def softmax_visible(scores: Tensor, hidden: Tensor) -> Tensor:
    """α = softmax over the visible slots only: the weights of a step under knockout.

        α_i = exp(s_i) / Σ_{j visible} exp(s_j)    for a visible slot i
        α_i = 0                                    for a hidden slot i

    A hidden slot's α is exactly 0 and the visible ones sum to 1, unless every
    slot is hidden: then α = 0 everywhere (attention reads nothing, so the
    context is the empty sum, 0), with no NaN forward or backward.

    Args:
        scores: (B, n) scores of slots 0 … n-1.
        hidden: bool, (B, n) or (1, n); True hides the slot.

    Returns:
        α, (B, n).

    Hidden scores are replaced by the most negative finite number rather than
    −∞: a visible slot's exp(s_i − max) is unchanged, a hidden one's underflows
    to exactly 0, and a row with every slot hidden comes out uniform (not
    0/0 = NaN) before the final fill sets it to 0.  The fill's backward then
    passes no gradient to a hidden score, and none at all through a row that
    is all hidden.
    """
    lowest = torch.finfo(scores.dtype).min
    return torch.softmax(scores.masked_fill(hidden, lowest), dim=-1).masked_fill(hidden, 0.0)


class DotAlign(nn.Module):
    """Query/key align: score_i = (W_K h_i)·(W_Q h_t) · scale.

    Args:
        hidden_size: H, the size of the states h.
        attn_size: d_k, the size of keys and queries.
        scaled: divide by √d_k (``scaled_dot``) when True.

    Attributes:
        W_q: ``nn.Linear(H, d_k, bias=False)``, the query map W_Q.
        W_k: ``nn.Linear(H, d_k, bias=False)``, the key map W_K.
    """

    def __init__(self, hidden_size: int, attn_size: int, *, scaled: bool = False):
        super().__init__()
        self.W_q = nn.Linear(hidden_size, attn_size, bias=False)
        self.W_k = nn.Linear(hidden_size, attn_size, bias=False)
        self.scale = 1.0 / math.sqrt(attn_size) if scaled else 1.0
        self.name = "scaled_dot" if scaled else "dot"

    @staticmethod
    def weight_shapes(hidden_size: int, attn_size: int) -> dict[str, tuple[int, ...] | None]:
        """W_q and W_k are (d_k, H), with no bias (None: must be absent)."""
        shape = (attn_size, hidden_size)
        return {"W_q.weight": shape, "W_k.weight": shape, "W_q.bias": None, "W_k.bias": None}

    def key_query_weight(self) -> Tensor:
        """[W_K; W_Q], shape (2·d_k, H): one matmul gives a state's key and its query."""
        return torch.cat([self.W_k.weight, self.W_q.weight])

    def score_params(self) -> tuple[Tensor, ...]:
        """Parameters the score reads besides keys and queries: none."""
        return ()

    @property
    def folds(self) -> bool:
        """Whether the batched run and the stepper fold W_K into the query (``fold_weight``):
        where d_k ≥ H/2, reading the states twice is cheaper than keeping keys."""
        return 2 * self.W_k.out_features >= self.W_k.in_features

    def score(self, keys: Tensor, query: Tensor) -> Tensor:
        """score_i = k_i·q · scale.  keys (B, t+1, d_k), query (B, d_k) -> (B, t+1)"""
        return self.score_rows(keys, query.unsqueeze(1)).squeeze(1)

    def score_rows(self, keys: Tensor, query: Tensor) -> Tensor:
        """``score`` on a query row: keys (B, t+1, d_k), query (B, 1, d_k) -> (B, 1, t+1)."""
        # A row times a matrix: CPU bmm is many times slower with a (d_k, 1) right factor.
        scores = torch.bmm(query, keys.transpose(1, 2))  # (B, 1, t+1)
        return scores * self.scale if self.scale != 1.0 else scores

    def fold_weight(self, kq_weight: Tensor) -> Tensor:
        """F = scale·W_Kᵀ W_Q, shape (H, H), from kq_weight = [W_K; W_Q] (2·d_k, H), so that

            score_i = scale·(W_K h_i)·(W_Q h_t) = h_i · (F h_t):

        the score of h_i against the folded query u_t = F h_t, with no key."""
        d = kq_weight.shape[0] // 2
        return (kq_weight[:d].t() * self.scale) @ kq_weight[d:]

    def fold_backward(self, d_fold: Tensor, kq_weight: Tensor) -> Tensor:
        """∂L/∂[W_K; W_Q] (2·d_k, H) from ∂L/∂F (H, H), for F = scale·W_Kᵀ W_Q:

        ∂L/∂W_K = scale·W_Q (∂L/∂F)ᵀ      ∂L/∂W_Q = scale·W_K ∂L/∂F"""
        d = kq_weight.shape[0] // 2
        W_k, W_q = kq_weight[:d] * self.scale, kq_weight[d:] * self.scale
        return torch.cat([W_q @ d_fold.t(), W_k @ d_fold])


class AdditiveAlign(nn.Module):
    """Bahdanau's additive align: score_i = v·tanh(W·[h_i; h_t]).

    Args:
        hidden_size: H.
        attn_size: d_a, the width of the hidden layer inside the score.

    Attributes:
        W: ``nn.Linear(2H, d_a, bias=False)`` applied to [h_i; h_t].
        v: ``nn.Linear(d_a, 1, bias=False)``.
    """

    name = "additive"

    def __init__(self, hidden_size: int, attn_size: int):
        super().__init__()
        self.hidden_size = hidden_size
        self.W = nn.Linear(2 * hidden_size, attn_size, bias=False)
        self.v = nn.Linear(attn_size, 1, bias=False)

    @staticmethod
    def weight_shapes(hidden_size: int, attn_size: int) -> dict[str, tuple[int, ...] | None]:
        """W is (d_a, 2H) and v (1, d_a), neither with a bias (None: must be absent)."""
        return {
            "W.weight": (attn_size, 2 * hidden_size),
            "v.weight": (1, attn_size),
            "W.bias": None,
            "v.bias": None,
        }

    def key_query_weight(self) -> Tensor:
        """[W_←; W_→], shape (2·d_a, H): W's columns that see h_i (the key) stacked on
        those that see h_t (the query), so one matmul gives a state's key and query."""
        H = self.hidden_size
        return torch.cat([self.W.weight[:, :H], self.W.weight[:, H:]])

    def score_params(self) -> tuple[Tensor, ...]:
        """Parameters the score reads besides keys and queries: v."""
        return (self.v.weight,)

    def score(self, keys: Tensor, query: Tensor) -> Tensor:
        """v·tanh(k_i + q).  keys (B, t+1, d_a), query (B, d_a) -> (B, t+1)"""
        return self.score_rows(keys, query.unsqueeze(1)).squeeze(1)

    def score_rows(self, keys: Tensor, query: Tensor) -> Tensor:
        """``score`` on a query row: keys (B, t+1, d_a), query (B, 1, d_a) -> (B, 1, t+1)."""
        return self.v(torch.tanh(keys + query)).transpose(1, 2)

    def score_backward(
        self, d_scores: Tensor, keys: Tensor, query: Tensor, d_keys: Tensor, params: tuple
    ) -> tuple[Tensor, tuple[Tensor, ...]]:
        """Backward of ``score_rows``, given the ``score_params()`` the forward read.
        With u_i = tanh(k_i + q) and s_i = v·u_i, for d_scores (B, 1, t+1):
        ∂L/∂(k_i + q) = (∂s_i v) ⊙ (1 − u_i²), added into d_keys (B, t+1, d_a) and
        summed over i for ∂L/∂q (B, 1, d_a); ∂L/∂v = Σ ∂s_i u_i, shape (1, d_a)."""
        (v,) = params  # the forward's v, also under torch.func.functional_call
        u = torch.tanh(keys + query)  # (B, t+1, d_a)
        d_inner = (d_scores.transpose(1, 2) * v) * (1 - u * u)  # (B, t+1, d_a)
        d_keys.add_(d_inner)
        d_v = (d_scores @ u).sum(0)  # (1, d_a)
        return d_inner.sum(1, keepdim=True), (d_v,)


def make_align(name: str, hidden_size: int, attn_size: int) -> nn.Module:
    """Build the align function called ``name`` (one of ``ALIGN_NAMES``)."""
    if name == "dot":
        return DotAlign(hidden_size, attn_size)
    if name == "scaled_dot":
        return DotAlign(hidden_size, attn_size, scaled=True)
    if name == "additive":
        return AdditiveAlign(hidden_size, attn_size)
    raise ValueError(f"align must be one of {ALIGN_NAMES}, got {name!r}")
