"""The fast paths of the core: hand-written BPTT and the stepper's cache.

``model(x)`` with gradients runs ``bptt.Recurrence``, whose backward is written
out by hand; here it must agree with plain autograd through an independent,
obviously-correct loop, for every update × align, with padding and with
upstream gradients on h, c and α alike.
"""

from __future__ import annotations

import pytest
import torch

from attn_widget import SelfAttentionRNN
from attn_widget.core import ALIGN_NAMES, UPDATE_NAMES

COMBOS = [(u, a) for u in UPDATE_NAMES for a in ALIGN_NAMES]


def plain_autograd(model: SelfAttentionRNN, x: torch.Tensor):
    """The recurrence with every key re-projected each step, for autograd to follow."""
    B, T, _ = x.shape
    hs, cs, alphas = [x.new_zeros(B, model.hidden_size)], [], []
    for t in range(T):
        c = None
        if model.align is not None:
            states = torch.stack(hs, 1)  # (B, t+1, H)
            kq = model.align.key_query_weight()
            d = kq.shape[0] // 2
            scores = model.align.score(states @ kq[:d].T, hs[-1] @ kq[d:].T)
            alpha = torch.softmax(scores, -1)
            c = (alpha[:, :, None] * states).sum(1)
            cs.append(c)
            alphas.append(torch.nn.functional.pad(alpha, (0, T - t)))
        parts = {"h": hs[-1], "x": x[:, t], "c": c}
        z = torch.cat([parts[name] for name, _ in model.z_layout], -1)
        hs.append(torch.tanh(model.A(z)))
    stack = lambda v: torch.stack(v, 1) if v else None  # noqa: E731
    return stack(hs), stack(cs), stack(alphas)


@pytest.mark.parametrize(("update", "align"), COMBOS)
def test_hand_written_backward_equals_plain_autograd(update, align):
    torch.manual_seed(11)
    model = SelfAttentionRNN(3, 5, update=update, align=align, attn_size=4).double()
    x = torch.randn(3, 7, 3, dtype=torch.float64, requires_grad=True)
    lengths = torch.tensor([7, 3, 5])
    live_h = (torch.arange(8) <= lengths[:, None])[..., None]  # (B, T+1, 1)
    live = (torch.arange(7) < lengths[:, None])[..., None]  # (B, T, 1)

    def loss_of(h, c, alpha):
        g = torch.Generator().manual_seed(1)
        loss = (h * torch.randn(h.shape, generator=g, dtype=h.dtype)).sum()
        if c is not None:
            loss = loss + (c * torch.randn(c.shape, generator=g, dtype=h.dtype)).sum()
            loss = loss + (alpha * torch.randn(alpha.shape, generator=g, dtype=h.dtype)).sum()
        return loss

    trace = model(x, lengths)
    got = torch.autograd.grad(loss_of(trace.h, trace.c, trace.alpha), [x, *model.parameters()])
    h, c, alpha = plain_autograd(model, x)
    if c is not None:
        c, alpha = c * live, alpha * live
    want = torch.autograd.grad(loss_of(h * live_h, c, alpha), [x, *model.parameters()])
    for g, w in zip(got, want, strict=True):
        assert torch.allclose(g, w, atol=1e-12)


def test_stepper_cache_doubles_instead_of_regrowing_every_step():
    torch.manual_seed(0)
    model = SelfAttentionRNN(3, 4).double()
    stepper = model.stepper(torch.randn(100, 3, dtype=torch.float64))
    capacities = set()
    for _ in range(100):
        stepper.step()
        capacities.add(stepper._cache.capacity)  # noqa: SLF001
    assert capacities == {101}  # sized for the known inputs once
    for _ in range(100):  # then inputs fed one by one: doubling, not +1 per step
        stepper.step(torch.randn(3, dtype=torch.float64))
        capacities.add(stepper._cache.capacity)  # noqa: SLF001
    assert len(capacities) <= 3


def test_the_hand_written_backward_uses_only_public_torch():
    """The package claims torch >= 2.1: private ops (torch._softmax_backward_data,
    torch.ops.aten.tanh_backward) may change or vanish between releases."""
    import inspect
    import re

    from attn_widget.core import bptt, rnn

    for module in (rnn, bptt):  # the loop, and the backward written out
        source = inspect.getsource(module)
        assert not re.findall(r"torch\._[a-z]|torch\.ops\.", source), module.__name__
