"""SelfAttentionRNN: a recurrent network that attends over its own past states.

Notation (DESIGN §1).  Inputs x_1 … x_T, states h_0 … h_T with h_0 = 0.
Step t (t = 0 … T-1) consumes x_{t+1}:

    score_{t,i} = align(h_i, h_t)                  i = 0 … t
    α_{t,i}     = softmax_i(score_{t,i})           sums to 1 over i = 0 … t
    c_t         = Σ_i α_{t,i} h_i                  (c_0 = 0 because h_0 = 0)
    z           = [h_t; x_{t+1}]          eq1 (no attention)
                  [x_{t+1}; c_t]          eq3
                  [h_t; x_{t+1}; c_t]     eq4
    h_{t+1}     = tanh(A·z + b)

The batched ``forward`` and the one-step ``stepper`` share one step function
(``_advance``) and one cache of past states and keys (``_History``), so they
compute the same numbers, and a step costs O(t·d) for attention on top of the
cell's fixed O(H·|z|): keys of past states are projected once, when the
state is born, never again.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from .align import make_align
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
        if self.lengths is None:
            return self.h[..., -1, :]
        index = self.lengths.to(self.h.device).view(-1, 1, 1).expand(-1, 1, self.h.shape[-1])
        return self.h.gather(1, index).squeeze(1)  # (B, H)


@dataclass(frozen=True)
class Step:
    """One step t of an unbatched sequence: the tensors the computation used.

    Attributes:
        t: the step index; this step consumed x_{t+1} and produced h_{t+1}.
        x: x_{t+1}, shape (D,).
        scores: align(h_i, h_t) for i = 0 … t, shape (t+1,); None for eq1.
        alpha: α_{t,0 … t} = softmax(scores), shape (t+1,); None for eq1.
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


class _History:
    """Past states h_0 … h_n and their keys, preallocated and written once each.

    Reads return views of the buffers, so step t reads its t+1 past states
    without copying them.  When gradients are needed, reads and writes go
    through ``_ReadHistory``/``_WriteHistory``: autograd then saves one view
    of a buffer per step, not a fresh copy of the history (which would cost
    O(T²·H) memory), and routes each step's gradient back to the state that
    was written.
    """

    def __init__(
        self, batch: int, capacity: int, hidden: int, key_size: int, like: Tensor, track_grad: bool
    ):
        self.states = like.new_zeros(batch, capacity, hidden)  # (B, cap, H)
        self.keys = like.new_zeros(batch, capacity, key_size)  # (B, cap, d)
        self.track_grad = track_grad
        if track_grad:
            self.d_states = torch.zeros_like(self.states)
            self.d_keys = torch.zeros_like(self.keys)
            self.token: Tensor = like.new_zeros(())  # orders reads after the writes they see

    @property
    def capacity(self) -> int:
        return self.states.shape[1]

    def grow(self, capacity: int) -> None:
        """Make room for ``capacity`` states (used by the stepper, which has no gradients)."""
        if capacity <= self.capacity:
            return
        extra = capacity - self.capacity
        self.states = torch.cat(
            [self.states, self.states.new_zeros(self.states.shape[0], extra, self.states.shape[2])],
            dim=1,
        )
        self.keys = torch.cat(
            [self.keys, self.keys.new_zeros(self.keys.shape[0], extra, self.keys.shape[2])], dim=1
        )

    def read(self, t: int) -> tuple[Tensor, Tensor]:
        """Keys and states for i = 0 … t: (B, t+1, d) and (B, t+1, H)."""
        if self.track_grad:
            return _ReadHistory.apply(self.token, self, t)
        return self.keys[:, : t + 1], self.states[:, : t + 1]

    def write(self, i: int, h: Tensor, k: Tensor) -> None:
        """Store h_i and its key k_i."""
        if self.track_grad:
            self.token = _WriteHistory.apply(self.token, h, k, self, i)
        else:
            self.states[:, i] = h
            self.keys[:, i] = k


class _ReadHistory(torch.autograd.Function):
    @staticmethod
    def forward(ctx, token, history, t):
        ctx.history, ctx.t = history, t
        return history.keys[:, : t + 1], history.states[:, : t + 1]

    @staticmethod
    def backward(ctx, d_keys, d_states):
        history, t = ctx.history, ctx.t
        if d_keys is not None:
            history.d_keys[:, : t + 1] += d_keys
        if d_states is not None:
            history.d_states[:, : t + 1] += d_states
        return history.d_states.new_zeros(()), None, None


class _WriteHistory(torch.autograd.Function):
    # Autograd runs this backward only after the backward of every read that
    # came later (each read depends on this write through the token chain),
    # so by then the gradient for slot i is complete.
    @staticmethod
    def forward(ctx, token, h, k, history, i):
        # Writing through .data leaves the buffers' version counter alone:
        # earlier reads saved views of these buffers, and slot i lies outside
        # every one of them.
        history.states.data[:, i] = h
        history.keys.data[:, i] = k
        ctx.history, ctx.i = history, i
        return token.new_zeros(())

    @staticmethod
    def backward(ctx, d_token):
        history, i = ctx.history, ctx.i
        d_h = history.d_states[:, i].clone()
        d_k = history.d_keys[:, i].clone()
        history.d_states[:, i] = 0  # a second backward (retain_graph) starts clean
        history.d_keys[:, i] = 0
        return d_h.new_zeros(()), d_h, d_k, None, None


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
        for name, value in (
            ("input_size", input_size),
            ("hidden_size", hidden_size),
            ("attn_size", attn_size),
        ):
            if value is not None and (not isinstance(value, int) or value < 1):
                raise ValueError(f"{name} must be a positive int, got {value!r}")
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

    def _advance(self, t: int, x_next: Tensor, h_t: Tensor, history: _History | None):
        """Step t for a batch.  x_next (B, D), h_t (B, H) -> scores, α, c, z, pre, h_{t+1}."""
        scores = alpha = c = None
        if history is not None:
            keys, states = history.read(t)  # (B, t+1, d), (B, t+1, H)
            scores = self.align.score(keys, self.align.query(h_t))  # (B, t+1)
            alpha = torch.softmax(scores, dim=-1)  # (B, t+1)
            c = (alpha.unsqueeze(1) @ states).squeeze(1)  # (B, H)
        z = concat(self.update, h_t, x_next, c)  # (B, |z|)
        pre = self.A(z)  # (B, H)
        h_next = torch.tanh(pre)
        if history is not None:
            history.write(t + 1, h_next, self.align.key(h_next))
        return scores, alpha, c, z, pre, h_next

    def _new_history(
        self, batch: int, capacity: int, like: Tensor, track_grad: bool
    ) -> _History | None:
        if self.align is None:
            return None
        history = _History(batch, capacity, self.hidden_size, self.attn_size, like, track_grad)
        # h_0 = 0; its key is key(0), which is 0 for every align here but is
        # computed, not assumed.
        history.write(
            0, history.states[:, 0].detach(), self.align.key(history.states[:, 0].detach())
        )
        return history

    # -- batched ------------------------------------------------------------

    def forward(self, x: Tensor, lengths: Tensor | None = None) -> Trace:
        """Run every step over a sequence or a padded batch.

        Args:
            x: (T, D) or (B, T, D).
            lengths: optional (B,) ints in 1 … T, the true length of each
                sequence; steps past a sequence's length are zeroed in the
                trace and never affect its earlier steps (the model is causal).

        Returns:
            A :class:`Trace` with h (…, T+1, H), c (…, T, H), alpha (…, T, T+1).
        """
        x, batched = _check_sequence(x, self, batched_ok=True)
        B, T, _ = x.shape
        lengths = _check_lengths(lengths, B, T, batched)
        track_grad = torch.is_grad_enabled() and (
            x.requires_grad or any(p.requires_grad for p in self.parameters())
        )
        history = self._new_history(B, T + 1, x, track_grad)

        h = x.new_zeros(B, self.hidden_size)  # h_0
        hs, cs, alphas = [h], [], []
        for t in range(T):
            _, alpha, c, _, _, h = self._advance(t, x[:, t], h, history)
            hs.append(h)
            if alpha is not None:
                cs.append(c)
                alphas.append(F.pad(alpha, (0, T - t)))  # (B, T+1), zeros for i > t

        h_all = torch.stack(hs, dim=1)  # (B, T+1, H)
        c_all = torch.stack(cs, dim=1) if cs else None  # (B, T, H)
        alpha_all = torch.stack(alphas, dim=1) if alphas else None  # (B, T, T+1)
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

    def stepper(self, x: Tensor | None = None) -> Stepper:
        """A :class:`Stepper` over the unbatched x (T, D), or over inputs fed one by one."""
        return Stepper(self, x)


class Stepper:
    """Runs a SelfAttentionRNN one step at a time and keeps every step it ran.

    The position k counts the inputs already read (0 … T).  ``step()``
    moves to k+1, running step k only if it has not run before; ``back()``,
    ``goto(k)`` and ``reset()`` move without recomputing anything already
    computed.  ``step(x_next)`` replaces the upcoming input x_{k+1} (or appends
    one at the end), drops every step computed after position k and runs the
    new step: the basis of what-if edits.

    Steps run under ``torch.no_grad()``.  Past states and their keys are
    cached, so step t costs O(t·d) for attention plus the cell's O(H·|z|).

    Attributes:
        history: the computed steps, ``history[t]`` is step t (a :class:`Step`).
        k: the current position.
    """

    def __init__(self, model: SelfAttentionRNN, x: Tensor | None = None):
        self.model = model
        param = model.A.weight
        if x is None:
            x = param.new_zeros(0, model.input_size)
        else:
            x, _ = _check_sequence(x, model, batched_ok=False)
            x = x[0].detach().clone()
        self.x = x  # (T, D), the inputs known so far
        self.history: list[Step] = []
        self.k = 0
        self._cache = model._new_history(1, max(16, len(x) + 1), param.detach(), False)

    @property
    def T(self) -> int:
        """How many inputs are known."""
        return len(self.x)

    @property
    def frontier(self) -> int:
        """How many steps have been computed (positions 0 … frontier are ready)."""
        return len(self.history)

    @property
    def h(self) -> Tensor:
        """h_k, the state at the current position (h_0 = 0)."""
        return self.h_at(self.k)

    @property
    def current(self) -> Step | None:
        """The step shown at position k (step k-1), or None at k = 0."""
        return self.history[self.k - 1] if self.k else None

    def step(self, x_next: Tensor | None = None) -> Step:
        """Advance to position k+1 and return step k.

        Args:
            x_next: optional new x_{k+1}, shape (D,).  It replaces the stored
                input (or extends the sequence at the end) and discards the
                steps after position k, which depended on the old input.
        """
        if x_next is not None:
            x_next = _check_vector(x_next, self.model)
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
        return self.history[self.k - 1]

    def back(self) -> Step | None:
        """Move to position k-1 (no-op at 0); return the step shown there."""
        self.k = max(0, self.k - 1)
        return self.current

    def goto(self, k: int) -> Step | None:
        """Move to position k (0 … T), computing any steps not yet run."""
        if isinstance(k, bool) or not isinstance(k, int):
            raise TypeError(f"goto expects an int position, got {type(k).__name__}")
        if not 0 <= k <= self.T:
            raise ValueError(f"goto position must be in 0 … T = {self.T}, got {k}")
        while self.frontier < k:
            self._compute_next()
        self.k = k
        return self.current

    def reset(self) -> None:
        """Back to position 0.  Computed steps stay cached."""
        self.k = 0

    def truncate(self, n: int) -> None:
        """Forget the steps from step n on (after an edit of x_{n+1} or of the weights)."""
        del self.history[n:]
        self.k = min(self.k, n)

    def set_inputs(self, x: Tensor) -> None:
        """Replace the whole sequence (T, D); forgets every step and returns to position 0."""
        x, _ = _check_sequence(x, self.model, batched_ok=False)
        self.x = x[0].detach().clone()
        self.truncate(0)

    def trace(self) -> Trace:
        """The computed steps as a :class:`Trace` (T = frontier), like ``model(x)``."""
        n, H = self.frontier, self.model.hidden_size
        h = torch.stack([self.x.new_zeros(H)] + [s.h for s in self.history])
        if self.model.align is None:
            return Trace(h, None, None)
        c = torch.stack([s.c for s in self.history]) if n else self.x.new_zeros(0, H)
        alpha = self.x.new_zeros(n, n + 1)
        for s in self.history:
            alpha[s.t, : s.t + 1] = s.alpha
        return Trace(h, c, alpha)

    def _compute_next(self) -> None:
        t = self.frontier
        if self._cache is not None and t + 2 > self._cache.capacity:
            self._cache.grow(2 * (t + 2))
        h_t = self.h_at(t)
        with torch.no_grad():
            x_next = self.x[t]
            scores, alpha, c, z, pre, h = self.model._advance(
                t, x_next[None], h_t[None], self._cache
            )
        self.history.append(
            Step(t, x_next, _unbatch(scores), _unbatch(alpha), _unbatch(c), z[0], pre[0], h[0])
        )

    def h_at(self, i: int) -> Tensor:
        """h_i for a computed position i (h_0 = 0)."""
        if i == 0:
            return self.x.new_zeros(self.model.hidden_size)
        return self.history[i - 1].h


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
    if not bool(torch.isfinite(x).all()):
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
    lengths = torch.as_tensor(lengths)
    if lengths.is_floating_point() or lengths.dtype == torch.bool:
        raise TypeError(f"lengths must hold integers, got dtype {lengths.dtype}")
    if tuple(lengths.shape) != (B,):
        raise ValueError(f"lengths must have shape (B,) = ({B},), got {tuple(lengths.shape)}")
    if bool((lengths < 1).any()) or bool((lengths > T).any()):
        raise ValueError(f"every length must be in 1 … T = {T}, got {lengths.tolist()}")
    return lengths.long()
