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

    The Jacobian takes one batched forward and backward: x is repeated H
    times, and copy j back-propagates only h_T's unit j.  It uses
    ``torch.autograd.grad``, so no parameter's ``.grad`` changes (nor the
    read-out's).

    Example::

        >>> model = SelfAttentionRNN(4, 8, update="eq1")
        >>> input_sensitivity(model, torch.randn(30, 4)).shape
        torch.Size([30])
    """
    if not isinstance(x, Tensor) or x.dim() != 2 or not x.is_floating_point():
        got = f"a {x.dim()}-d {x.dtype} tensor" if isinstance(x, Tensor) else type(x).__name__
        raise ValueError(f"x must be one sequence, a floating (T, D) tensor; got {got}")
    if x.shape[0] == 0:
        raise ValueError("x is empty: the sequence needs at least one input (T >= 1)")
    if not torch.isfinite(x).all():
        raise ValueError("x holds NaN or Inf")
    if torch.is_inference_mode_enabled():
        raise RuntimeError(
            "input_sensitivity needs autograd, which torch.inference_mode() turns off; "
            "call it outside that block"
        )
    with torch.enable_grad():  # torch.autograd.grad: no .grad of any parameter is touched
        if readout is None:
            H = model.hidden_size
            xs = x.detach()[None].repeat(H, 1, 1).requires_grad_(True)  # (H, T, D)
            h_T = model(xs).h[:, -1]  # (H, H): row j is copy j's h_T
            picked = torch.eye(H, dtype=h_T.dtype, device=h_T.device).mul(h_T).sum()
            (grad,) = torch.autograd.grad(picked, xs)  # row j of each Jacobian block, copy j
            return grad.norm(dim=2).pow(2).sum(0).sqrt()  # (T,): ‖J_i‖_F
        xs = x.detach()[None].clone().requires_grad_(True)  # (1, T, D)
        value = readout(model(xs).h[0, -1])
        if value.numel() != 1:
            raise ValueError(f"readout must return a scalar, got shape {tuple(value.shape)}")
        (grad,) = torch.autograd.grad(value.reshape(()), xs)
        return grad[0].norm(dim=1)  # (T,)
