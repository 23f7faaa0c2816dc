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
(``_advance``) and one cache of past states, keys and queries (``PastStates``),
so they compute the same numbers, and a step costs O(t·(d+H)) for attention
on top of the cell's fixed O(H·|z|): a state's key, query and A_h h are
projected once, when the state is born, never again.  A·z + b is computed by
blocks of z, and the batched run does the input block A_x·x + b for every
step in one matmul before the loop (docs/design.md §1 keeps z's order).

**The fold.**  For dot and scaled dot with d_k ≥ H/2 the cache keeps no keys:

    score_{t,i} = s·(W_K h_i)·(W_Q h_t) = h_i · u_t,     u_t = F h_t,  F = s·W_Kᵀ W_Q

so a state is projected to its folded query u_i (and A_h h_i), and both
attention products of a step, h_i·u_t and Σ_i α_{t,i} h_i, read the states
buffer alone.  The path is chosen once per run (``fold``; docs/design.md §1).

With gradients, ``forward`` runs that same loop inside ``bptt.Recurrence``,
whose backward is backpropagation through time written out, so autograd keeps
O(T·(H+d)) for the history (plus α, an output) instead of a graph per step;
its updates to the whole history's gradients are applied once per block of
steps (see ``Recurrence``).

The stepper reaches the model through the public :class:`~attn_widget.core.StepModel`
methods, ``new_cache``, ``step_record`` and ``trace_of_steps``.

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

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from .align import make_align, softmax_visible
from .bptt import Recurrence
from .cells import check_update, concat, uses_attention, z_layout
from .checks import (
    check_knockout,
    check_lengths,
    check_sequence,
    check_sizes,
    check_weight_count,
    check_weights_finite,
)
from .past import PastStates, reuse
from .stepper import Stepper, alpha_of_steps, last_states

#: The most a model keeps, in bytes, of its last no-grad run's scratch buffers for
#: the next (``SelfAttentionRNN._run``): T = 1024, B = 32, H = 128 needs 50 MiB.
SCRATCH_BYTES = 64 * 2**20


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
        return last_states(self.h, self.lengths)


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
        fold: whether dot and scaled-dot attention fold W_K into the query,
            score_i = h_i·(scale·W_Kᵀ W_Q h_t) (docs/design.md §1, "The fold"): None,
            the default, folds where d_k ≥ H/2; True or False forces a path.  It
            changes the speed and the rounding, not the numbers; additive never folds.

    Memory: a run without gradients keeps two of its internal buffers (at most
    ``SCRATCH_BYTES``, 64 MiB; 6 MiB at B32 T128 H128, dot, float32) for the next run of the
    same shape, which then pays no page faults for them; ``copy.deepcopy`` and
    pickling leave them out (docs/design.md §1, "Scratch").

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
        check_sizes(input_size=input_size, hidden_size=hidden_size, attn_size=attn_size)
        check_weight_count(update, input_size, hidden_size, attn_size)
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.update = update
        self.attn_size = attn_size or hidden_size
        self.z_layout = z_layout(update, input_size, hidden_size)
        self.A = nn.Linear(sum(size for _, size in self.z_layout), hidden_size)
        self.fold: bool | None = None
        if uses_attention(update):
            self.align: nn.Module | None = make_align(align, hidden_size, self.attn_size)
            self.align_name: str | None = align
        else:
            make_align(align, hidden_size, 1)  # still reject unknown names
            self.align, self.align_name = None, None

    def _apply(self, fn, recurse=True):
        """``.to``, ``.half``, ``.cuda`` …: the last run's scratch is of the old kind; let it go."""
        vars(self).pop("_scratch", None)
        return super()._apply(fn, recurse)

    def __getstate__(self):
        """What pickling and ``copy.deepcopy`` keep: all but the scratch of the last run."""
        state = dict(super().__getstate__())
        state.pop("_scratch", None)
        return state

    def extra_repr(self) -> str:
        return (
            f"input_size={self.input_size}, hidden_size={self.hidden_size}, "
            f"update={self.update!r}, align={self.align_name!r}, attn_size={self.attn_size}"
        )

    # -- the one step both paths share ------------------------------------

    @staticmethod
    def _attend(t: int, past: PastStates, out: tuple | None, hidden: Tensor | None):
        """Step t's attention over h_0 … h_t for a batch: scores (B, 1, t+1), α (B, 1, t+1)
        and c_t (B, H).  ``out``, if given, is (α (B, 1, t+1), c (B, 1, H), c (B, H)):
        where the batched run keeps α and c (the last two are views of one row).
        ``hidden`` (B or 1, 1, t+1), bool, if given, hides slots from this step's
        attention (knockout); the scores stay raw."""
        alpha_out, c_out, c = (None, None, None) if out is None else out
        scores = past.score(t)  # (B, 1, t+1)
        if hidden is None:
            alpha = torch.softmax(scores, -1, out=alpha_out)
        else:  # 0 at hidden slots
            alpha = softmax_visible(scores, hidden)
            if alpha_out is not None:
                alpha = alpha_out.copy_(alpha)
        c3 = torch.bmm(alpha, past.states.narrow(1, 0, t + 1), out=c_out)  # (B, 1, H)
        return scores, alpha, c3.squeeze(1) if c is None else c  # c: (B, H)

    def _advance(
        self,
        t: int,
        pre: Tensor,
        past: PastStates,
        out: tuple | None = None,
        hidden: Tensor | None = None,
    ):
        """Step t for a batch: the one step both the batched run and the stepper take.

        ``pre`` (B, H) holds A_x·x_{t+1} + b (the stepper's cache) or, after
        ``past.prefill``, A_x·x_{t+1} + b + A_h h_t (the batched run's); it is
        completed in place to A·z + b = pre + A_h h_t + A_c c_t, block by block
        (z itself is never built); h_t and its query (or folded query) are read
        from ``past``, and h_{t+1} is written there.  ``out`` and ``hidden``: as
        for ``_attend``.
        Returns scores (B, 1, t+1), α (B, 1, t+1), c (B, H) (None for eq1), pre
        and h_{t+1}: for the stepper its own tensor (the cache holds a copy, and a
        record must not share the cache's slots); after ``prefill``, the slot
        itself, where tanh writes it, with no copy.
        """
        scores = alpha = c = None
        if past.attends:
            scores, alpha, c = self._attend(t, past, out, hidden)
        if past.reads_h and not past.prefilled:
            pre.add_(past.state_part_rows[t])
        if c is not None:
            pre.addmm_(c, past.A_c_t)
        slot = past.state_rows[t + 1] if past.prefilled else None
        h_next = past.tanh(pre, out=slot)  # (B, H)
        past.write(t + 1, h_next, stored=past.prefilled)
        return scores, alpha, c, pre, h_next

    def weight_shapes(self) -> dict[str, tuple[int, ...] | None]:
        """Each parameter the step reads and the shape the sizes give it: A is
        (H, |z|) and b (H,); the align's are its own.  None marks a parameter the
        step would ignore (a bias on W_q, say), which must not be there."""
        shapes = {
            "A.weight": (self.hidden_size, sum(size for _, size in self.z_layout)),
            "A.bias": (self.hidden_size,),
        }
        if self.align is not None:
            shapes |= {
                f"align.{name}": shape
                for name, shape in self.align.weight_shapes(
                    self.hidden_size, self.attn_size
                ).items()
            }
        return shapes

    def _weights(self) -> tuple:
        """What the recurrence reads: A, b, [W_K; W_Q] (None for eq1), the score's own."""
        if self.align is None:
            return self.A.weight, self.A.bias, None
        return self.A.weight, self.A.bias, self.align.key_query_weight(), *self.align.score_params()

    def _folds(self) -> bool:
        """Whether this run folds W_K into the query (``PastStates``): ``fold`` if set,
        else wherever the align says it pays (dot and scaled dot with d_k ≥ H/2)."""
        if self.align is None or not hasattr(self.align, "fold_weight"):
            return False
        return self.align.folds if self.fold is None else bool(self.fold)

    def _z_columns(self) -> dict[str, slice]:
        """The columns of A that multiply each block of z."""
        columns, start = {}, 0
        for name, size in self.z_layout:
            columns[name] = slice(start, start + size)
            start += size
        return columns

    def _past(self, x: Tensor, batch: int, capacity: int, A_weight, A_bias, kq_weight, spare=None):
        """An empty cache for ``batch`` sequences, on the path this run takes; ``spare``:
        a projections buffer it may use (``reuse``)."""
        return PastStates(
            self._z_columns(),
            self.hidden_size,
            batch,
            capacity,
            x,
            A_weight,
            A_bias,
            kq_weight,
            self.align,
            self._folds(),
            spare,
        )

    def _run(
        self,
        x: Tensor,
        A_weight: Tensor,
        A_bias: Tensor,
        kq_weight: Tensor | None,
        hidden: Tensor | None = None,
        *,
        scratch: bool = False,
    ):
        """Every step over x (B, T, D), without autograd, hiding the slots where
        ``hidden`` (B or 1, T+1) is True.  Returns h (B, T+1, H), c (B, T, H),
        α (B, T, T+1) (None, None for eq1) and the past.

        The input part A_x·x + b of every step is one matmul before the loop,
        laid where the step's projection matmul adds A_h h_t (``PastStates.prefill``);
        each step writes its α and c straight into the trace's buffers.

        ``scratch``: the run may take the buffers the model's last such run left
        (the projections, and c time-major), and leaves its own for the next: a
        no-grad run only, where nothing returned views them (docs/design.md §1,
        "Scratch")."""
        B, T, _ = x.shape
        spare_proj, spare_c = (
            self.__dict__.pop("_scratch", (None, None)) if scratch else (None, None)
        )
        with torch.no_grad():
            past = self._past(x, B, T + 1, A_weight, A_bias, kq_weight, spare_proj)
            pre = past.prefill(x.transpose(0, 1))  # (T, B, H), completed by each step
            c_time = c_all = alpha_all = None
            if self.align is not None:
                c_time = reuse(spare_c, x, (T, B, self.hidden_size))  # (T, B, H)
                alpha_all = x.new_zeros(B, T, 1, T + 1)  # stays 0 for i > t
            if hidden is not None and self.align is None:
                hidden = None
            self._sweep(past, pre, c_time, alpha_all, hidden)
            h_all = past.states  # (B, T+1, H)
            if c_time is not None:  # a copy always: (1, T, H) would count as contiguous
                c_all = c_time.transpose(0, 1).clone(memory_format=torch.contiguous_format)
                alpha_all = alpha_all.squeeze(2)  # (B, T, T+1)
        if scratch:
            kept = past.proj.nbytes + (0 if c_time is None else c_time.nbytes)
            if kept <= SCRATCH_BYTES:
                self._scratch = (past.proj, c_time)
        return h_all, c_all, alpha_all, past

    def _sweep(self, past, pre, c_all, alpha_all, hidden) -> None:
        """Steps 0 … T−1 for the sequences of ``past``, after ``past.prefill``.
        pre (T, B, H), c_all (T, B, H) and alpha_all (B, T, 1, T+1) are the run's
        buffers (each step writes its α and c there); hidden (B or 1, T+1) or None."""
        T = pre.shape[0]
        outs = [None] * T
        if c_all is not None:
            outs = [
                (alpha_row.narrow(2, 0, t + 1), c3, c2)  # (B, 1, t+1), (B, 1, H), (B, H)
                for t, (alpha_row, c3, c2) in enumerate(
                    zip(
                        alpha_all.unbind(1),
                        c_all.unsqueeze(2).unbind(0),
                        c_all.unbind(0),
                        strict=True,
                    )
                )
            ]
        hidden_rows = [None] * T
        if hidden is not None:
            hidden_rows = [hidden[:, None, : t + 1] for t in range(T)]  # (B or 1, 1, t+1)
        advance = self._advance
        for t, pre_t in enumerate(pre.unbind(0)):
            advance(t, pre_t, past, outs[t], hidden_rows[t])

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
            knockout: optional bool tensor that broadcasts to (B, T+1), or to
                (T+1,) for unbatched x.  True at slot i hides h_i (h_0 is slot 0)
                from every step's attention: α_{t,i} = 0 exactly and the visible
                weights renormalise (a softmax over them alone).  A step whose
                slots 0 … t are all hidden reads nothing: α_t = 0 and c_t = 0,
                the empty sum (as c_0 = 0 without knockout), with finite
                gradients.  The recurrence itself is untouched (eq1/eq4 still
                read h_t in z).  eq1 has no attention: the mask is checked and
                changes nothing, so the same experiment runs on every model.

        Returns:
            A :class:`Trace` with h (…, T+1, H), c (…, T, H), alpha (…, T, T+1).

        With gradients, the backward is written out (``bptt.Recurrence``) and is first
        order only: ``create_graph=True`` is refused (a RuntimeError), and
        ``torch.func`` transforms are not supported.
        """
        x, batched = check_sequence(x, self, batched_ok=True)
        B, T, _ = x.shape
        lengths = check_lengths(lengths, B, T, batched)
        hidden = check_knockout(knockout, B, T, batched, x.device)
        check_weights_finite(self)
        weights = self._weights()
        if torch.is_grad_enabled() and any(
            w is not None and w.requires_grad for w in (x, *weights)
        ):
            outputs = Recurrence.apply(
                self._run, self._z_columns(), self.align, x, hidden, *weights
            )
            h_all, c_all, alpha_all = (*outputs, None, None)[:3]
        else:
            h_all, c_all, alpha_all, _ = self._run(x, *weights[:3], hidden, scratch=True)
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

    # -- the StepModel protocol: what the Stepper calls --------------------

    @property
    def update_rule(self) -> str:
        """The update rule's name, as a front end names the equations (``update``)."""
        return self.update

    @property
    def attends(self) -> bool:
        """Whether a step reads past states through attention (all but eq1)."""
        return self.align is not None

    def new_cache(self, x: Tensor, capacity: int) -> PastStates:
        """The stepper's cache for one sequence, holding the weights as they are now."""
        return self._past(x, 1, capacity, *self._weights()[:3])

    def step_record(
        self, t: int, x_next: Tensor, past: PastStates, hidden: Tensor | None = None
    ) -> Step:
        """Run step t on x_next (D,) with the stepper's cache; the record of what it used.
        ``hidden`` (t+1,), bool, if given, hides those slots from the step's attention."""
        if t + 2 > past.capacity:  # room for h_{t+1}; doubling keeps appends O(1)
            past.grow(2 * (t + 2))
        h_t = past.state_rows[t]  # (1, H)
        pre = past.input_part(x_next[None])  # (1, H)
        hidden = None if hidden is None else hidden[None, None]  # (1, 1, t+1)
        scores, alpha, c, pre, h = self._advance(t, pre, past, None, hidden)
        z = concat(self.update, h_t, x_next[None], c)  # (1, |z|), for the record
        x_next = x_next.clone()  # the record does not share the stepper's inputs
        scores, alpha = _unbatch(scores, 2), _unbatch(alpha, 2)
        return Step(t, x_next, scores, alpha, _unbatch(c), z[0], pre[0], h[0])

    def trace_of_steps(self, steps: list[Step], x: Tensor) -> Trace:
        """The stepper's steps 0 … n-1 as a :class:`Trace`, like ``model(x[:n])``."""
        n, H = len(steps), self.hidden_size
        h = torch.stack([x.new_zeros(H)] + [s.h for s in steps])
        if self.align is None:
            return Trace(h, None, None)
        c = torch.stack([s.c for s in steps]) if n else x.new_zeros(0, H)
        return Trace(h, c, alpha_of_steps(steps, x))


def _unbatch(v: Tensor | None, dims: int = 1) -> Tensor | None:
    """Drop the batch of one the stepper runs with (and the row of a row vector):
    (1, …) -> (…), or with ``dims=2``, (1, 1, …) -> (…)."""
    return None if v is None else v.reshape(v.shape[dims:])
