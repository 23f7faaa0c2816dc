"""Backpropagation through time, written out, for ``SelfAttentionRNN.forward``.

The forward is the model's own no-grad loop; the backward walks the steps once,
from the last to the first, and needs only the loop's outputs and its cache of
keys and queries (see :class:`Recurrence`).  It uses public torch ops only.
"""

from __future__ import annotations

import functools

import torch

#: Steps per block of the backward: the updates that every step makes to the
#: gradients of all past states are applied once per block (see ``Recurrence``).
BLOCK = 16


def first_order_only(backward):
    """Refuse a backward asked to build a graph (``create_graph=True``: a gradient
    penalty, a Hessian-vector product).  ``once_differentiable`` alone returns a
    first-order gradient with no graph when the incoming gradients need none (as
    ∂/∂h of ``h.sum()``), so the second-order terms would be silently zero.  The
    engine runs a backward with grad mode on exactly when it builds a graph."""

    @functools.wraps(backward)
    def checked(ctx, *grads):
        if torch.is_grad_enabled():
            raise RuntimeError(
                "SelfAttentionRNN's backward is written out and first order only: "
                "create_graph=True (double backward, gradient penalties, Hessian-vector "
                "products) is not supported (docs/design.md §1, 'The backward is written out')."
            )
        return backward(ctx, *grads)

    return checked


class Recurrence(torch.autograd.Function):
    r"""``model(x)`` with gradients: the no-grad loop forward, then BPTT written out.

    Autograd through the loop would record some fifteen nodes per step and
    keep every step's view of the history.  Instead the forward runs the very
    loop ``model(x)`` runs without gradients, keeps its buffers (states, keys,
    queries: O(T·(H+d)); α and c are outputs anyway), and the backward walks
    the steps once, from the last to the first:

        ∂L/∂pre_t  = ∂L/∂h_{t+1} ⊙ (1 − h_{t+1}²)
        ∂L/∂z_t    = A^T ∂L/∂pre_t                       split into its h, x, c blocks
        ∂L/∂α_{t,i} = upstream + ∂L/∂c_t · h_i
        ∂L/∂score_t = α_t ⊙ (∂L/∂α_t − Σ_i α_{t,i} ∂L/∂α_{t,i})
        ∂L/∂h_i    += α_{t,i} ∂L/∂c_t                     for every i ≤ t   (1)
        ∂L/∂q_t, ∂L/∂k_i from the score (below)           ∂L/∂k_i for every i ≤ t   (2)
        ∂L/∂h_t    += [W_K; W_Q]^T [∂L/∂k_t; ∂L/∂q_t]     once every reader of h_t is done

    For dot and scaled dot, score_{t,i} = s·k_i·q_t, so ∂L/∂q_t = s Σ_i ∂s_{t,i} k_i
    and ∂L/∂k_i = s ∂s_{t,i} q_t.  **Folded** (docs/design.md §1), the keys are
    the states and the query is u_t = F h_t with F = s·W_Kᵀ W_Q:

        ∂L/∂u_t = Σ_i ∂s_{t,i} h_i      ∂L/∂h_i += ∂s_{t,i} u_t   (2)
        ∂L/∂h_t += Fᵀ ∂L/∂u_t           ∂L/∂F = Σ_t ∂L/∂u_t h_tᵀ → ∂L/∂[W_K; W_Q]

    **Blocks.** (1) and (2), for dot, are rank-one updates to the gradients of
    the whole history h_0 … h_t at every step: two history-wide passes a step.
    Yet ∂L/∂h_i is read only at step i − 1, after every step that adds to it.
    So the steps run in blocks of ``BLOCK``, t = e−1 … s: a step adds (1) and
    (2) at once only to the rows s … t inside its block, and the rows 0 … s−1
    receive the whole block's updates when it ends, as two matrix products,

        ∂L/∂H_{0…s−1} += α_{s…e−1, 0…s−1}ᵀ ∂L/∂C_{s…e−1}
        ∂L/∂K_{0…s−1} += (s·∂S_{s…e−1, 0…s−1})ᵀ Q_{s…e−1}

    (C: the contexts, S: the scores, K, Q: keys and queries, or states and
    folded queries).  The sums are the same; only their order changes.  For
    additive, ∂L/∂k_i = (∂s_{t,i} v) ⊙ (1 − u_{t,i}²) is no rank-one update and
    stays the align's ``score_backward``, a step at a time.

    Gradients of A, b and [W_K; W_Q] are then one matmul each over all steps.

    Knockout needs nothing more: a hidden slot has α_{t,i} = 0 (a constant),
    so the same lines give it no gradient through c_t (α_{t,i} ∂L/∂c_t = 0)
    and no score gradient (α_t ⊙ … = 0), and the visible slots get the
    softmax-over-V_t backward; a step with every slot hidden passes none.

    Called as ``Recurrence.apply(run, columns, align, x, hidden, A_weight, A_bias,
    kq_weight, *score_params)``: ``run`` is the model's no-grad loop
    (``run(x, A_weight, A_bias, kq_weight, hidden)`` → h, c, α and the cache,
    which says whether it folded), ``columns`` the columns of A that multiply
    each block of z, in z's order, and ``align`` the align module (None for eq1).
    """

    @staticmethod
    def forward(ctx, run, columns, align, x, hidden, A_weight, A_bias, kq_weight, *score_params):
        h, c, alpha, past = run(x, A_weight, A_bias, kq_weight, hidden)
        ctx.set_materialize_grads(False)  # no zero (B, T, T+1) ∂L/∂α when α is unused
        ctx.columns, ctx.align, ctx.fold_weight = columns, align, past.fold_weight
        keys_queries = () if kq_weight is None else (past.keys, past.queries)
        ctx.save_for_backward(x, A_weight, kq_weight, h, c, alpha, *score_params, *keys_queries)
        return (h,) if c is None else (h, c, alpha)

    @staticmethod
    @first_order_only
    @torch.autograd.function.once_differentiable
    def backward(ctx, d_h, d_c=None, d_alpha=None):
        columns = ctx.columns
        x, A_weight, kq_weight, h, c, alpha, *rest = ctx.saved_tensors
        n_score = len(rest) - (0 if kq_weight is None else 2)
        score_params, (keys, queries) = rest[:n_score], rest[n_score:] or (None, None)
        B, T, _ = x.shape
        A_h = A_weight[:, columns["h"]] if "h" in columns else None  # (H, H)

        d_pre = x.new_empty(B, T, A_weight.shape[0])  # (B, T, H): ∂L/∂pre_t
        # tanh' at every step at once: ∂h_{t+1}/∂pre_t = 1 − h_{t+1}²
        slopes = torch.addcmul(torch.ones_like(h[:, 1:]), h[:, 1:], h[:, 1:], value=-1)
        d_kq_weight = d_score_params = None
        if kq_weight is None:  # eq1: the plain recurrence
            d_states = torch.zeros_like(h) if d_h is None else d_h.clone()  # (B, T+1, H)
            d_state_rows, slope_rows, d_pre_rows = (
                d_states.unbind(1),
                slopes.unbind(1),
                d_pre.unbind(1),
            )
            for t in reversed(range(T)):
                dp = torch.mul(d_state_rows[t + 1], slope_rows[t], out=d_pre_rows[t])
                d_state_rows[t].addmm_(dp, A_h)
        else:
            attention = _Attention(
                ctx, x, A_weight, kq_weight, h, alpha, keys, queries, score_params, d_h, d_c
            )
            attention.run(d_pre, slopes, d_alpha)
            d_kq_weight, d_score_params = attention.weight_grads(kq_weight, h)

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
        return None, None, None, d_x, None, d_A_weight, d_A_bias, d_kq_weight, *d_score_params


class _Attention:
    """The backward loop of a model with attention, and the buffers it fills:

    grads   (T+1, B, 2H)    [∂L/∂h_t; ∂L/∂c_t]: one step's A^T ∂L/∂pre_t lands in
                            its row with one matmul (∂L/∂c_T is unused)
    d_query (T+1, B, ·)     ∂L/∂u_t (folded), or (B, T+1, 2d) [∂L/∂k_i; ∂L/∂q_i]
    d_score (B, BLOCK, T+1) a block's s·∂L/∂score_t, dot and scaled dot only
    """

    def __init__(
        self, ctx, x, A_weight, kq_weight, h, alpha, keys, queries, score_params, d_h, d_c
    ):
        B, T, _ = x.shape
        H = h.shape[2]
        columns, self.align, self.fold = ctx.columns, ctx.align, ctx.fold_weight
        # The columns of A that multiply h_t and c_t side by side (eq3: c_t alone), so
        # that [∂L/∂h_t; ∂L/∂c_t] += [A_h A_c]^T ∂L/∂pre_t is one matmul.
        self.reads_h = "h" in columns
        blocks = [A_weight[:, columns[name]] for name in ("h", "c") if name in columns]
        self.A_hc = torch.cat(blocks, dim=1)  # (H, 2H), or (H, H)
        self.h, self.alpha, self.keys, self.queries = h, alpha, keys, queries
        self.score_params = score_params
        #: dot and scaled dot: score_{t,i} = s·K_i·Q_t, blocked; additive: score_backward
        self.rank_one = self.fold is not None or not hasattr(self.align, "score_backward")
        self.scale = 1.0 if self.fold is not None else getattr(self.align, "scale", 1.0)
        self.grads = x.new_empty(T + 1, B, 2 * H)
        self.d_states = self.grads[:, :, :H].transpose(0, 1)  # (B, T+1, H): ∂L/∂h_i
        self.d_c = self.grads[:T, :, H:]  # (T, B, H): ∂L/∂c_t
        for part, upstream in ((self.d_states, d_h), (self.d_c.transpose(0, 1), d_c)):
            if upstream is None:
                part.zero_()
            else:
                part.copy_(upstream)
        self.grads[T, :, H:].zero_()
        if self.fold is not None:  # keys are the states, queries u_t = F h_t
            self.d_query = x.new_zeros(T + 1, B, H)
            self.d_query_rows, self.query_weight = self.d_query.unbind(0), self.fold
            self.d_query_rows3 = self.d_query.unsqueeze(2).unbind(0)  # (B, 1, H)
        else:
            d = keys.shape[2]
            self.d_query = x.new_zeros(B, T + 1, 2 * d)  # [∂L/∂k_i; ∂L/∂q_i]
            self.d_query_rows, self.query_weight = self.d_query.unbind(1), kq_weight
            self.d_query_rows3 = self.d_query[:, :, None, d:].unbind(1)  # (B, 1, d)
            self.d_keys = self.d_query[:, :, :d]  # (B, T+1, d)
        if self.rank_one:
            self.d_score = x.new_empty(B, BLOCK, T + 1)

    def run(self, d_pre, slopes, d_alpha_up):
        """Steps T−1 … 0 in blocks of ``BLOCK``, filling d_pre and the buffers."""
        T = slopes.shape[1]
        h, alpha, rank_one, scale = self.h, self.alpha, self.rank_one, self.scale
        d_states, fold = self.d_states, self.fold is not None
        # Views each step reads, made once (the loop's overhead is a large part of a step).
        H = h.shape[2]
        grad_rows = (self.grads if self.reads_h else self.grads[:, :, H:]).unbind(0)
        A_hc = self.A_hc
        d_state_rows, slope_rows, d_pre_rows = d_states.unbind(1), slopes.unbind(1), d_pre.unbind(1)
        d_c_rows3 = self.d_c.unsqueeze(2).unbind(0)  # ∂L/∂c_t, (B, 1, H)
        up_alpha_rows = [None] * T if d_alpha_up is None else d_alpha_up.unsqueeze(2).unbind(1)
        alpha_rows = alpha.unsqueeze(2).unbind(1)  # α_t, (B, 1, T+1)
        alpha_cols = alpha.transpose(1, 2).unsqueeze(3).unbind(2)  # α_t, (B, T+1, 1)
        h_by_column = h.transpose(1, 2)  # (B, H, T+1)
        keys = h if fold else self.keys  # (B, T+1, H or d)
        query_rows3 = self.queries.unsqueeze(2).unbind(1)  # u_t or q_t, (B, 1, ·)
        d_keys = d_states if fold else getattr(self, "d_keys", None)
        d_query_rows, d_query_rows3, query_weight = (
            self.d_query_rows,
            self.d_query_rows3,
            self.query_weight,
        )
        if rank_one:
            d_score_rows = self.d_score.unsqueeze(2).unbind(1)  # (B, 1, T+1)
            d_score_cols = self.d_score.transpose(1, 2).unsqueeze(3).unbind(2)  # (B, T+1, 1)
        else:
            self.d_score_params = [torch.zeros_like(p) for p in self.score_params]
        for end in range(T, 0, -BLOCK):
            start = max(0, end - BLOCK)
            for t in range(end - 1, start - 1, -1):
                n = t + 1  # step t read h_0 … h_t
                # ∂L/∂h_{t+1}, complete now but for its part through its key and query:
                # added in place (no later step reads row t+1 of ∂L/∂h, so no copy of it)
                d_h_next = d_state_rows[n].addmm_(d_query_rows[n], query_weight)
                dp = torch.mul(d_h_next, slope_rows[t], out=d_pre_rows[t])  # ∂L/∂pre_t, (B, H)
                # [∂L/∂h_t; ∂L/∂c_t] += [A_h A_c]^T ∂L/∂pre_t  (z holds h_t under eq4)
                grad_rows[t].addmm_(dp, A_hc)
                a = alpha_rows[t][:, :, :n]  # (B, 1, t+1)
                # ∂L/∂α_{t,i} = upstream + ∂L/∂c_t · h_i
                if up_alpha_rows[t] is None:
                    d_a = torch.bmm(d_c_rows3[t], h_by_column[:, :, :n])
                else:
                    d_a = torch.baddbmm(
                        up_alpha_rows[t][:, :, :n], d_c_rows3[t], h_by_column[:, :, :n]
                    )
                # ∂L/∂score_t = α_t ⊙ (∂L/∂α_t − Σ_i α_{t,i} ∂L/∂α_{t,i})
                a_d_a = d_a.mul_(a)
                out = d_score_rows[t - start][:, :, :n] if rank_one else None
                d_scores = torch.addcmul(a_d_a, a, a_d_a.sum(-1, keepdim=True), value=-1, out=out)
                # (1) inside the block: ∂L/∂h_i += α_{t,i} ∂L/∂c_t for i = start … t
                rows = d_states[:, start:n]  # (B, t+1−start, H)
                rows.addcmul_(alpha_cols[t][:, start:n], d_c_rows3[t])
                if rank_one:
                    if scale != 1.0:
                        d_scores.mul_(scale)
                    # (2) inside the block: ∂L/∂k_i += s ∂s_{t,i} q_t; ∂L/∂q_t = s Σ_i ∂s_{t,i} k_i
                    rows = rows if fold else d_keys[:, start:n]
                    rows.addcmul_(d_score_cols[t - start][:, start:n], query_rows3[t])
                    torch.bmm(d_scores, keys[:, :n], out=d_query_rows3[t])
                else:
                    d_q, d_params = self.align.score_backward(
                        d_scores, keys[:, :n], query_rows3[t], d_keys[:, :n], self.score_params
                    )
                    d_query_rows3[t].copy_(d_q)
                    for total, part in zip(self.d_score_params, d_params, strict=True):
                        total += part
            if start:  # (1) and (2) for the rows before the block, the block's steps at once
                d_states[:, :start].baddbmm_(
                    alpha[:, start:end, :start].transpose(1, 2),
                    self.d_c[start:end].transpose(0, 1),
                )
                if rank_one:
                    d_keys[:, :start].baddbmm_(
                        self.d_score[:, : end - start, :start].transpose(1, 2),
                        self.queries[:, start:end],
                    )

    def weight_grads(self, kq_weight, h):
        """∂L/∂[W_K; W_Q] (2d, H) and the score's own parameter gradients."""
        params = () if self.rank_one else self.d_score_params
        if self.fold is None:
            return self.d_query.flatten(0, 1).t() @ h.flatten(0, 1), params
        # ∂L/∂F = Σ_t ∂L/∂u_t h_tᵀ over every step and sequence, then through F = s·W_Kᵀ W_Q
        d_fold = torch.tensordot(self.d_query, h.transpose(0, 1), dims=([0, 1], [0, 1]))
        return self.align.fold_backward(d_fold, kq_weight), params
