"""How much the last state depends on each input: the gradient view of forgetting.

For inputs x_1 … x_T and the last state h_T, the sensitivity of h_T to x_i is
the size of the Jacobian block

    s_i = ‖∂h_T / ∂x_i‖_F        (an H × D matrix, Frobenius norm)

or, given a scalar read-out f of h_T (a loss, one logit),

    s_i = ‖∂f(h_T) / ∂x_i‖₂.

Plotted against the distance T − i it shows why a SimpleRNN forgets: in eq1
every path from x_i to h_T goes through the T − i Jacobians ∂h_{t+1}/∂h_t =
diag(1 − h_{t+1}²)·A_h, whose product shrinks geometrically, so s_i falls by
orders of magnitude with distance.  With attention (eq3, eq4) a path also
runs through c_t = Σ_i α_{t,i} h_i straight from h_i to a late step, so s_i
need not fall that way.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

from .lstmn import LSTMN
from .rnn import SelfAttentionRNN

# The memory one chunk of vector-Jacobian products may take.  Each copy of x in a
# chunk holds one forward and backward through all T steps (α alone is T × (T+1)),
# so a chunk holds as many copies as fit: at T = 500, H = 128, 9 copies, about the
# number measured fastest per unit here (36 copies a chunk were 3× slower per unit,
# their history no longer in cache).
CHUNK_BYTES = 64 * 2**20
# The time one call may take, estimated from the sizes before it starts
# (sensitivity_cost).  The whole Jacobian of an attention model costs about T²·H², so
# a bound on memory alone would still let one call run for many minutes (T = 2000,
# H = 128: about 6).
MAX_SECONDS = 10.0
# The estimate's constants, measured with one thread on the 2-core machine this was
# written on, shared with other work: runs of one size varied by up to 3×.
_STEP_SECONDS = 1.5e-4  # one step of one chunk, forward and backward: the loop's own cost
_PAIR_SECONDS = 5e-9  # SelfAttentionRNN: per output unit, pair i ≤ t and element of h_i, k_i
_LSTMN_PAIR_SECONDS = 4e-5  # LSTMN, per pair i ≤ t and chunk: autograd has a node per pair


def sensitivity_cost(
    model: nn.Module, T: int, D: int, element_size: int, copies: int
) -> tuple[int, int, float]:
    """(bytes per copy, copies per chunk, seconds) for the gradient of ``copies`` output
    units (H for the whole Jacobian, 1 for a read-out) through x (T, D), estimated
    from the sizes before anything runs.

    Bytes, fitted to the growth of ru_maxrss measured in a fresh process (within
    10 % at T = 300 … 2000): a SelfAttentionRNN keeps α and its gradient,
    2·T(T+1) (none for eq1), plus per step the states, keys, queries, contexts
    and their gradients, about 12H + 6d + 3D; the LSTMN's autograd keeps, for
    step t, its t+1 keys and their tanh (d each) and the t+1 stacked h, m and a
    gradient (H each): T(T+1)/2 · (2d + 3H + 3) more.  Any other module is taken
    to cost what a SelfAttentionRNN of its hidden size does.

    Seconds: every chunk runs the T steps forward and back; a SelfAttentionRNN's
    attention then costs, for each output unit, T(T+1)/2 pairs i ≤ t of d + H
    multiply-adds; the LSTMN's, T(T+1)/2 autograd nodes per chunk.
    """
    H = model.hidden_size
    d = getattr(model, "attn_size", H)
    pairs = T * (T + 1) // 2
    attends = not (isinstance(model, SelfAttentionRNN) and model.align is None)
    elements = (T + 1) * (12 * H + 6 * d + 3 * D) + (4 * pairs if attends else 0)
    if isinstance(model, LSTMN):
        elements += pairs * (2 * d + 3 * H + 3)
    per_copy = elements * element_size
    m = max(1, min(copies, CHUNK_BYTES // per_copy))
    chunks = -(-copies // m)
    seconds = chunks * T * _STEP_SECONDS
    if isinstance(model, LSTMN):
        seconds += chunks * pairs * _LSTMN_PAIR_SECONDS
    elif attends:
        seconds += copies * pairs * (d + H) * _PAIR_SECONDS
    return per_copy, m, seconds


def _longest_prefix(model: nn.Module, D: int, element_size: int, copies: int, T: int) -> int:
    """The most inputs, at most T, whose gradient stays within both bounds (0: none)."""
    low, high = 0, T  # the costs grow with the length: bisect for the last that fits
    while low < high:
        mid = (low + high + 1) // 2
        per_copy, _, seconds = sensitivity_cost(model, mid, D, element_size, copies)
        if per_copy <= CHUNK_BYTES and seconds <= MAX_SECONDS:
            low = mid
        else:
            high = mid - 1
    return low


def input_sensitivity(
    model: nn.Module, x: Tensor, readout: Callable[[Tensor], Tensor] | None = None
) -> Tensor:
    """‖∂h_T/∂x_i‖_F for i = 1 … T (or ‖∂readout(h_T)/∂x_i‖₂), exact, by autograd.

    Args:
        model: any module with a ``hidden_size`` H and ``model(x)`` returning a
            trace whose ``.h`` has shape (B, T+1, H) for x of shape (B, T, D): a
            :class:`~attn_widget.core.SelfAttentionRNN`, an
            :class:`~attn_widget.core.LSTMN`, or ``text_rnn.rnn`` (with x from
            ``text_rnn.embed_text(tokens)``).
        x: one sequence, (T, D), floating point.  Not modified.
        readout: optional scalar function of h_T (shape (H,) -> ()), e.g. a
            class logit or a loss; without it, the whole Jacobian of h_T.

    Returns:
        A tensor of shape (T,): entry i − 1 is the sensitivity to x_i, so the
        last entry is the input read last (distance 0).

    The Jacobian's H rows are vector-Jacobian products, taken in chunks of m
    output units: a chunk runs x repeated m times, copy j back-propagates only
    h_T's unit j, and the squares of each chunk's gradients are summed into
    ‖J_i‖_F².  m is as many copies as fit in ``CHUNK_BYTES`` (64 MiB), so the
    memory stays within that bound at any T (at small T, one chunk holds all H
    units).  A request past the bounds, where even one copy would take more
    than ``CHUNK_BYTES`` or the whole is estimated to take more than
    ``MAX_SECONDS`` (10 s; see :func:`sensitivity_cost`), is refused with a
    ValueError that says how long a prefix fits.  It uses ``torch.autograd.grad``,
    so no parameter's ``.grad`` changes (nor the read-out's).

    Example::

        >>> model = SelfAttentionRNN(4, 8, update="eq1")
        >>> input_sensitivity(model, torch.randn(30, 4)).shape
        torch.Size([30])
    """
    if not isinstance(x, Tensor) or x.dim() != 2 or not x.is_floating_point():
        got = f"a {x.dim()}-d {x.dtype} tensor" if isinstance(x, Tensor) else type(x).__name__
        raise ValueError(f"x must be one sequence, a floating (T, D) tensor; got {got}")
    if x.device.type == "meta":
        raise ValueError("x is on the meta device: it has a shape but no values")
    if x.shape[0] == 0:
        raise ValueError("x is empty: the sequence needs at least one input (T >= 1)")
    if not torch.isfinite(x).all():
        raise ValueError("x holds NaN or Inf")
    if readout is not None and not callable(readout):
        raise TypeError(
            "readout must be a callable f(h_T) -> scalar (a logit: lambda h: head(h)[k]), "
            f"or None for the whole Jacobian; got {type(readout).__name__}: {readout!r}"[:300]
        )
    if torch.is_inference_mode_enabled():
        raise RuntimeError(
            "input_sensitivity needs autograd, which torch.inference_mode() turns off; "
            "call it outside that block"
        )
    T, D = x.shape
    copies = 1 if readout is not None else model.hidden_size
    per_copy, m, seconds = sensitivity_cost(model, T, D, x.element_size(), copies)
    if per_copy > CHUNK_BYTES or seconds > MAX_SECONDS:
        fits = _longest_prefix(model, D, x.element_size(), copies, T)
        raise ValueError(
            f"the gradient through T = {T} inputs of this {type(model).__name__} (H = "
            f"{model.hidden_size}) is past its bounds: about {per_copy / 2**20:.0f} MiB for "
            f"each output unit (at most CHUNK_BYTES = {CHUNK_BYTES // 2**20} MiB) and about "
            f"{seconds:.0f} s in all (at most MAX_SECONDS = {MAX_SECONDS:.0f} s, estimated); "
            + (f"ask for at most the first {fits} inputs" if fits else "it cannot be computed")
        )
    with torch.enable_grad():  # torch.autograd.grad: no .grad of any parameter is touched
        if readout is not None:
            xs = x.detach()[None].clone().requires_grad_(True)  # (1, T, D)
            value = readout(model(xs).h[0, -1])
            if value.numel() != 1:
                raise ValueError(f"readout must return a scalar, got shape {tuple(value.shape)}")
            (grad,) = torch.autograd.grad(value.reshape(()), xs)
            return grad[0].norm(dim=1)  # (T,)
        H = model.hidden_size
        squares = x.new_zeros(T)  # Σ_j ‖∂h_T[j]/∂x_i‖², summed chunk by chunk
        for start in range(0, H, m):
            units = torch.arange(start, min(start + m, H), device=x.device)
            xs = x.detach()[None].repeat(len(units), 1, 1).requires_grad_(True)  # (m, T, D)
            h_T = model(xs).h[:, -1]  # (m, H): row j is copy j's h_T
            picked = h_T.gather(1, units[:, None]).sum()  # copy j keeps unit start + j
            (grad,) = torch.autograd.grad(picked, xs)  # row start + j of each J_i, copy j
            squares += grad.pow(2).sum(dim=(0, 2))
        return squares.sqrt()  # (T,): ‖J_i‖_F
