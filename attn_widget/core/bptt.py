"""Backpropagation through time, written out, for ``SelfAttentionRNN.forward``.

The forward is the model's own no-grad loop; the backward walks the steps once,
from the last to the first, and needs only the loop's outputs and its cache of
keys and queries (see :class:`Recurrence`).  It uses public torch ops only.
"""

from __future__ import annotations

import torch


class Recurrence(torch.autograd.Function):
    """``model(x)`` with gradients: the no-grad loop forward, then BPTT written out.

    Autograd through the loop would record some fifteen nodes per step and
    keep every step's view of the history.  Instead the forward runs the very
    loop ``model(x)`` runs without gradients, keeps its buffers (states, keys,
    queries: O(T·(H+d)); α and c are outputs anyway), and the backward walks
    the steps once, from the last to the first:

        ∂L/∂pre_t  = ∂L/∂h_{t+1} ⊙ (1 − h_{t+1}²)
        ∂L/∂z_t    = A^T ∂L/∂pre_t                       split into its h, x, c blocks
        ∂L/∂α_{t,i} += ∂L/∂c_t · h_i,   ∂L/∂h_i += α_{t,i} ∂L/∂c_t
        ∂L/∂score_t = α_t ⊙ (∂L/∂α_t − Σ_i α_{t,i} ∂L/∂α_{t,i})
        ∂L/∂k_i, ∂L/∂q_t  from the align's ``score_backward``
        ∂L/∂h_i    += [W_K; W_Q]^T [∂L/∂k_i; ∂L/∂q_i]     once every reader of h_i is done

    Gradients of A, b and [W_K; W_Q] are then one matmul each over all steps.

    Knockout needs nothing more: a hidden slot has α_{t,i} = 0 (a constant),
    so the same lines give it no gradient through c_t (α_{t,i} ∂L/∂c_t = 0)
    and no score gradient (α_t ⊙ … = 0), and the visible slots get the
    softmax-over-V_t backward; a step with every slot hidden passes none.

    Called as ``Recurrence.apply(run, columns, score_backward, x, hidden, A_weight,
    A_bias, kq_weight, *score_params)``: ``run`` is the model's no-grad loop
    (``run(x, A_weight, A_bias, kq_weight, hidden)`` → h, c, α and the cache of
    keys and queries), ``columns`` the columns of A that multiply each block of z,
    in z's order, and ``score_backward`` the align's (None for eq1).
    """

    @staticmethod
    def forward(
        ctx, run, columns, score_backward, x, hidden, A_weight, A_bias, kq_weight, *score_params
    ):
        h, c, alpha, past = run(x, A_weight, A_bias, kq_weight, hidden)
        ctx.columns, ctx.score_backward = columns, score_backward
        keys_queries = () if kq_weight is None else (past.keys, past.queries)
        ctx.save_for_backward(x, A_weight, kq_weight, h, c, alpha, *score_params, *keys_queries)
        return (h,) if c is None else (h, c, alpha)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, d_h, d_c=None, d_alpha=None):
        columns = ctx.columns
        x, A_weight, kq_weight, h, c, alpha, *rest = ctx.saved_tensors
        n_score = len(rest) - (0 if kq_weight is None else 2)
        score_params, (keys, queries) = rest[:n_score], rest[n_score:] or (None, None)
        B, T, _ = x.shape
        A_h = A_weight[:, columns["h"]] if "h" in columns else None  # (H, H)
        A_c = A_weight[:, columns["c"]] if "c" in columns else None  # (H, H)

        d_states = d_h.clone()  # (B, T+1, H): every path into h_i but its key and query
        d_pre = x.new_empty(B, T, A_weight.shape[0])  # (B, T, H)
        # tanh' at every step at once: ∂h_{t+1}/∂pre_t = 1 − h_{t+1}²
        slopes = torch.addcmul(torch.ones_like(h[:, 1:]), h[:, 1:], h[:, 1:], value=-1)
        # Views each step reads, made once (the loop's overhead is a large part of a step).
        d_state_rows, slope_rows, d_pre_rows = d_states.unbind(1), slopes.unbind(1), d_pre.unbind(1)
        if kq_weight is not None:
            d = keys.shape[2]
            d_kq = x.new_zeros(B, T + 1, 2 * d)  # (B, T+1, 2d): [∂L/∂k_i; ∂L/∂q_i]
            d_kq_rows, d_keys = d_kq.unbind(1), d_kq[:, :, :d]
            d_query_rows = d_kq[:, :, d:].unbind(1)
            d_score_params = [torch.zeros_like(p) for p in score_params]
            query_rows, h_by_column = queries.unbind(1), h.transpose(1, 2)  # (B, H, T+1)
            alpha_rows, d_alpha_rows = alpha.unbind(1), d_alpha.unsqueeze(2).unbind(1)
            d_c_rows = d_c.unbind(1)
        for t in reversed(range(T)):
            n = t + 1  # step t read h_0 … h_t
            d_h_next = d_state_rows[n]  # complete but for h_{t+1}'s key and query
            if kq_weight is not None:
                d_h_next = torch.addmm(d_h_next, d_kq_rows[n], kq_weight)
            dp = torch.mul(d_h_next, slope_rows[t], out=d_pre_rows[t])  # ∂L/∂pre_t, (B, H)
            if A_h is not None:
                d_state_rows[t].addmm_(dp, A_h)  # z holds h_t
            if A_c is None:
                continue
            d_c_t = torch.addmm(d_c_rows[t], dp, A_c).unsqueeze(1)  # (B, 1, H)
            a = alpha_rows[t][:, :n]  # (B, t+1)
            d_a = torch.baddbmm(d_alpha_rows[t][:, :, :n], d_c_t, h_by_column[:, :, :n])
            d_a = d_a.squeeze(1)  # (B, t+1): ∂L/∂α_{t,i} = upstream + ∂L/∂c_t · h_i
            d_states[:, :n].addcmul_(a.unsqueeze(2), d_c_t)  # ∂L/∂h_i += α_{t,i} ∂L/∂c_t
            # ∂L/∂score_t = α_t ⊙ (∂L/∂α_t − Σ_i α_{t,i} ∂L/∂α_{t,i})
            a_d_a = a * d_a
            d_scores = torch.addcmul(a_d_a, a, a_d_a.sum(-1, keepdim=True), value=-1)  # (B, t+1)
            d_q, d_params = ctx.score_backward(
                d_scores, keys[:, :n], query_rows[t], d_keys[:, :n], score_params
            )
            d_query_rows[t].copy_(d_q)
            for total, part in zip(d_score_params, d_params, strict=True):
                total += part

        # Weight gradients: one matmul per block of z over all B·T steps (z is never built).
        parts = {"h": h[:, :T], "x": x, "c": c}
        d_pre_flat = d_pre.flatten(0, 1)  # (B·T, H)
        d_A_weight = torch.cat(
            [d_pre_flat.t() @ parts[name].flatten(0, 1) for name in columns], dim=1
        )  # (H, |z|)
        d_A_bias = d_pre_flat.sum(0)
        d_x = d_pre @ A_weight[:, columns["x"]]  # (B, T, D)
        if kq_weight is None:
            return None, None, None, d_x, None, d_A_weight, d_A_bias, None
        d_kq_weight = d_kq.flatten(0, 1).t() @ h.flatten(0, 1)  # (2d, H)
        return None, None, None, d_x, None, d_A_weight, d_A_bias, d_kq_weight, *d_score_params
