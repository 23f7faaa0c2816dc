"""Align functions: how strongly the current state h_t attends to a past state h_i.

Every align function scores each past state h_i (i = 0 … t) against the
current state h_t; the weights are α_{t,i} = softmax_i(score_i).

To make a step cost O(t·d) instead of O(t·H·d), each score is split into a
part that depends on h_i alone (the *key*, computed once when h_i is born and
cached) and a part that depends on h_t alone (the *query*, computed once per
step):

- ``dot``:        score_i = (W_K h_i)·(W_Q h_t)
- ``scaled_dot``: score_i = (W_K h_i)·(W_Q h_t) / √d_k
- ``additive``:   score_i = v·tanh(W·[h_i; h_t]) = v·tanh(W_← h_i + W_→ h_t),
  where W = [W_← | W_→] is split by columns.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn
from torch.nn import functional as F

ALIGN_NAMES = ("dot", "scaled_dot", "additive")


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

    def key(self, h: Tensor) -> Tensor:
        """W_K h.  (…, H) -> (…, d_k)"""
        return self.W_k(h)

    def query(self, h_t: Tensor) -> Tensor:
        """W_Q h_t.  (B, H) -> (B, d_k)"""
        return self.W_q(h_t)

    def score(self, keys: Tensor, query: Tensor) -> Tensor:
        """score_i = k_i·q · scale.  keys (B, t+1, d_k), query (B, d_k) -> (B, t+1)"""
        scores = (keys @ query.unsqueeze(-1)).squeeze(-1)  # (B, t+1)
        return scores * self.scale if self.scale != 1.0 else scores


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

    def key(self, h: Tensor) -> Tensor:
        """W_← h, the columns of W that see h_i.  (…, H) -> (…, d_a)"""
        return F.linear(h, self.W.weight[:, : self.hidden_size])

    def query(self, h_t: Tensor) -> Tensor:
        """W_→ h_t, the columns of W that see h_t.  (B, H) -> (B, d_a)"""
        return F.linear(h_t, self.W.weight[:, self.hidden_size :])

    def score(self, keys: Tensor, query: Tensor) -> Tensor:
        """v·tanh(k_i + q).  keys (B, t+1, d_a), query (B, d_a) -> (B, t+1)"""
        return self.v(torch.tanh(keys + query.unsqueeze(1))).squeeze(-1)


def make_align(name: str, hidden_size: int, attn_size: int) -> nn.Module:
    """Build the align function called ``name`` (one of ``ALIGN_NAMES``)."""
    if name == "dot":
        return DotAlign(hidden_size, attn_size)
    if name == "scaled_dot":
        return DotAlign(hidden_size, attn_size, scaled=True)
    if name == "additive":
        return AdditiveAlign(hidden_size, attn_size)
    raise ValueError(f"align must be one of {ALIGN_NAMES}, got {name!r}")
