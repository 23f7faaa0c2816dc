"""The stepper: moving around, what-if edits, caching, and property tests over shapes."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from attn_widget import SelfAttentionRNN
from attn_widget.core import WeightsChangedError


def make(update="eq4", align="dot", D=3, H=4, seed=0):
    torch.manual_seed(seed)
    return SelfAttentionRNN(D, H, update=update, align=align).double()


def test_moving_around_serves_computed_steps_without_recomputing():
    model = make()
    x = torch.randn(6, 3, dtype=torch.float64)
    stepper = model.stepper(x)
    first = [stepper.step() for _ in range(4)]
    assert stepper.k == 4 and stepper.frontier == 4
    assert stepper.back() is first[2] and stepper.k == 3
    stepper.reset()
    assert stepper.k == 0 and stepper.current is None and stepper.frontier == 4
    assert torch.equal(stepper.h, torch.zeros(4, dtype=torch.float64))
    again = [stepper.step() for _ in range(4)]
    assert all(a is b for a, b in zip(first, again, strict=True))  # served, not recomputed
    assert stepper.goto(6).t == 5 and stepper.frontier == 6
    assert stepper.goto(2) is first[1]
    assert stepper.back() is first[0] and stepper.back() is None and stepper.back() is None


def test_what_if_replaces_the_next_input_and_drops_what_followed():
    model = make()
    x = torch.randn(5, 3, dtype=torch.float64)
    stepper = model.stepper(x)
    stepper.goto(5)
    stepper.goto(2)
    new = torch.randn(3, dtype=torch.float64)
    s = stepper.step(new)
    assert s.t == 2 and torch.equal(s.x, new)
    assert stepper.frontier == 3 and stepper.k == 3
    y = x.clone()
    y[2] = new
    stepper.goto(5)
    assert torch.allclose(stepper.trace().h, model(y).h, atol=1e-12)
    assert torch.equal(x[2], model.stepper(x).x[2])  # the caller's tensor was not touched


def test_inputs_can_be_fed_one_at_a_time():
    model = make("eq3", "additive")
    x = torch.randn(7, 3, dtype=torch.float64)
    stepper = model.stepper()
    for t in range(7):
        assert stepper.step(x[t]).t == t
    trace, expected = stepper.trace(), model(x)
    assert stepper.T == 7
    for got, want in ((trace.h, expected.h), (trace.c, expected.c), (trace.alpha, expected.alpha)):
        assert torch.allclose(got, want, atol=1e-12)


def test_long_sequence_grows_the_cache():
    model = make()
    x = torch.randn(40, 3, dtype=torch.float64)
    stepper = model.stepper()
    for t in range(40):  # starts with room for 16 states
        stepper.step(x[t])
    assert torch.allclose(stepper.trace().alpha, model(x).alpha, atol=1e-12)


def test_set_inputs_forgets_every_step():
    model = make()
    stepper = model.stepper(torch.randn(4, 3, dtype=torch.float64))
    stepper.goto(4)
    y = torch.randn(2, 3, dtype=torch.float64)
    stepper.set_inputs(y)
    assert (stepper.k, stepper.frontier, stepper.T) == (0, 0, 2)
    stepper.goto(2)
    assert torch.allclose(stepper.trace().h, model(y).h, atol=1e-12)


def test_step_records_do_not_carry_gradients():
    model = SelfAttentionRNN(3, 4)
    s = model.stepper(torch.randn(3, 3)).step()
    assert not s.h.requires_grad and not s.alpha.requires_grad


@settings(max_examples=25, deadline=None)
@given(
    B=st.integers(1, 3),
    T=st.integers(1, 9),
    D=st.integers(1, 4),
    H=st.integers(1, 6),
    d=st.integers(1, 5),
    update=st.sampled_from(["eq1", "eq3", "eq4"]),
    align=st.sampled_from(["dot", "scaled_dot", "additive"]),
    seed=st.integers(0, 2**16),
)
def test_properties_over_random_shapes(B, T, D, H, d, update, align, seed):
    torch.manual_seed(seed)
    model = SelfAttentionRNN(D, H, update=update, align=align, attn_size=d).double()
    x = torch.randn(B, T, D, dtype=torch.float64)
    with torch.no_grad():
        trace = model(x)
    assert trace.h.shape == (B, T + 1, H)
    assert (trace.h[:, 0] == 0).all() and (trace.h.abs() < 1).all()
    if update == "eq1":
        assert trace.c is None and trace.alpha is None
    else:
        assert trace.c.shape == (B, T, H) and trace.alpha.shape == (B, T, T + 1)
        assert torch.allclose(trace.alpha.sum(-1), torch.ones(B, T, dtype=torch.float64))
        assert (torch.triu(trace.alpha, diagonal=1) == 0).all()  # i > t is exactly 0
        assert (trace.c[:, 0] == 0).all()  # c_0 = α_{0,0} h_0 = 0
        # c_t is a convex combination of h_0 … h_t
        assert torch.allclose(trace.c, trace.alpha @ trace.h, atol=1e-12)
    b = seed % B
    stepper = model.stepper(x[b])
    stepper.goto(T)
    assert torch.allclose(stepper.trace().h, trace.h[b], atol=1e-12)


def test_unbatched_equals_batch_of_one():
    model = make()
    x = torch.randn(5, 3, dtype=torch.float64)
    # Bit for bit: unbatched input runs as a batch of one, the same computation.
    assert torch.equal(model(x).h, model(x[None]).h[0])


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_dtypes(dtype):
    model = SelfAttentionRNN(3, 4).to(dtype)
    trace = model(torch.randn(5, 3, dtype=dtype))
    assert trace.h.dtype == trace.alpha.dtype == dtype
    assert model.stepper(torch.randn(5, 3, dtype=dtype)).step().h.dtype == dtype


# -- the weights a sequence was computed with -----------------------------------------


@pytest.mark.parametrize(
    "change, named",
    [
        (lambda m: m.align.W_k.weight.mul_(2.0), "align.W_k.weight"),  # read once, at step 0
        (lambda m: m.A.bias.add_(0.1), "A.bias"),  # read at every step
    ],
)
def test_a_weight_change_mid_sequence_is_refused_never_mixed(change, named):
    model = make()
    x = torch.randn(6, 3, dtype=torch.float64)
    stepper = model.stepper(x)
    stepper.goto(3)
    old = stepper.trace()
    with torch.no_grad():
        change(model)
    assert stepper.weights_changed()
    with pytest.raises(WeightsChangedError, match=named):
        stepper.step()
    assert stepper.k == 3 and stepper.frontier == 3  # nothing moved
    stepper.back()  # computed steps stay served: all made with the old weights
    torch.testing.assert_close(stepper.trace().h, old.h, rtol=0, atol=0)  # the same records
    stepper.truncate(0)  # recompute every step with the new weights
    stepper.goto(6)
    with torch.no_grad():
        new = model(x)
    torch.testing.assert_close(stepper.trace().h, new.h, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(stepper.trace().alpha, new.alpha, rtol=1e-12, atol=1e-12)
    assert not stepper.weights_changed()


def test_a_model_moved_to_another_dtype_mid_sequence_is_refused():
    model = make()
    stepper = model.stepper(torch.randn(6, 3, dtype=torch.float64))
    stepper.goto(2)
    model.float()  # same Parameter objects, new storage
    with pytest.raises(WeightsChangedError, match="truncate"):
        stepper.step()


def test_nan_weights_give_a_clear_error_in_both_paths():
    model = make()
    x = torch.randn(5, 3, dtype=torch.float64)
    with torch.no_grad():
        model.A.weight[0, 0] = float("nan")
    with pytest.raises(ValueError, match=r"A\.weight contains NaN"):
        model(x)
    with pytest.raises(ValueError, match=r"A\.weight contains NaN"):
        model.stepper(x).step()


def test_the_weight_check_sees_inf_and_nan_however_they_sum_and_not_an_overflowing_sum():
    """``check_weights_finite`` sums a weight before it looks closer: +Inf and −Inf
    sum to NaN, still caught; finite weights whose float32 sum overflows are fine."""
    for bad in ([float("inf"), -float("inf")], [float("nan"), 0.0], [-float("inf"), 1.0]):
        model = make()
        with torch.no_grad():
            model.align.W_q.weight[0, :2] = torch.tensor(bad, dtype=torch.float64)
        with pytest.raises(ValueError, match=r"align\.W_q\.weight contains NaN or Inf"):
            model(torch.randn(4, 3, dtype=torch.float64))
    model = make().float()
    with torch.no_grad():
        model.A.bias.fill_(3e38)  # finite, but the sum of five is not
    assert not torch.isfinite(model.A.bias.sum())
    trace = model(torch.randn(4, 3))  # runs: tanh of huge pre-activations is ±1
    assert torch.isfinite(trace.h).all() and trace.h[1:].abs().min() > 0.99


def test_a_what_if_step_after_a_weight_change_changes_nothing_before_refusing():
    model = make()
    x = torch.randn(6, 3, dtype=torch.float64)
    stepper = model.stepper(x)
    stepper.goto(3)
    with torch.no_grad():
        model.A.bias.add_(1.0)
    with pytest.raises(WeightsChangedError):
        stepper.step(torch.ones(3, dtype=torch.float64))
    assert torch.equal(stepper.x, x) and stepper.k == 3 and stepper.frontier == 3


def test_inputs_that_no_longer_fit_the_model_get_a_clear_error():
    model = make()
    stepper = model.stepper(torch.randn(6, 3, dtype=torch.float64))
    stepper.goto(2)
    model.float()
    stepper.truncate(0)
    with pytest.raises(TypeError, match=r"inputs are torch.float64 .* model is now torch.float32"):
        stepper.step()


def test_truncate_and_h_at_check_their_index():
    stepper = make().stepper(torch.randn(6, 3, dtype=torch.float64))
    stepper.goto(3)
    for bad in (-1, "a", 2.5, True):
        with pytest.raises((TypeError, ValueError)):
            stepper.truncate(bad)
    assert stepper.frontier == 3 and stepper.k == 3
    with pytest.raises(ValueError, match="0 … frontier = 3"):
        stepper.h_at(-1)
    with pytest.raises(ValueError, match="0 … frontier = 3"):
        stepper.h_at(4)
    assert torch.equal(stepper.h_at(3), stepper.steps[2].h)


def test_weights_too_large_for_float_give_a_clear_error_not_nan():
    model = make()
    x = torch.randn(6, 3, dtype=torch.float64)
    with torch.no_grad():
        model.align.W_q.weight.fill_(1e200)
        model.align.W_k.weight.fill_(1e200)
    with pytest.raises(ValueError, match="scores overflow"):
        model(x)
    with pytest.raises(ValueError, match="scores overflow"):
        model.stepper(x).goto(6)


def test_history_is_the_deprecated_name_of_steps():
    stepper = SelfAttentionRNN(2, 3).stepper(torch.randn(3, 2))
    stepper.goto(2)
    with pytest.warns(DeprecationWarning, match="Stepper.steps"):
        assert stepper.history is stepper.steps
    assert [s.t for s in stepper.steps] == [0, 1]


def test_a_parameter_replaced_in_its_module_is_a_weight_change():
    model = make()
    stepper = model.stepper(torch.randn(4, 3, dtype=torch.float64))
    stepper.goto(2)
    assert not stepper.weights_changed()
    model.A.bias = torch.nn.Parameter(model.A.bias.detach().clone())  # same values, new tensor
    assert stepper.weights_changed()
    with pytest.raises(WeightsChangedError, match=r"A\.bias"):
        stepper.step()


@pytest.mark.parametrize(
    "replace, named",
    [
        (lambda m: setattr(m, "A", torch.nn.Linear(m.A.in_features, m.A.out_features)), "A"),
        (lambda m: setattr(m.align, "W_q", torch.nn.Linear(4, 4, bias=False)), r"align\.W_q"),
    ],
)
def test_a_submodule_replaced_is_a_weight_change(replace, named):
    torch.manual_seed(0)
    model = SelfAttentionRNN(3, 4)
    stepper = model.stepper(torch.randn(4, 3))
    stepper.goto(2)
    replace(model)
    assert stepper.weights_changed()
    with pytest.raises(WeightsChangedError, match=named):
        stepper.step()
    stepper.truncate(0)
    stepper.goto(4)
    with torch.no_grad():
        torch.testing.assert_close(stepper.trace().h, model(stepper.x).h)
