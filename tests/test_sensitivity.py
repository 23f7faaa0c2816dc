"""input_sensitivity: ‖∂h_T/∂x_i‖ against an independent Jacobian, and the forgetting it shows."""

from __future__ import annotations

import pytest
import torch

from attn_widget import SelfAttentionRNN, input_sensitivity
from attn_widget.core import LSTMN

MODELS = [("eq1", "dot"), ("eq3", "additive"), ("eq4", "dot"), ("eq4", "scaled_dot"),
          ("eq4", "additive")]  # fmt: skip


def jacobian_norms(model, x):
    """Reference: the full Jacobian of h_T by torch.autograd.functional, then per-input norms."""
    J = torch.autograd.functional.jacobian(lambda xx: model(xx).h[-1], x)  # (H, T, D)
    return J.pow(2).sum(dim=(0, 2)).sqrt()


@pytest.mark.parametrize(("update", "align"), MODELS)
def test_matches_the_full_jacobian(update, align):
    torch.manual_seed(1)
    model = SelfAttentionRNN(3, 5, update=update, align=align).double()
    x = torch.randn(7, 3, dtype=torch.float64)
    s = input_sensitivity(model, x)
    assert s.shape == (7,)
    torch.testing.assert_close(s, jacobian_norms(model, x), rtol=0, atol=1e-12)


def test_works_for_the_lstmn_too():
    torch.manual_seed(2)
    model = LSTMN(3, 4).double()
    x = torch.randn(6, 3, dtype=torch.float64)
    torch.testing.assert_close(input_sensitivity(model, x), jacobian_norms(model, x), rtol=0,
                               atol=1e-12)  # fmt: skip


def test_a_readout_gives_the_gradient_of_that_scalar():
    torch.manual_seed(3)
    model = SelfAttentionRNN(3, 5, update="eq4", align="additive").double()
    x = torch.randn(6, 3, dtype=torch.float64)
    w = torch.randn(5, dtype=torch.float64)
    readout = lambda h: torch.tanh(h) @ w  # noqa: E731
    xs = x.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(readout(model(xs).h[-1]), xs)
    torch.testing.assert_close(input_sensitivity(model, x, readout), grad.norm(dim=1), rtol=0,
                               atol=1e-12)  # fmt: skip


def test_leaves_the_model_the_readout_and_the_input_alone():
    model = SelfAttentionRNN(3, 4, update="eq4")
    head = torch.nn.Linear(4, 1)  # a read-out outside the model, as TextRNN.out is
    model.A.bias.requires_grad_(False)  # a frozen parameter stays frozen
    x = torch.randn(5, 3)
    before = x.clone()
    input_sensitivity(model, x)
    input_sensitivity(model, x, readout=lambda h: head(h).squeeze())
    assert all(p.grad is None for p in (*model.parameters(), *head.parameters()))
    assert not model.A.bias.requires_grad and model.A.weight.requires_grad
    assert torch.equal(x, before) and not x.requires_grad
    with torch.no_grad():  # autograd is switched back on inside
        assert input_sensitivity(model, x).shape == (5,)
    with torch.inference_mode(), pytest.raises(RuntimeError, match="inference_mode"):
        input_sensitivity(model, x)


def test_eq1_forgets_by_orders_of_magnitude_and_eq4_does_not():
    """At initialisation, over three random seeds: eq1's dependence on an input 40
    steps back is a millionth of its dependence on one 5 steps back; eq4's, through
    c_t, stays within a factor of 100."""
    for seed in range(3):
        ratio = {}
        for update in ("eq1", "eq4"):
            torch.manual_seed(seed)
            model = SelfAttentionRNN(16, 32, update=update, align="additive")
            s = input_sensitivity(model, torch.randn(41, 16))  # s[-1 - d]: distance d
            ratio[update] = (s[-1 - 40] / s[-1 - 5]).item()
        assert ratio["eq1"] < 1e-6, ratio
        assert ratio["eq4"] > 1e-2, ratio


def test_bad_input_says_what_was_expected():
    model = SelfAttentionRNN(3, 4)
    with pytest.raises(ValueError, match=r"floating \(T, D\) tensor; got a 3-d"):
        input_sensitivity(model, torch.randn(1, 5, 3))
    with pytest.raises(ValueError, match=r"got a 2-d torch\.int64"):
        input_sensitivity(model, torch.ones(5, 3, dtype=torch.long))
    with pytest.raises(ValueError, match="empty"):
        input_sensitivity(model, torch.randn(0, 3))
    with pytest.raises(ValueError, match="NaN or Inf"):
        input_sensitivity(model, torch.tensor([[0.0, float("nan"), 1.0]]))
    with pytest.raises(ValueError, match=r"scalar, got shape \(4,\)"):
        input_sensitivity(model, torch.randn(5, 3), readout=lambda h: h)
    assert all(p.requires_grad for p in model.parameters())  # restored after the error
