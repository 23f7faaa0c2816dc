"""The fold and the blocked backward (issue #27, docs/design.md §1).

Both change the order of the sums, never their terms, so both are held to
1e-12 in float64 against two independent yardsticks: the core as it was
before them (``benchmarks/frozen_core.py``, a frozen copy run in the same
test) and autograd (gradcheck).  Every update × align, both paths of dot
and scaled dot (``model.fold`` forces one), with and without knockout, with
upstream gradients on h alone and on h, c and α, and with blocks of 1, 3
and 16 steps over T = 37, so that there are full blocks, a short last block
and rows before every block.
"""

from __future__ import annotations

import itertools

import pytest
import torch

from attn_widget import SelfAttentionRNN
from attn_widget.core import ALIGN_NAMES, UPDATE_NAMES, bptt
from attn_widget.core.past import SIGMOID_TANH_MIN
from benchmarks.frozen_core import FrozenSelfAttentionRNN

#: (update, align, fold): dot and scaled dot on both paths; additive never folds.
CASES = [
    (update, align, fold)
    for update, align in itertools.product(UPDATE_NAMES, ALIGN_NAMES)
    for fold in ((True, False) if align != "additive" and update != "eq1" else (None,))
]
ATTENTION_CASES = [case for case in CASES if case[0] != "eq1"]
T = 37


def make(update, align, fold, *, D=3, H=6, attn_size=4, seed=0):
    torch.manual_seed(seed)
    model = SelfAttentionRNN(D, H, update=update, align=align, attn_size=attn_size).double()
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(1.5)  # sharper weights, so that α is far from uniform
    model.fold = fold
    return model


def masks(T: int) -> torch.Tensor:
    """(3, T+1): step 0 of row 0 sees nothing; row 1 hides early slots; row 2 late ones."""
    mask = torch.zeros(3, T + 1, dtype=torch.bool)
    for b, slots in enumerate(((0,), (0, 1, 5), (2, T // 2 + 1, T - 1))):
        mask[b, list(slots)] = True
    return mask


def loss_of(trace, upstream: str, seed: int = 3):
    """A loss with random upstream gradients on h alone, or on h, c and α alike."""
    g = torch.Generator().manual_seed(seed)
    parts = [trace.h] if upstream == "h" or trace.c is None else [trace.h, trace.c, trace.alpha]
    return sum((v * torch.randn(v.shape, generator=g, dtype=v.dtype)).sum() for v in parts)


@pytest.mark.parametrize("block", [1, 3, 16])
@pytest.mark.parametrize("masked", [False, True])
@pytest.mark.parametrize("upstream", ["h", "h, c, α"])
@pytest.mark.parametrize(("update", "align", "fold"), CASES)
def test_blocked_backward_equals_the_frozen_one(update, align, fold, upstream, masked, block):
    model = make(update, align, fold, seed=1)
    frozen = FrozenSelfAttentionRNN.copy_of(model)
    x = torch.randn(3, T, 3, dtype=torch.float64, requires_grad=True)
    knockout = masks(T) if masked else None
    old = bptt.BLOCK
    try:
        bptt.BLOCK = block
        got = torch.autograd.grad(
            loss_of(model(x, knockout=knockout), upstream), [x, *model.parameters()]
        )
    finally:
        bptt.BLOCK = old
    want = torch.autograd.grad(
        loss_of(frozen(x, knockout=knockout), upstream), [x, *frozen.parameters()]
    )
    for (name, _), a, b in zip(model.named_parameters(), got[1:], want[1:], strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-12, msg=name)
    torch.testing.assert_close(got[0], want[0], rtol=0, atol=1e-12)
    assert max(g.abs().max() for g in want) > 0.1  # the gradients are not all tiny


@pytest.mark.parametrize(("update", "align", "fold"), CASES)
def test_a_wide_batch_on_the_sigmoid_path_equals_the_frozen_one(update, align, fold):
    """B·H ≥ SIGMOID_TANH_MIN: the batched run's weights are doubled and its tanh is
    2σ(pre) − 1 (``PastStates.prefill``, ``PastStates.tanh``); the frozen core
    takes torch's tanh on undoubled weights.  Forward and gradients agree."""
    H = SIGMOID_TANH_MIN // 4
    torch.manual_seed(5)
    model = SelfAttentionRNN(3, H, update=update, align=align, attn_size=H // 2).double()
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(6.0)  # h reaches tanh's flat ends, α far from uniform
    model.fold = fold
    frozen = FrozenSelfAttentionRNN.copy_of(model)
    x = torch.randn(4, 9, 3, dtype=torch.float64, requires_grad=True)
    got_trace, want_trace = model(x), frozen(x)
    torch.testing.assert_close(got_trace.h, want_trace.h, rtol=0, atol=1e-12)
    got = torch.autograd.grad(loss_of(got_trace, "h, c, α"), [x, *model.parameters()])
    want = torch.autograd.grad(loss_of(want_trace, "h, c, α"), [x, *frozen.parameters()])
    for a, b in zip(got, want, strict=True):  # to 1e-12 of the largest gradient (~1e2 here)
        assert (a - b).abs().max() <= 1e-12 * max(1.0, b.abs().max().item())
    assert got_trace.h.abs().max() > 0.99 and max(g.abs().max() for g in want) > 0.1


def test_a_loss_on_the_context_alone():
    """No upstream gradient on h (autograd passes None): only c carries the loss."""
    for fold in (True, False):
        model = make("eq4", "scaled_dot", fold, seed=2)
        frozen = FrozenSelfAttentionRNN.copy_of(model)
        x = torch.randn(2, 20, 3, dtype=torch.float64)
        got = torch.autograd.grad((model(x).c ** 2).sum(), list(model.parameters()))
        want = torch.autograd.grad((frozen(x).c ** 2).sum(), list(frozen.parameters()))
        for a, b in zip(got, want, strict=True):
            torch.testing.assert_close(a, b, rtol=0, atol=1e-12)


@pytest.mark.parametrize("masked", [False, True])
@pytest.mark.parametrize(("update", "align", "fold"), ATTENTION_CASES)
def test_gradcheck_across_blocks(update, align, fold, masked, monkeypatch):
    """Autograd's own numerical check, with blocks of 2 over 5 steps.  Fast mode (a
    random projection of the Jacobian, checked against finite differences) keeps
    the suite short; tests/test_core.py runs the full check on one block."""
    monkeypatch.setattr(bptt, "BLOCK", 2)
    model = make(update, align, fold, D=2, H=3, attn_size=2, seed=4)
    x = torch.randn(3, 5, 2, dtype=torch.float64, requires_grad=True)
    knockout = masks(5) if masked else None
    names, params = zip(*model.named_parameters(), strict=True)

    def run(x, *weights):
        state = dict(zip(names, weights, strict=True))
        trace = torch.func.functional_call(model, state, (x,), {"knockout": knockout})
        return trace.h, trace.c, trace.alpha

    inputs = (x, *(p.detach().mul(1.3).add(0.1).requires_grad_() for p in params))
    assert torch.autograd.gradcheck(run, inputs, fast_mode=True)


# -- the fold -----------------------------------------------------------------------


@pytest.mark.parametrize("masked", [False, True])
@pytest.mark.parametrize(("update", "align", "fold"), CASES)
def test_both_paths_give_the_frozen_forward(update, align, fold, masked):
    model = make(update, align, fold, seed=5)
    x = torch.randn(3, T, 3, dtype=torch.float64)
    knockout = masks(T) if masked else None
    with torch.no_grad():
        for p in [] if model.align is None else model.align.parameters():
            p.mul_(3.0)  # α far from uniform, so a wrong slot would show
        got = model(x, knockout=knockout)
        want = FrozenSelfAttentionRNN.copy_of(model)(x, knockout=knockout)
    torch.testing.assert_close(got.h, want.h, rtol=0, atol=1e-12)
    if update != "eq1":
        torch.testing.assert_close(got.c, want.c, rtol=0, atol=1e-12)
        torch.testing.assert_close(got.alpha, want.alpha, rtol=0, atol=1e-12)
        assert got.alpha[:, -1].max() > 2 / (T + 1)  # at least twice the uniform weight


@pytest.mark.parametrize("align", ["dot", "scaled_dot"])
def test_folded_records_show_the_score_of_the_keys_and_queries(align):
    """score_{t,i} = s·(W_K h_i)·(W_Q h_t), the seed's formula, recomputed from the record."""
    model = make("eq4", align, True, seed=6)
    with torch.no_grad():
        assert model.new_cache(torch.zeros(1, 3, dtype=torch.float64), 4).folded
    stepper = model.stepper(torch.randn(9, 3, dtype=torch.float64))
    stepper.goto(9)
    W_k, W_q, s = model.align.W_k.weight, model.align.W_q.weight, model.align.scale
    for step in stepper.steps:
        states = torch.stack([stepper.h_at(i) for i in range(step.t + 1)])  # (t+1, H)
        keys, query = states @ W_k.T, W_q @ stepper.h_at(step.t)
        torch.testing.assert_close(step.scores, s * keys @ query, rtol=0, atol=1e-12)
        torch.testing.assert_close(step.alpha, torch.softmax(step.scores, 0), rtol=0, atol=1e-15)


def test_the_path_is_chosen_by_size_once_per_run():
    x = torch.zeros(1, 2, dtype=torch.float64)

    def folded(align, H, d, fold=None):
        model = SelfAttentionRNN(2, H, align=align, attn_size=d).double()
        model.fold = fold
        with torch.no_grad():
            cache = model.new_cache(x, 4)
        assert cache.keys.numel() == (0 if cache.folded else 4 * d)  # no key cache when folded
        return cache.folded

    assert folded("dot", 8, 8) and folded("scaled_dot", 8, 4)  # d_k ≥ H/2
    assert not folded("dot", 8, 3) and not folded("scaled_dot", 9, 4)  # d_k < H/2
    assert folded("dot", 8, 3, fold=True) and not folded("dot", 8, 8, fold=False)
    assert not folded("additive", 8, 8) and not folded("additive", 8, 8, fold=True)


@pytest.mark.parametrize("scale_name", ["dot", "scaled_dot"])
def test_fold_weight_and_its_backward(scale_name):
    """F = s·W_Kᵀ W_Q, and fold_backward is its vector–Jacobian product."""
    align = SelfAttentionRNN(2, 5, align=scale_name, attn_size=3).double().align
    kq = torch.randn(6, 5, dtype=torch.float64, requires_grad=True)
    F = align.fold_weight(kq)
    torch.testing.assert_close(F, align.scale * kq[:3].T @ kq[3:], rtol=0, atol=1e-15)
    h_i, h_t = torch.randn(5, dtype=torch.float64), torch.randn(5, dtype=torch.float64)
    score = align.scale * (kq[:3] @ h_i) @ (kq[3:] @ h_t)
    torch.testing.assert_close(h_i @ (F @ h_t), score, rtol=0, atol=1e-14)
    d_F = torch.randn(5, 5, dtype=torch.float64)
    (want,) = torch.autograd.grad(F, kq, d_F)
    torch.testing.assert_close(align.fold_backward(d_F, kq.detach()), want, rtol=0, atol=1e-13)
