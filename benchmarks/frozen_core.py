"""The core's batched run as it was before issue #27, frozen: the yardstick for
"no slower than before" (``benchmarks.core``) and for "exact against the
implementation it replaced" (tests/test_bptt_blocked.py).

This is the loop and the hand-written backward of ``attn_widget/core`` at commit
03318be, copied with their align functions, so that later changes to the core
cannot move the yardstick: every step scores the cached keys W_K h_i against
the query W_Q h_t, and the backward adds α_{t,i} ∂L/∂c_t and ∂s_{t,i} q_t into
the whole history's gradients at every step (two ``addcmul_`` over h_0 … h_t).

:class:`FrozenSelfAttentionRNN` is a ``SelfAttentionRNN`` with the same
parameters whose ``forward`` runs this frozen code (``model(x, knockout=…)``,
with or without gradients; no ``lengths``).  Nothing here is imported by the
package.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.nn import functional as F

from attn_widget.core import SelfAttentionRNN, Trace
from attn_widget.core.align import softmax_visible
from attn_widget.core.checks import check_knockout, check_sequence, check_weights_finite


def _score(align, keys: Tensor, query: Tensor) -> Tensor:
    """The align's score as it was: dot and scaled dot, or additive."""
    if align.name == "additive":
        return align.v(torch.tanh(keys + query.unsqueeze(1))).squeeze(-1)
    scores = torch.bmm(query.unsqueeze(1), keys.transpose(1, 2)).squeeze(1)
    return scores * align.scale if align.scale != 1.0 else scores


def _score_backward(align, d_scores, keys, query, d_keys, params):
    """The align's score backward as it was: adds ∂L/∂k into d_keys, returns ∂L/∂q, params."""
    if align.name == "additive":
        (v,) = params
        u = torch.tanh(keys + query.unsqueeze(1))
        d_inner = (d_scores.unsqueeze(2) * v) * (1 - u * u)
        d_keys.add_(d_inner)
        d_v = (d_scores.unsqueeze(1) @ u).sum(0)
        return d_inner.sum(1), (d_v,)
    if align.scale != 1.0:
        d_scores = d_scores * align.scale
    d_keys.addcmul_(d_scores.unsqueeze(2), query.unsqueeze(1))
    return (d_scores.unsqueeze(1) @ keys).squeeze(1), ()


class _FrozenPast:
    """States (B, cap, H), keys (B, cap, d) and [k_i; q_i; A_h h_i] (cap, B, P)."""

    def __init__(self, columns, hidden, batch, capacity, like, A_weight, A_bias, kq_weight):
        self.bias = A_bias
        self.A_x = A_weight[:, columns["x"]]
        self.A_c_t = A_weight[:, columns["c"]].t() if "c" in columns else None
        self.d = 0 if kq_weight is None else kq_weight.shape[0] // 2
        blocks = [] if kq_weight is None else [kq_weight]
        if "h" in columns:
            blocks.append(A_weight[:, columns["h"]])
        self.reads_h = "h" in columns
        self.proj_weight_t = torch.cat(blocks).t().contiguous()
        self.states = like.new_empty(batch, capacity, hidden)
        self.keys = like.new_empty(batch, capacity, self.d)
        self.proj = like.new_empty(capacity, batch, self.proj_weight_t.shape[1])
        d = self.d
        self.state_rows = self.states.unbind(1)
        self.key_rows = self.keys.unbind(1)
        self.proj_rows = self.proj.unbind(0)
        self.projected_key_rows = self.proj[:, :, :d].unbind(0)
        self.query_rows = self.proj[:, :, d : 2 * d].unbind(0)
        self.state_part_rows = self.proj[:, :, 2 * d :].unbind(0)
        self.queries = self.proj[:, :, d : 2 * d].transpose(0, 1)
        self.write(0, like.new_zeros(batch, hidden))

    def write(self, i, h):
        self.state_rows[i].copy_(h)
        torch.mm(h, self.proj_weight_t, out=self.proj_rows[i])
        if self.d:
            self.key_rows[i].copy_(self.projected_key_rows[i])


class _FrozenRecurrence(torch.autograd.Function):
    """The forward loop, then BPTT with history-wide updates at every step."""

    @staticmethod
    def forward(ctx, run, columns, align, x, hidden, A_weight, A_bias, kq_weight, *score_params):
        h, c, alpha, past = run(x, A_weight, A_bias, kq_weight, hidden)
        ctx.columns, ctx.align = columns, align
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
        A_h = A_weight[:, columns["h"]] if "h" in columns else None
        A_c = A_weight[:, columns["c"]] if "c" in columns else None
        d_states = d_h.clone()
        d_pre = x.new_empty(B, T, A_weight.shape[0])
        slopes = torch.addcmul(torch.ones_like(h[:, 1:]), h[:, 1:], h[:, 1:], value=-1)
        d_state_rows, slope_rows, d_pre_rows = d_states.unbind(1), slopes.unbind(1), d_pre.unbind(1)
        if kq_weight is not None:
            d = keys.shape[2]
            d_kq = x.new_zeros(B, T + 1, 2 * d)
            d_kq_rows, d_keys = d_kq.unbind(1), d_kq[:, :, :d]
            d_query_rows = d_kq[:, :, d:].unbind(1)
            d_score_params = [torch.zeros_like(p) for p in score_params]
            query_rows, h_by_column = queries.unbind(1), h.transpose(1, 2)
            alpha_rows, d_alpha_rows = alpha.unbind(1), d_alpha.unsqueeze(2).unbind(1)
            d_c_rows = d_c.unbind(1)
        for t in reversed(range(T)):
            n = t + 1
            d_h_next = d_state_rows[n]
            if kq_weight is not None:
                d_h_next = torch.addmm(d_h_next, d_kq_rows[n], kq_weight)
            dp = torch.mul(d_h_next, slope_rows[t], out=d_pre_rows[t])
            if A_h is not None:
                d_state_rows[t].addmm_(dp, A_h)
            if A_c is None:
                continue
            d_c_t = torch.addmm(d_c_rows[t], dp, A_c).unsqueeze(1)
            a = alpha_rows[t][:, :n]
            d_a = torch.baddbmm(d_alpha_rows[t][:, :, :n], d_c_t, h_by_column[:, :, :n])
            d_a = d_a.squeeze(1)
            d_states[:, :n].addcmul_(a.unsqueeze(2), d_c_t)
            a_d_a = a * d_a
            d_scores = torch.addcmul(a_d_a, a, a_d_a.sum(-1, keepdim=True), value=-1)
            d_q, d_params = _score_backward(
                ctx.align, d_scores, keys[:, :n], query_rows[t], d_keys[:, :n], score_params
            )
            d_query_rows[t].copy_(d_q)
            for total, part in zip(d_score_params, d_params, strict=True):
                total += part
        parts = {"h": h[:, :T], "x": x, "c": c}
        d_pre_flat = d_pre.flatten(0, 1)
        d_A_weight = torch.cat(
            [d_pre_flat.t() @ parts[name].flatten(0, 1) for name in columns], dim=1
        )
        d_A_bias = d_pre_flat.sum(0)
        d_x = d_pre @ A_weight[:, columns["x"]]
        if kq_weight is None:
            return None, None, None, d_x, None, d_A_weight, d_A_bias, None
        d_kq_weight = d_kq.flatten(0, 1).t() @ h.flatten(0, 1)
        return None, None, None, d_x, None, d_A_weight, d_A_bias, d_kq_weight, *d_score_params


class FrozenSelfAttentionRNN(SelfAttentionRNN):
    """A ``SelfAttentionRNN`` whose ``forward`` is the frozen pre-#27 code."""

    @classmethod
    def copy_of(cls, model: SelfAttentionRNN) -> FrozenSelfAttentionRNN:
        """A frozen twin with the same sizes and a copy of ``model``'s weights."""
        twin = cls(
            model.input_size,
            model.hidden_size,
            update=model.update,
            align=model.align_name or "dot",
            attn_size=model.attn_size,
        )
        twin.to(next(model.parameters()))  # the dtype first, so the copy is exact
        twin.load_state_dict(model.state_dict())
        return twin

    def frozen_weights(self) -> tuple:
        if self.align is None:
            return self.A.weight, self.A.bias, None
        kq = self.align.key_query_weight()
        params = (self.align.v.weight,) if self.align.name == "additive" else ()
        return self.A.weight, self.A.bias, kq, *params

    def frozen_advance(self, t, pre, past, c_out=None, hidden=None):
        alpha = None
        n = t + 1
        if self.align is not None:
            scores = _score(self.align, past.keys[:, :n], past.query_rows[t])
            if hidden is None:
                alpha = torch.softmax(scores, dim=-1)
            else:
                alpha = softmax_visible(scores, hidden)
            c = torch.bmm(alpha.unsqueeze(1), past.states[:, :n], out=c_out).squeeze(1)
        if past.reads_h:
            pre.add_(past.state_part_rows[t])
        if self.align is not None:
            pre.addmm_(c, past.A_c_t)
        h_next = torch.tanh(pre)
        past.write(n, h_next)
        return alpha

    def frozen_run(self, x, A_weight, A_bias, kq_weight, hidden=None):
        B, T, _ = x.shape
        with torch.no_grad():
            past = _FrozenPast(
                self._z_columns(), self.hidden_size, B, T + 1, x, A_weight, A_bias, kq_weight
            )
            pre_all = F.linear(x.transpose(0, 1), past.A_x, past.bias)
            c_all = alpha_all = None
            if self.align is not None:
                c_all = x.new_empty(T, B, self.hidden_size)
                alpha_all = x.new_zeros(B, T, T + 1)
            c_rows = [None] * T if c_all is None else c_all.unsqueeze(2).unbind(0)
            alpha_rows = [None] * T if alpha_all is None else alpha_all.unbind(1)
            if hidden is None or self.align is None:
                hidden_rows = [None] * T
            else:
                hidden_rows = [hidden[:, : t + 1] for t in range(T)]
            for t, pre in enumerate(pre_all.unbind(0)):
                alpha = self.frozen_advance(t, pre, past, c_rows[t], hidden_rows[t])
                if alpha is not None:
                    alpha_rows[t][:, : t + 1] = alpha
            h_all = past.states
            if c_all is not None:
                c_all = c_all.transpose(0, 1).contiguous()
        return h_all, c_all, alpha_all, past

    def forward(self, x: Tensor, lengths=None, *, knockout: Tensor | None = None) -> Trace:
        if lengths is not None:
            raise NotImplementedError("the frozen core is timed and compared without lengths")
        x, batched = check_sequence(x, self, batched_ok=True)
        B, T, _ = x.shape
        hidden = check_knockout(knockout, B, T, batched, x.device)
        check_weights_finite(self)
        weights = self.frozen_weights()
        if torch.is_grad_enabled() and any(
            w is not None and w.requires_grad for w in (x, *weights)
        ):
            outputs = _FrozenRecurrence.apply(
                self.frozen_run, self._z_columns(), self.align, x, hidden, *weights
            )
            h_all, c_all, alpha_all = (*outputs, None, None)[:3]
        else:
            h_all, c_all, alpha_all, _ = self.frozen_run(x, *weights[:3], hidden)
        if not bool(torch.isfinite(h_all[:, -1].sum())) and not bool(torch.isfinite(h_all).all()):
            raise ValueError("the network produced NaN or Inf from finite inputs and weights")
        if not batched:
            h_all = h_all[0]
            c_all = None if c_all is None else c_all[0]
            alpha_all = None if alpha_all is None else alpha_all[0]
        return Trace(h_all, c_all, alpha_all)
