"""SelfAttentionRNN: a recurrent network that attends over its own past states.

Notation (docs/design.md §1).  Inputs x_1 … x_T, states h_0 … h_T with h_0 = 0.
Step t (t = 0 … T-1) consumes x_{t+1}:

    score_{t,i} = align(h_i, h_t)                  i = 0 … t
    α_{t,i}     = softmax_i(score_{t,i})           sums to 1 over i = 0 … t
    c_t         = Σ_i α_{t,i} h_i                  (c_0 = 0 because h_0 = 0)
    z           = [h_t; x_{t+1}]          eq1 (no attention)
                  [x_{t+1}; c_t]          eq3
                  [h_t; x_{t+1}; c_t]     eq4
    h_{t+1}     = tanh(A·z + b)

The batched ``forward`` and the one-step ``stepper`` share one step function
(``_advance``) and one cache of past states, keys and queries (``_PastStates``),
so they compute the same numbers, and a step costs O(t·(d+H)) for attention
on top of the cell's fixed O(H·|z|): a state's key, query and A_h h are
projected once, when the state is born, never again.  A·z + b is computed by
blocks of z, and the batched run does the input block A_x·x + b for every
step in one matmul before the loop (docs/design.md §1 keeps z's order).

With gradients, ``forward`` runs that same loop inside ``_Recurrence``, whose
backward is backpropagation through time written out, so autograd keeps
O(T·(H+d)) for the history (plus α, an output) instead of a graph per step.

Knockout (docs/design.md §3) hides chosen states from attention: with a set
K of hidden slots, step t attends over the visible slots V_t = {0 … t} minus K,

    α_{t,i} = softmax over V_t of score_{t,i}     i ∈ V_t
    α_{t,i} = 0                                    i ∈ K
    c_t     = Σ_{i ∈ V_t} α_{t,i} h_i              (0 when V_t is empty)

and nothing else changes: z still holds h_t under eq1/eq4, so the
recurrence itself is untouched.  The mask reaches one helper,
``softmax_visible``; without a mask the loop runs the plain softmax.
"""

from __future__ import annotations

import math
import numbers
import warnings
from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from .align import make_align, softmax_visible
from .cells import check_update, concat, uses_attention, z_layout


@dataclass
class Trace:
    """Everything a forward pass computed, per sequence.

    Attributes:
        h: states h_0 … h_T, shape (…, T+1, H); h[..., 0, :] = h_0 = 0.
        c: contexts c_0 … c_{T-1}, shape (…, T, H); None for eq1.
        alpha: weights, shape (…, T, T+1); row t holds α_{t,0 … t} and exact
            zeros for i > t.  None for eq1.
        lengths: the true length of each sequence in a padded batch, or None.
            Entries past a sequence's length are zero.
    """

    h: Tensor
    c: Tensor | None
    alpha: Tensor | None
    lengths: Tensor | None = None

    def last(self) -> Tensor:
        """h at each sequence's own end, h_{L}: shape (…, H)."""
        return _last_states(self.h, self.lengths)


@dataclass(frozen=True)
class Step:
    """One step t of an unbatched sequence: the tensors the computation used.

    Attributes:
        t: the step index; this step consumed x_{t+1} and produced h_{t+1}.
        x: x_{t+1}, shape (D,).
        scores: align(h_i, h_t) for i = 0 … t, shape (t+1,); None for eq1.  Under
            knockout these stay the raw scores of every slot, hidden or not
            (what the step would have weighed a hidden state by).
        alpha: α_{t,0 … t} = softmax(scores), shape (t+1,); None for eq1.  Under
            knockout, α as the step used it: exactly 0 at hidden slots, a softmax
            over the visible ones, all 0 if every slot 0 … t is hidden.
        c: c_t = Σ_i α_{t,i} h_i, shape (H,); None for eq1.
        z: the concatenation fed to A, shape (|z|,), in the order of ``z_layout``.
        pre: the pre-activation A·z + b, shape (H,).
        h: h_{t+1} = tanh(pre), shape (H,).
    """

    t: int
    x: Tensor
    scores: Tensor | None
    alpha: Tensor | None
    c: Tensor | None
    z: Tensor
    pre: Tensor
    h: Tensor


class _PastStates:
    """Past states h_0 … h_n with all a later step reads of them, each computed once.

        states  (B, cap, H)   h_i
        keys    (B, cap, d)   k_i
        proj    (cap, B, P)   [k_i; q_i; A_h h_i]

    ``proj`` is one matmul of h_i with [W_K; W_Q; A_h] (``key_query_weight``
    stacked on the block of A that multiplies h_t in z), done when h_i is
    born: no state is ever projected twice.  eq1 keeps only A_h h_i, eq3 only
    the key and query.  ``proj`` is time-major so the matmul writes its slot
    directly; the states and keys, which every later step reads whole, are
    kept batch-major, so each sequence's history is one contiguous block (a
    time-major history, strided by B rows, read 1.4× slower at T = 1024 when
    tried).

    The cache also keeps the weights as they were when it was built, split by
    the blocks of z = [h_t; x_{t+1}; c_t]: a sequence is computed with one set
    of weights from its step 0 on.
    """

    def __init__(self, model, batch: int, capacity: int, like: Tensor, A_weight, A_bias, kq_weight):
        columns = model._z_columns()
        self.bias = A_bias  # (H,)
        self.A_x = A_weight[:, columns["x"]]  # (H, D)
        self.A_c_t = A_weight[:, columns["c"]].t() if "c" in columns else None  # (H, H)
        self.d = 0 if kq_weight is None else kq_weight.shape[0] // 2
        blocks = [] if kq_weight is None else [kq_weight]
        if "h" in columns:
            blocks.append(A_weight[:, columns["h"]])
        self.reads_h = "h" in columns
        self.proj_weight_t = torch.cat(blocks).t().contiguous()  # (H, P)
        hidden = model.hidden_size
        # Slots are written before they are read, so the buffers start empty.
        self.states = like.new_empty(batch, capacity, hidden)  # (B, cap, H)
        self.keys = like.new_empty(batch, capacity, self.d)  # (B, cap, d)
        self.proj = like.new_empty(capacity, batch, self.proj_weight_t.shape[1])  # (cap, B, P)
        self._make_views()
        # h_0 = 0, so its projections are 0 for every align here; computed, not assumed.
        self.write(0, like.new_zeros(batch, hidden))

    @property
    def capacity(self) -> int:
        return self.states.shape[1]

    def _make_views(self) -> None:
        """Views a step reads, made once per buffer rather than once per step:
        the loop's own overhead is a large part of a step at these sizes."""
        d = self.d
        self.state_rows = self.states.unbind(1)  # h_i, (B, H) each
        self.key_rows = self.keys.unbind(1)  # k_i, (B, d) each
        self.proj_rows = self.proj.unbind(0)  # [k_i; q_i; A_h h_i], (B, P) each
        self.projected_key_rows = self.proj[:, :, :d].unbind(0)  # k_i, (B, d) each
        self.query_rows = self.proj[:, :, d : 2 * d].unbind(0)  # q_i, (B, d) each
        self.state_part_rows = self.proj[:, :, 2 * d :].unbind(0)  # A_h h_i, (B, H) each
        self.queries = self.proj[:, :, d : 2 * d].transpose(0, 1)  # (B, cap, d)

    def grow(self, capacity: int) -> None:
        """Make room for ``capacity`` states (the stepper's sequence can grow)."""
        if capacity <= self.capacity:
            return
        for name, dim in (("states", 1), ("keys", 1), ("proj", 0)):
            old = getattr(self, name)
            shape = list(old.shape)
            shape[dim] = capacity
            new = old.new_empty(shape)
            new.narrow(dim, 0, old.shape[dim]).copy_(old)
            setattr(self, name, new)
        self._make_views()

    def write(self, i: int, h: Tensor) -> None:
        """Store h_i (B, H) and compute its [k_i; q_i; A_h h_i].  h comes contiguous
        (the slot itself is strided, and a matmul or tanh writing there is slower)."""
        self.state_rows[i].copy_(h)
        torch.mm(h, self.proj_weight_t, out=self.proj_rows[i])
        if self.d:
            self.key_rows[i].copy_(self.projected_key_rows[i])

    def input_part(self, x: Tensor) -> Tensor:
        """A_x·x + b for inputs x (…, D): the part of A·z + b that needs no state.
        The batched run computes it for every step at once, before the loop."""
        return F.linear(x, self.A_x, self.bias)  # (…, H)


class _Recurrence(torch.autograd.Function):
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
    """

    @staticmethod
    def forward(ctx, model, x, hidden, A_weight, A_bias, kq_weight, *score_params):
        h, c, alpha, past = model._run(x, A_weight, A_bias, kq_weight, hidden)
        ctx.model = model
        keys_queries = () if kq_weight is None else (past.keys, past.queries)
        ctx.save_for_backward(x, A_weight, kq_weight, h, c, alpha, *score_params, *keys_queries)
        return (h,) if c is None else (h, c, alpha)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, d_h, d_c=None, d_alpha=None):
        model = ctx.model
        x, A_weight, kq_weight, h, c, alpha, *rest = ctx.saved_tensors
        n_score = len(rest) - (0 if kq_weight is None else 2)
        score_params, (keys, queries) = rest[:n_score], rest[n_score:] or (None, None)
        B, T, _ = x.shape
        columns = model._z_columns()
        A_h = A_weight[:, columns["h"]] if "h" in columns else None  # (H, H)
        A_c = A_weight[:, columns["c"]] if "c" in columns else None  # (H, H)

        d_states = d_h.clone()  # (B, T+1, H): every path into h_i but its key and query
        d_pre = x.new_empty(B, T, model.hidden_size)  # (B, T, H)
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
            d_q, d_params = model.align.score_backward(
                d_scores, keys[:, :n], query_rows[t], d_keys[:, :n], score_params
            )
            d_query_rows[t].copy_(d_q)
            for total, part in zip(d_score_params, d_params, strict=True):
                total += part

        # Weight gradients: one matmul per block of z over all B·T steps (z is never built).
        parts = {"h": h[:, :T], "x": x, "c": c}
        d_pre_flat = d_pre.flatten(0, 1)  # (B·T, H)
        d_A_weight = torch.cat(
            [d_pre_flat.t() @ parts[name].flatten(0, 1) for name, _ in model.z_layout], dim=1
        )  # (H, |z|)
        d_A_bias = d_pre_flat.sum(0)
        d_x = d_pre @ A_weight[:, columns["x"]]  # (B, T, D)
        if kq_weight is None:
            return None, d_x, None, d_A_weight, d_A_bias, None
        d_kq_weight = d_kq.flatten(0, 1).t() @ h.flatten(0, 1)  # (2d, H)
        return None, d_x, None, d_A_weight, d_A_bias, d_kq_weight, *d_score_params


class SelfAttentionRNN(nn.Module):
    r"""A SimpleRNN whose update reads a context c_t, attended over its own past states.

    .. math::
        α_{t,i} = \operatorname{softmax}_i \operatorname{align}(h_i, h_t),\; i = 0…t \qquad
        c_t = Σ_i α_{t,i} h_i \qquad
        h_{t+1} = \tanh(A·z + b)

    with z = [h_t; x_{t+1}] (eq1), [x_{t+1}; c_t] (eq3) or [h_t; x_{t+1}; c_t] (eq4).

    Args:
        input_size: D, the size of each x_t.
        hidden_size: H, the size of each h_t.
        update: ``"eq1"`` (plain SimpleRNN baseline), ``"eq3"`` or ``"eq4"``.
        align: ``"dot"``, ``"scaled_dot"`` or ``"additive"`` (ignored by eq1).
        attn_size: d_k (dot) or d_a (additive); defaults to H.

    Attributes:
        A: ``nn.Linear(|z|, H)``; ``A.bias`` is b.
        align: the align module (``W_q``, ``W_k`` or ``W``, ``v``); None for eq1.

    Shapes:
        x: (T, D) or (B, T, D), floating point.  ``model(x)`` returns a
        :class:`Trace` with h (…, T+1, H), c (…, T, H), alpha (…, T, T+1).

    Example::

        >>> model = SelfAttentionRNN(4, 8, update="eq4", align="dot")
        >>> trace = model(torch.randn(5, 4))
        >>> trace.h.shape, trace.alpha.shape
        (torch.Size([6, 8]), torch.Size([5, 6]))
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        *,
        update: str = "eq4",
        align: str = "dot",
        attn_size: int | None = None,
    ):
        super().__init__()
        check_update(update)
        _check_sizes(input_size=input_size, hidden_size=hidden_size, attn_size=attn_size)
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.update = update
        self.attn_size = attn_size or hidden_size
        self.z_layout = z_layout(update, input_size, hidden_size)
        self.A = nn.Linear(sum(size for _, size in self.z_layout), hidden_size)
        if uses_attention(update):
            self.align: nn.Module | None = make_align(align, hidden_size, self.attn_size)
            self.align_name: str | None = align
        else:
            make_align(align, hidden_size, 1)  # still reject unknown names
            self.align, self.align_name = None, None

    def extra_repr(self) -> str:
        return (
            f"input_size={self.input_size}, hidden_size={self.hidden_size}, "
            f"update={self.update!r}, align={self.align_name!r}, attn_size={self.attn_size}"
        )

    # -- the one step both paths share ------------------------------------

    def _advance(
        self,
        t: int,
        pre: Tensor,
        past: _PastStates,
        c_out: Tensor | None = None,
        hidden: Tensor | None = None,
    ):
        """Step t for a batch.

        ``pre`` (B, H) holds A_x·x_{t+1} + b and is completed in place to
        A·z + b = pre + A_h h_t + A_c c_t, block by block (z itself is never
        built); h_t, its key and query and A_h h_t are read from ``past``, and
        h_{t+1} is written there.  ``c_out`` (B, 1, H), if given, receives c_t.
        ``hidden`` (B or 1, t+1), bool, if given, hides slots from this step's
        attention (knockout); the scores stay raw.
        Returns scores (B, t+1), α (B, t+1), c (B, H) (None for eq1), pre and
        h_{t+1} (its own tensor; the cache holds a copy).
        """
        scores = alpha = c = None
        n = t + 1  # states h_0 … h_t
        if self.align is not None:
            scores = self.align.score(past.keys[:, :n], past.query_rows[t])  # (B, t+1)
            if hidden is None:
                alpha = torch.softmax(scores, dim=-1)  # (B, t+1)
            else:
                alpha = softmax_visible(scores, hidden)  # (B, t+1), 0 at hidden slots
            c = torch.bmm(alpha.unsqueeze(1), past.states[:, :n], out=c_out).squeeze(1)
        if past.reads_h:
            pre.add_(past.state_part_rows[t])
        if c is not None:
            pre.addmm_(c, past.A_c_t)
        h_next = torch.tanh(pre)  # (B, H)
        past.write(n, h_next)
        return scores, alpha, c, pre, h_next

    def _weights(self) -> tuple:
        """What the recurrence reads: A, b, [W_K; W_Q] (None for eq1), the score's own."""
        if self.align is None:
            return self.A.weight, self.A.bias, None
        return self.A.weight, self.A.bias, self.align.key_query_weight(), *self.align.score_params()

    def _z_columns(self) -> dict[str, slice]:
        """The columns of A that multiply each block of z."""
        columns, start = {}, 0
        for name, size in self.z_layout:
            columns[name] = slice(start, start + size)
            start += size
        return columns

    def _run(
        self,
        x: Tensor,
        A_weight: Tensor,
        A_bias: Tensor,
        kq_weight: Tensor | None,
        hidden: Tensor | None = None,
    ):
        """Every step over x (B, T, D), without autograd, hiding the slots where
        ``hidden`` (B or 1, T+1) is True.  Returns h (B, T+1, H), c (B, T, H),
        α (B, T, T+1) (None, None for eq1) and the past.

        The input part A_x·x + b of every step is one matmul before the loop,
        time-major like c, so each step completes and writes contiguous rows."""
        B, T, _ = x.shape
        with torch.no_grad():
            past = _PastStates(self, B, T + 1, x, A_weight, A_bias, kq_weight)
            pre_all = past.input_part(x.transpose(0, 1))  # (T, B, H), completed by each step
            c_all = alpha_all = None
            if self.align is not None:
                c_all = x.new_empty(T, B, self.hidden_size)  # (T, B, H)
                alpha_all = x.new_zeros(B, T, T + 1)  # (B, T, T+1); stays 0 for i > t
            c_rows = [None] * T if c_all is None else c_all.unsqueeze(2).unbind(0)  # (B, 1, H)
            alpha_rows = [None] * T if alpha_all is None else alpha_all.unbind(1)  # (B, T+1)
            if hidden is None or self.align is None:
                hidden_rows = [None] * T
            else:
                hidden_rows = [hidden[:, : t + 1] for t in range(T)]  # (B or 1, t+1)
            for t, pre in enumerate(pre_all.unbind(0)):
                _, alpha, _, _, _ = self._advance(t, pre, past, c_rows[t], hidden_rows[t])
                if alpha is not None:
                    alpha_rows[t][:, : t + 1] = alpha
            h_all = past.states  # (B, T+1, H)
            if c_all is not None:
                c_all = c_all.transpose(0, 1).contiguous()
        return h_all, c_all, alpha_all, past

    # -- batched ------------------------------------------------------------

    def forward(
        self, x: Tensor, lengths: Tensor | None = None, *, knockout: Tensor | None = None
    ) -> Trace:
        """Run every step over a sequence or a padded batch.

        Args:
            x: (T, D) or (B, T, D).
            lengths: optional (B,) ints in 1 … T, the true length of each
                sequence; steps past a sequence's length are zeroed in the
                trace and never affect its earlier steps (the model is causal).
            knockout: optional bool tensor of shape (T+1,), or (1, T+1) or
                (B, T+1) for a batch.  True at slot i hides h_i (h_0 is slot 0)
                from every step's attention: α_{t,i} = 0 exactly and the visible
                weights renormalise (a softmax over them alone).  A step whose
                slots 0 … t are all hidden reads nothing: α_t = 0 and c_t = 0,
                the empty sum (as c_0 = 0 without knockout), with finite
                gradients.  The recurrence itself is untouched (eq1/eq4 still
                read h_t in z).  eq1 has no attention: the mask is checked and
                changes nothing, so the same experiment runs on every model.

        Returns:
            A :class:`Trace` with h (…, T+1, H), c (…, T, H), alpha (…, T, T+1).

        With gradients, the backward is written out (``_Recurrence``) and is first
        order only: ``create_graph=True`` and ``torch.func`` transforms are not
        supported.
        """
        x, batched = _check_sequence(x, self, batched_ok=True)
        B, T, _ = x.shape
        lengths = _check_lengths(lengths, B, T, batched)
        hidden = _check_knockout(knockout, B, T, batched, x.device)
        _check_weights_finite(self)
        weights = self._weights()
        if torch.is_grad_enabled() and any(
            w is not None and w.requires_grad for w in (x, *weights)
        ):
            outputs = _Recurrence.apply(self, x, hidden, *weights)
            h_all, c_all, alpha_all = (*outputs, None, None)[:3]
        else:
            h_all, c_all, alpha_all, _ = self._run(x, *weights[:3], hidden)
        if not bool(torch.isfinite(h_all[:, -1].sum())) and not bool(torch.isfinite(h_all).all()):
            raise ValueError(
                "the network produced NaN or Inf from finite inputs and weights: the "
                "weights are too large for float arithmetic (the scores overflow); "
                "lower the learning rate, or check what changed the weights"
            )
        if lengths is not None:
            steps = torch.arange(T + 1, device=x.device)
            h_all = h_all * (steps <= lengths[:, None].to(x.device))[..., None]
            if c_all is not None:
                live = (steps[:T] < lengths[:, None].to(x.device))[..., None]  # (B, T, 1)
                c_all, alpha_all = c_all * live, alpha_all * live
        if not batched:
            h_all = h_all[0]
            c_all = None if c_all is None else c_all[0]
            alpha_all = None if alpha_all is None else alpha_all[0]
        return Trace(h_all, c_all, alpha_all, lengths)

    # -- one step at a time -------------------------------------------------

    def stepper(self, x: Tensor | None = None, *, knockout=None) -> Stepper:
        """A :class:`Stepper` over the unbatched x (T, D), or over inputs fed one by one.

        ``knockout``: slots hidden from attention, as for :meth:`Stepper.set_knockout`."""
        return Stepper(self, x, knockout=knockout)

    def _new_cache(self, x: Tensor, capacity: int) -> _PastStates:
        """The stepper's cache for one sequence, holding the weights as they are now."""
        A_weight, A_bias, kq_weight = self._weights()[:3]
        return _PastStates(self, 1, capacity, x, A_weight, A_bias, kq_weight)

    def _step_record(
        self, t: int, x_next: Tensor, past: _PastStates, hidden: Tensor | None = None
    ) -> Step:
        """Run step t on x_next (D,) with the stepper's cache; the record of what it used.
        ``hidden`` (t+1,), bool, if given, hides those slots from the step's attention."""
        if t + 2 > past.capacity:  # room for h_{t+1}; doubling keeps appends O(1)
            past.grow(2 * (t + 2))
        h_t = past.state_rows[t]  # (1, H)
        pre = past.input_part(x_next[None])  # (1, H)
        hidden = None if hidden is None else hidden[None]  # (1, t+1)
        scores, alpha, c, pre, h = self._advance(t, pre, past, None, hidden)
        z = concat(self.update, h_t, x_next[None], c)  # (1, |z|), for the record
        x_next = x_next.clone()  # the record does not share the stepper's inputs
        return Step(t, x_next, _unbatch(scores), _unbatch(alpha), _unbatch(c), z[0], pre[0], h[0])

    def _trace_of_steps(self, steps: list[Step], x: Tensor) -> Trace:
        """The stepper's steps 0 … n-1 as a :class:`Trace`, like ``model(x[:n])``."""
        n, H = len(steps), self.hidden_size
        h = torch.stack([x.new_zeros(H)] + [s.h for s in steps])
        if self.align is None:
            return Trace(h, None, None)
        c = torch.stack([s.c for s in steps]) if n else x.new_zeros(0, H)
        return Trace(h, c, _alpha_of_steps(steps, x))


class Stepper:
    """Runs a model one step at a time and keeps every step it ran.

    The model is a :class:`SelfAttentionRNN` (steps are :class:`Step`) or an
    :class:`~attn_widget.core.LSTMN` (steps are
    :class:`~attn_widget.core.LSTMNStep`); each model supplies its cache of
    the past (``_new_cache``), its step (``_step_record``, the very step its
    batched ``forward`` runs) and its trace (``_trace_of_steps``), and this
    class does the rest: position, inputs, edits and the weight check.

    The position k counts the inputs already read (0 … T).  ``step()``
    moves to k+1, running step k only if it has not run before; ``back()``,
    ``goto(k)`` and ``reset()`` move without recomputing anything already
    computed.  ``step(x_next)`` replaces the upcoming input x_{k+1} (or appends
    one at the end), drops every step computed after position k and runs the
    new step: the basis of what-if edits.

    Steps run under ``torch.no_grad()``.  Past states and their keys are
    cached, so step t costs O(t·(d+H)) for attention plus the cell's fixed
    cost.  Every step of a sequence uses the weights as they were at its
    step 0.  If they change after that (an optimiser step, an in-place edit,
    ``model.double()``), computing a new step raises
    :class:`WeightsChangedError` rather than mixing old keys with new weights:
    ``truncate(0)`` (as the widget does) recomputes with the new ones.  The
    check reads each parameter's storage and in-place version counter, so it
    sees every change made through the parameter itself; writes through
    ``param.data`` bypass autograd's counter and are not seen.

    Knockout: ``knockout`` (here or :meth:`set_knockout`) hides chosen states
    from attention, as ``model(x, knockout=mask)`` does, and stepping gives the
    batched run's numbers with that mask.  The mask is a set of slot indices
    (slot i is h_i, slot 0 is h_0); it belongs to the stepper, not to the
    inputs, so it survives ``set_inputs`` and edits, and a slot beyond the
    current T is kept and hides h_i once the sequence grows that far.

    Attributes:
        steps: the computed steps, ``steps[t]`` is step t (a :class:`Step` or
            :class:`~attn_widget.core.LSTMNStep`).
        k: the current position.
    """

    def __init__(self, model: nn.Module, x: Tensor | None = None, *, knockout=None):
        self.model = model
        param = next(model.parameters())
        if x is None:
            x = param.new_zeros(0, model.input_size)
        else:
            x, _ = _check_sequence(x, model, batched_ok=False)
            x = x[0].detach().clone()
        self.x = x  # (T, D), the inputs known so far
        self.steps: list[Step] = []  # steps 0 … frontier-1, each computed once
        self.k = 0
        self._cache: _PastStates | None = None  # built by the first step
        self._stamp: tuple = ()  # the weights step 0 read; see weights_changed()
        self._slots: list = []  # where to read them from, found at step 0
        self._knockout: tuple[int, ...] = _knockout_slots(knockout)  # sorted, distinct

    @property
    def T(self) -> int:
        """How many inputs are known."""
        return len(self.x)

    @property
    def frontier(self) -> int:
        """How many steps have been computed (positions 0 … frontier are ready)."""
        return len(self.steps)

    @property
    def history(self) -> list[Step]:
        """Deprecated name of :attr:`steps` ("History" is the training log's name)."""
        warnings.warn("Stepper.history is now Stepper.steps", DeprecationWarning, stacklevel=2)
        return self.steps

    @property
    def h(self) -> Tensor:
        """h_k, the state at the current position (h_0 = 0)."""
        return self.h_at(self.k)

    @property
    def current(self) -> Step | None:
        """The step shown at position k (step k-1), or None at k = 0."""
        return self.steps[self.k - 1] if self.k else None

    @property
    def knockout(self) -> tuple[int, ...]:
        """The slots hidden from attention, as a sorted tuple of ints (() for none)."""
        return self._knockout

    def set_knockout(self, slots) -> None:
        """Hide the states h_i, i in ``slots``, from every step's attention.

        Args:
            slots: an iterable of slot indices i ≥ 0 (slot 0 is h_0, slot i the
                state after reading x_i), a 1-D bool tensor (True at i hides
                slot i; slots past its end are visible), or None / () for none.
                A slot beyond T is allowed: it takes effect when the sequence
                grows that far.

        Step t reads slots 0 … t, so changing slot i can change steps t ≥ i
        only: the steps before the first changed slot are kept as they are,
        the rest are dropped.  The position k stays, as after an edit of an
        input: the steps up to k are recomputed at once with the new mask.
        A slot no step reads (any slot under eq1; slot 0 of an LSTMN without
        its zero slot) changes no step, and none is dropped for it.
        """
        new = _knockout_slots(slots)
        changed = [i for i in set(new) ^ set(self._knockout) if _is_read(self.model, i)]
        first = min(changed, default=self.frontier)  # the first step that reads a change
        affected = first < self.frontier
        if affected and 0 < first < self.k and self.weights_changed():
            self._refuse_stale_weights()  # before anything changes
        self._knockout = new
        if affected:
            k = self.k
            self.truncate(first)
            self.compute(k)
            self.k = k

    def _hidden_at(self, t: int) -> Tensor:
        """The mask step t reads, (t+1,) bool (True at the hidden slots among 0 … t)."""
        slots = [i for i in self._knockout if i <= t]
        hidden = torch.zeros(t + 1, dtype=torch.bool, device=self.x.device)
        hidden[slots] = True
        return hidden

    def step(self, x_next: Tensor | None = None) -> Step:
        """Advance to position k+1 and return step k.

        Args:
            x_next: optional new x_{k+1}, shape (D,).  It replaces the stored
                input (or extends the sequence at the end) and discards the
                steps after position k, which depended on the old input.
        """
        if x_next is not None:
            x_next = self.check_input(x_next)
            if self.k > 0 and self.weights_changed():
                self._refuse_stale_weights()  # before anything changes
            self.truncate(self.k)
            if self.k < self.T:
                self.x = self.x.clone()
                self.x[self.k] = x_next
            else:
                self.x = torch.cat([self.x, x_next[None]], dim=0)
        elif self.k >= self.T:
            raise ValueError(
                f"cannot step past the end: position k = {self.k} already read all "
                f"T = {self.T} inputs; pass the next input as step(x_next)"
            )
        if self.k == self.frontier:
            self._compute_next()
        self.k += 1
        return self.steps[self.k - 1]

    def check_input(self, x_next) -> Tensor:
        """x_next checked as this model's input: a finite float tensor of shape (D,).

        Raises the same TypeError/ValueError as ``step(x_next)``, before anything moves.
        """
        return _check_vector(x_next, self.model)

    def back(self) -> Step | None:
        """Move to position k-1 (no-op at 0); return the step shown there."""
        self.k = max(0, self.k - 1)
        return self.current

    def goto(self, k: int) -> Step | None:
        """Move to position k (0 … T), computing any steps not yet run."""
        if isinstance(k, bool) or not isinstance(k, numbers.Integral):
            raise TypeError(f"goto expects an int position, got {type(k).__name__}")
        k = int(k)  # numpy and torch integers too
        if not 0 <= k <= self.T:
            raise ValueError(f"goto position must be in 0 … T = {self.T}, got {k}")
        self.compute(k)
        self.k = k
        return self.current

    def compute(self, n: int) -> None:
        """Make sure steps 0 … n-1 are computed (n is clamped to T), without moving."""
        while self.frontier < min(n, self.T):
            self._compute_next()

    def reset(self) -> None:
        """Back to position 0.  Computed steps stay cached."""
        self.k = 0

    def truncate(self, n: int) -> None:
        """Forget the steps from step n on (after an edit of x_{n+1} or of the weights)."""
        if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 0:
            raise ValueError(f"truncate expects a step count n ≥ 0, got {n!r}")
        n = int(n)
        del self.steps[n:]
        self.k = min(self.k, n)

    def set_inputs(self, x: Tensor) -> None:
        """Replace the whole sequence (T, D); forgets every step and returns to position 0."""
        x, _ = _check_sequence(x, self.model, batched_ok=False)
        self.x = x[0].detach().clone()
        self.truncate(0)

    def trace(self):
        """The computed steps as a trace (T = frontier), like ``model(x)``: a
        :class:`Trace`, or an :class:`~attn_widget.core.LSTMNTrace` for an LSTMN."""
        return self.model._trace_of_steps(self.steps, self.x)

    def _refuse_stale_weights(self) -> None:
        changed = [
            name
            for (name, *now), (_, *then) in zip(
                _weight_stamp(self._slots), self._stamp, strict=False
            )
            if now != then
        ]
        raise WeightsChangedError(
            f"the model's weights changed after step 0 of this sequence "
            f"({', '.join(changed) or 'parameters added or removed'}); steps 0 … "
            f"{self.frontier - 1} used the old ones.  Call truncate(0) to recompute every "
            "step with the new weights (the widget does this by itself)"
        )

    def _check_inputs_fit_model(self) -> None:
        param = next(self.model.parameters())
        if self.x.dtype != param.dtype or self.x.device != param.device:
            raise TypeError(
                f"the stepper's inputs are {self.x.dtype} on {self.x.device} but the model "
                f"is now {param.dtype} on {param.device}; give the inputs again with "
                "set_inputs(x) in the model's dtype and device"
            )

    def weights_changed(self) -> bool:
        """True when the model's weights changed since step 0 of the computed steps."""
        return self.frontier > 0 and _weight_stamp(self._slots) != self._stamp

    def _compute_next(self) -> None:
        t = self.frontier
        if t > 0 and self.weights_changed():
            self._refuse_stale_weights()
        with torch.no_grad():
            if t == 0:  # a fresh start reads the weights as they are now
                _check_weights_finite(self.model)
                self._check_inputs_fit_model()
                self._slots = _parameter_slots(self.model)  # the model as it is now
                self._stamp = _weight_stamp(self._slots)
                self._cache = self.model._new_cache(self.x, capacity=max(16, self.T + 1))
            hidden = self._hidden_at(t) if self._knockout and self._knockout[0] <= t else None
            if hidden is None:  # so that a model without knockout still steps
                step = self.model._step_record(t, self.x[t], self._cache)
            else:
                step = self.model._step_record(t, self.x[t], self._cache, hidden=hidden)
        # h is bounded (tanh, or o ⊙ tanh), so one sum finds a NaN: cheaper than isfinite
        if math.isnan(float(step.h.sum())):
            raise ValueError(
                f"step {t} produced NaN or Inf from finite inputs and weights: the weights "
                "are too large for float arithmetic (the scores overflow)"
            )
        self.steps.append(step)

    def h_at(self, i: int) -> Tensor:
        """h_i for a computed position i (h_0 = 0)."""
        if isinstance(i, bool) or not isinstance(i, numbers.Integral):
            raise TypeError(f"h_at expects an int position, got {type(i).__name__}")
        if not 0 <= i <= self.frontier:
            raise ValueError(f"h_at position must be in 0 … frontier = {self.frontier}, got {i}")
        if i == 0:
            return self.x.new_zeros(self.model.hidden_size)
        return self.steps[i - 1].h


class WeightsChangedError(RuntimeError):
    """A stepper was asked for a new step after the model's weights changed."""


def _parameter_slots(model: nn.Module) -> list[tuple[str, dict, str]]:
    """Where each submodule and parameter lives: (its name, the dict that holds
    it — a module's ``_modules`` or ``_parameters`` —, its key there)."""
    slots = []
    for prefix, module in model.named_modules():
        for store in (module._modules, module._parameters):
            for key, value in store.items():
                if value is not None:
                    slots.append((f"{prefix}.{key}" if prefix else key, store, key))
    return slots


def _weight_stamp(slots: list[tuple[str, dict, str]]) -> tuple:
    """For each slot :func:`_parameter_slots` found, what is there now: a
    submodule's identity, or a parameter's identity, storage, dtype, shape and
    in-place version counter.  Reading the slots found at step 0 costs far less
    than walking the modules at every step.  A submodule or parameter replaced
    (``model.A = nn.Linear(…)``), a parameter edited in place or moved
    (``.double()``, ``.to()``) changes the stamp."""
    stamp = []
    for name, store, key in slots:
        value = store.get(key)
        if isinstance(value, Tensor):
            p = value
            stamp.append((name, id(p), p.data_ptr(), p.dtype, tuple(p.shape), p._version))
        else:
            stamp.append((name, id(value)))
    return tuple(stamp)


class WeightWatch:
    """Tells whether a module's weights changed since the watch was made.

    It reads the slots :func:`_parameter_slots` found when it was made (a
    submodule replaced, a parameter replaced, moved, or edited in place all
    change the stamp).  A watch never changes: :meth:`renewed` gives one that
    starts from the weights as they are now.
    """

    def __init__(self, module: nn.Module):
        self._slots = _parameter_slots(module)
        self._stamp = _weight_stamp(self._slots)

    def changed(self) -> bool:
        return _weight_stamp(self._slots) != self._stamp

    def renewed(self) -> WeightWatch:
        watch = object.__new__(WeightWatch)
        watch._slots, watch._stamp = self._slots, _weight_stamp(self._slots)
        return watch


def _check_weights_finite(model: nn.Module, skip: str | None = None) -> None:
    """Raise if a parameter holds NaN or Inf (those under the prefix ``skip`` are
    left to whoever checks that submodule)."""
    for name, p in model.named_parameters():
        if skip is not None and name.startswith(skip):
            continue
        if not bool(torch.isfinite(p).all()):
            raise ValueError(
                f"the model's weight {name} contains NaN or Inf; the network cannot run "
                "(was it trained with too large a learning rate, or loaded from a broken file?)"
            )


def _check_sizes(**sizes) -> None:
    """Each size is a positive int (None stands for a default)."""
    for name, value in sizes.items():
        if value is not None and (
            not isinstance(value, int) or isinstance(value, bool) or value < 1
        ):
            raise ValueError(f"{name} must be a positive int, got {value!r}")


def _is_read(model: nn.Module, i: int) -> bool:
    """Whether some step's attention reads slot i: not under eq1 (no attention),
    and not slot 0 of a model with ``zero_slot=False`` (the paper's LSTMN)."""
    if isinstance(model, SelfAttentionRNN) and model.align is None:
        return False
    return i != 0 or getattr(model, "zero_slot", True)


def _knockout_slots(slots) -> tuple[int, ...]:
    """A stepper's knockout as sorted distinct slot indices, from indices or a bool mask."""
    if slots is None:
        return ()
    if isinstance(slots, Tensor):
        if slots.dtype == torch.bool:
            if slots.dim() != 1:
                raise ValueError(
                    f"a knockout mask must be 1-D (True at slot i hides h_i), got shape "
                    f"{tuple(slots.shape)}"
                )
            return tuple(int(i) for i in slots.nonzero().flatten().tolist())
        if slots.is_floating_point() or slots.is_complex() or slots.dim() > 1:
            raise TypeError(
                f"knockout slots must be ints or a 1-D bool mask, got a tensor of dtype "
                f"{slots.dtype} and shape {tuple(slots.shape)}"
            )
        slots = slots.flatten().tolist()
    if isinstance(slots, (str, bytes)) or not hasattr(slots, "__iter__"):
        raise TypeError(
            f"knockout must be an iterable of slot indices or a 1-D bool tensor, "
            f"got {type(slots).__name__}"
        )
    out = set()
    for i in slots:
        if isinstance(i, bool) or not isinstance(i, numbers.Integral):
            raise TypeError(f"knockout slots must be ints, got {i!r} ({type(i).__name__})")
        if i < 0:
            raise ValueError(f"knockout slots must be ≥ 0 (slot 0 is h_0), got {int(i)}")
        out.add(int(i))
    return tuple(sorted(out))


def _alpha_of_steps(steps, like: Tensor) -> Tensor:
    """The weights of steps 0 … n-1 as a trace holds them: (n, n+1), row t holding
    α_{t,0 … t} and zeros for i > t."""
    alpha = like.new_zeros(len(steps), len(steps) + 1)
    for s in steps:
        alpha[s.t, : s.t + 1] = s.alpha
    return alpha


def _last_states(h: Tensor, lengths: Tensor | None) -> Tensor:
    """h at each sequence's own end: h[..., L, :] for lengths L, or the last slot."""
    if lengths is None:
        return h[..., -1, :]
    index = lengths.to(h.device).view(-1, 1, 1).expand(-1, 1, h.shape[-1])
    return h.gather(1, index).squeeze(1)  # (B, H)


def _unbatch(v: Tensor | None) -> Tensor | None:
    """Drop the batch of one the stepper runs with: (1, …) -> (…)."""
    return None if v is None else v[0]


# -- input checks: say what was expected and what came ------------------------


def _check_float_tensor(x, model: SelfAttentionRNN, what: str) -> Tensor:
    if not isinstance(x, Tensor):
        raise TypeError(f"{what} must be a torch.Tensor, got {type(x).__name__}")
    if not x.is_floating_point():
        raise TypeError(
            f"{what} must be a floating-point tensor, got dtype {x.dtype}; "
            "embed token ids first (see attn_widget.text)"
        )
    param = next(model.parameters())
    if x.dtype != param.dtype:
        raise TypeError(
            f"{what} has dtype {x.dtype} but the model's parameters are "
            f"{param.dtype}; convert one to match (x.to({param.dtype}) or "
            f"model.to({x.dtype}))"
        )
    if x.device != param.device:
        raise ValueError(f"{what} is on {x.device} but the model is on {param.device}")
    return x


def _check_finite(x: Tensor, what: str) -> None:
    # A NaN or ±Inf anywhere makes the sum non-finite, so one cheap reduction
    # clears the usual case; only a non-finite sum (which may also be an
    # overflow of large finite values) pays for the exact elementwise check.
    if not bool(torch.isfinite(x.sum())) and not bool(torch.isfinite(x).all()):
        bad = (~torch.isfinite(x)).nonzero()[0].tolist()
        raise ValueError(f"{what} contains NaN or Inf (first at index {tuple(bad)})")


def _check_sequence(x, model: SelfAttentionRNN, *, batched_ok: bool) -> tuple[Tensor, bool]:
    """Return x as (B, T, D) and whether it came batched."""
    x = _check_float_tensor(x, model, "x")
    D = model.input_size
    expected = "(T, D) or (B, T, D)" if batched_ok else "(T, D)"
    if x.dim() not in ((2, 3) if batched_ok else (2,)) or x.shape[-1] != D:
        raise ValueError(
            f"x must have shape {expected} with D = input_size = {D}, got shape {tuple(x.shape)}"
        )
    if x.shape[-2] == 0:
        raise ValueError(
            f"x is an empty sequence (T = 0, shape {tuple(x.shape)}); give at least one input"
        )
    if x.dim() == 3 and x.shape[0] == 0:
        raise ValueError(f"x is an empty batch (B = 0, shape {tuple(x.shape)})")
    _check_finite(x, "x")
    return (x, True) if x.dim() == 3 else (x[None], False)


def _check_vector(x, model: SelfAttentionRNN) -> Tensor:
    x = _check_float_tensor(x, model, "x_next")
    if tuple(x.shape) != (model.input_size,):
        raise ValueError(
            f"x_next must have shape (D,) = ({model.input_size},), got {tuple(x.shape)}"
        )
    _check_finite(x, "x_next")
    return x.detach()


def _check_lengths(lengths, B: int, T: int, batched: bool) -> Tensor | None:
    if lengths is None:
        return None
    if not batched:
        raise ValueError("lengths applies to a batch (B, T, D); x came unbatched (T, D)")
    try:
        lengths = torch.as_tensor(lengths)
    except (TypeError, ValueError, RuntimeError) as error:
        raise TypeError(
            f"lengths must be a (B,) tensor or list of ints, got {type(lengths).__name__}: "
            f"{lengths!r}"[:200]
        ) from error
    if lengths.is_floating_point() or lengths.dtype == torch.bool:
        raise TypeError(f"lengths must hold integers, got dtype {lengths.dtype}")
    if tuple(lengths.shape) != (B,):
        raise ValueError(f"lengths must have shape (B,) = ({B},), got {tuple(lengths.shape)}")
    if bool((lengths < 1).any()) or bool((lengths > T).any()):
        raise ValueError(f"every length must be in 1 … T = {T}, got {lengths.tolist()}")
    return lengths.long()


def _check_knockout(knockout, B: int, T: int, batched: bool, device) -> Tensor | None:
    """The knockout mask as (1, T+1) or (B, T+1) bool, or None when it hides nothing."""
    if knockout is None:
        return None
    n = T + 1
    expected = f"(T+1,) = ({n},)" + (f", (1, {n}) or (B, T+1) = ({B}, {n})" if batched else "")
    if not isinstance(knockout, Tensor):
        raise TypeError(
            f"knockout must be a bool torch.Tensor of shape {expected} (True hides the "
            f"state h_i from attention), got {type(knockout).__name__}"
        )
    if knockout.dtype != torch.bool:
        raise TypeError(
            f"knockout must be a bool tensor (True hides h_i), got dtype {knockout.dtype}; "
            "for slot indices build one, e.g. mask = torch.zeros(T + 1, dtype=torch.bool); "
            "mask[slots] = True"
        )
    shape = tuple(knockout.shape)
    fits = shape == (n,) or (batched and len(shape) == 2 and shape[0] in (1, B) and shape[1] == n)
    if not fits:
        raise ValueError(
            f"knockout must have shape {expected}, one entry per state h_0 … h_T, got {shape}"
        )
    if knockout.device != device:
        raise ValueError(f"knockout is on {knockout.device} but x is on {device}")
    if not bool(knockout.any()):
        return None  # hides nothing: the plain run, with its plain softmax
    return knockout.reshape(-1, n)  # (1 or B, T+1)
