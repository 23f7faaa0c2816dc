"""The core against the equations: hand-worked cases, an independent numpy
reference, stepping versus batching, padding, causality, gradients."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from reference import params_of, reference_run

from attn_widget import SelfAttentionRNN
from attn_widget.core.past import SIGMOID_TANH_MIN, PastStates

UPDATES = ("eq1", "eq3", "eq4")
ALIGNS = ("dot", "scaled_dot", "additive")
COMBOS = list(itertools.product(UPDATES, ALIGNS))


def make(update="eq4", align="dot", D=3, H=5, attn_size=None, seed=0, dtype=torch.float64):
    torch.manual_seed(seed)
    model = SelfAttentionRNN(D, H, update=update, align=align, attn_size=attn_size)
    return model.to(dtype)


def set_weights(model, **weights):
    with torch.no_grad():
        for name, value in weights.items():
            module, _, attr = name.rpartition(".")
            target = model.get_submodule(module) if module else model
            getattr(target, attr).copy_(torch.tensor(value, dtype=torch.float64))


# -- hand-worked cases: D = H = 1, x = (1, -1) -----------------------------------
#
# Step 0: only h_0 = 0 is there, so α_{0,0} = 1 and c_0 = 0 whatever the align.
# With A_x = 1 and b = 0:  h_1 = tanh(1) = 0.7615941559557649.
# Step 1 attends over (h_0, h_1) = (0, 0.76159…).

H1 = 0.7615941559557649  # tanh(1)
# A value worked out by hand against the model: two computations of one quantity, so
# they agree to float64 rounding, not bit for bit (docs/design.md §5).
BY_HAND = 1e-12


def test_eq1_by_hand():
    # h_{t+1} = tanh(0.5 h_t + 1·x_{t+1} + 0.25)
    # h_1 = tanh(1.25) = 0.8482836399575129
    # h_2 = tanh(0.5·0.84828… − 1 + 0.25) = tanh(−0.32585…) = −0.31479427237662405
    model = make("eq1", D=1, H=1)
    set_weights(model, **{"A.weight": [[0.5, 1.0]], "A.bias": [0.25]})
    trace = model(torch.tensor([[1.0], [-1.0]], dtype=torch.float64))
    expected = [0.0, 0.8482836399575129, -0.31479427237662405]
    assert trace.h[:, 0].tolist() == pytest.approx(expected, abs=BY_HAND)
    assert trace.c is None and trace.alpha is None


def test_eq4_dot_by_hand():
    # dot, W_q = W_k = 1: score_{1,i} = h_i·h_1 → (0, h_1²) = (0, 0.5800256583859739)
    # α_1 = softmax(0, 0.58003) = (0.35892668969227737, 0.6410733103077226)
    # c_1 = 0.64107…·h_1 = 0.4882376866695781
    # A = [A_h, A_x, A_c] = [0.5, 1, 2], b = 0:
    # h_2 = tanh(0.5·h_1 − 1 + 2·c_1) = 0.3428092765459025
    model = make("eq4", "dot", D=1, H=1)
    set_weights(
        model,
        **{
            "A.weight": [[0.5, 1.0, 2.0]],
            "A.bias": [0.0],
            "align.W_q.weight": [[1.0]],
            "align.W_k.weight": [[1.0]],
        },
    )
    trace = model(torch.tensor([[1.0], [-1.0]], dtype=torch.float64))
    assert trace.h[:, 0].tolist() == pytest.approx([0.0, H1, 0.3428092765459025], abs=BY_HAND)
    assert trace.alpha.flatten().tolist() == pytest.approx(
        [1.0, 0.0, 0.0, 0.35892668969227737, 0.6410733103077226, 0.0], abs=BY_HAND
    )
    assert trace.c[:, 0].tolist() == pytest.approx([0.0, 0.4882376866695781], abs=BY_HAND)


def test_eq3_dot_by_hand():
    # eq3 drops h_t: z = [x_{t+1}; c_t], A = [A_x, A_c] = [1, 2], b = 0.
    # h_1 = tanh(1 + 2·c_0) = tanh(1); α_1 and c_1 as in the eq4 case;
    # h_2 = tanh(−1 + 2·0.4882376866695781) = −0.023520288048586562
    model = make("eq3", "dot", D=1, H=1)
    set_weights(
        model,
        **{
            "A.weight": [[1.0, 2.0]],
            "A.bias": [0.0],
            "align.W_q.weight": [[1.0]],
            "align.W_k.weight": [[1.0]],
        },
    )
    trace = model(torch.tensor([[1.0], [-1.0]], dtype=torch.float64))
    assert trace.h[:, 0].tolist() == pytest.approx([0.0, H1, -0.023520288048586562], abs=BY_HAND)


def test_eq4_additive_by_hand():
    # additive, W = [1, 0.5] on [h_i; h_t], v = 1:
    # score_{1,0} = tanh(0 + 0.5·h_1) = 0.3633994843890525
    # score_{1,1} = tanh(h_1 + 0.5·h_1) = 0.8152177266419572
    # α_1 = (0.3889285497314312, 0.6110714502685688), c_1 = 0.4653884453959558
    # h_2 = tanh(0.5·h_1 − 1 + 2·c_1) = 0.30186831766564026
    model = make("eq4", "additive", D=1, H=1, attn_size=1)
    set_weights(
        model,
        **{
            "A.weight": [[0.5, 1.0, 2.0]],
            "A.bias": [0.0],
            "align.W.weight": [[1.0, 0.5]],
            "align.v.weight": [[1.0]],
        },
    )
    trace = model(torch.tensor([[1.0], [-1.0]], dtype=torch.float64))
    assert trace.alpha[1, :2].tolist() == pytest.approx(
        [0.3889285497314312, 0.6110714502685688], abs=BY_HAND
    )
    assert trace.h[2, 0].item() == pytest.approx(0.30186831766564026, abs=BY_HAND)


def test_eq4_scaled_dot_by_hand():
    # scaled dot, d_k = 4, W_q = W_k = (1,1,1,1)ᵀ: score = 4·h_i·h_t / √4 = 2·h_i·h_t
    # score_{1,1} = 2·h_1² = 1.1600513167719477 → α_{1,1} = 0.761342039242795
    # c_1 = 0.5798336477707572, h_2 = 0.4933393997058432
    model = make("eq4", "scaled_dot", D=1, H=1, attn_size=4)
    ones = [[1.0]] * 4
    set_weights(
        model,
        **{
            "A.weight": [[0.5, 1.0, 2.0]],
            "A.bias": [0.0],
            "align.W_q.weight": ones,
            "align.W_k.weight": ones,
        },
    )
    trace = model(torch.tensor([[1.0], [-1.0]], dtype=torch.float64))
    assert trace.alpha[1, 1].item() == pytest.approx(0.761342039242795, abs=BY_HAND)
    assert trace.c[1, 0].item() == pytest.approx(0.5798336477707572, abs=BY_HAND)
    assert trace.h[2, 0].item() == pytest.approx(0.4933393997058432, abs=BY_HAND)


# -- against the independent numpy reference --------------------------------------


@pytest.mark.parametrize(("update", "align"), COMBOS)
def test_matches_numpy_reference_batched_and_stepped(update, align):
    model = make(update, align, D=3, H=5, attn_size=4, seed=1)
    # Larger weights than the default init, so that α is far from uniform.
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(3.0)
    x = torch.randn(2, 9, 3, dtype=torch.float64)
    params = params_of(model)
    with torch.no_grad():
        trace = model(x)
    for b in range(2):
        h_ref, c_ref, a_ref = reference_run(params, x[b].numpy(), update, align)
        stepper = model.stepper(x[b])
        steps = [stepper.step() for _ in range(9)]
        stepped_h = np.stack([np.zeros(5)] + [s.h.numpy() for s in steps])
        assert np.abs(trace.h[b].numpy() - h_ref).max() <= 1e-10
        assert np.abs(stepped_h - h_ref).max() <= 1e-10
        if update == "eq1":
            assert trace.c is None and all(s.alpha is None for s in steps)
            continue
        assert np.abs(trace.c[b].numpy() - c_ref).max() <= 1e-10
        assert np.abs(trace.alpha[b].numpy() - a_ref).max() <= 1e-10
        for s in steps:
            assert np.abs(s.alpha.numpy() - a_ref[s.t, : s.t + 1]).max() <= 1e-10
            assert np.abs(s.c.numpy() - c_ref[s.t]).max() <= 1e-10
        # α must be far from uniform, or this test would not see a wrong index.
        assert np.abs(a_ref[-1, :9] - 1 / 9).max() > 0.05


@pytest.mark.parametrize(("update", "align"), COMBOS)
def test_a_wide_batch_takes_tanh_by_sigmoid_and_still_matches_the_reference(
    update, align, monkeypatch
):
    """B·H ≥ SIGMOID_TANH_MIN on CPU: h = 2σ(2a) − 1 (``PastStates.tanh``), checked here
    against numpy's tanh in the independent reference, with large weights so that
    h reaches the flat ends of tanh, where the identity's rounding differs most."""
    B, H = 4, SIGMOID_TANH_MIN // 4
    model = make(update, align, D=3, H=H, attn_size=8, seed=3)
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(12.0)
    x = torch.randn(B, 7, 3, dtype=torch.float64)
    paths = []
    tanh = PastStates.tanh

    def spy(past, pre, out=None):
        paths.append(past.tanh_by_sigmoid)
        return tanh(past, pre, out)

    monkeypatch.setattr(PastStates, "tanh", spy)
    with torch.no_grad():
        assert model.new_cache(x[0], 8).tanh_by_sigmoid is False  # the stepper: one sequence
        trace = model(x)
    assert paths == [True] * 7
    paths.clear()  # half precision keeps torch's tanh: 2σ(2a) − 1 would round small a to 0
    with torch.no_grad():
        make(update, align, D=3, H=H, attn_size=8, dtype=torch.bfloat16)(x.bfloat16())
    assert paths == [False] * 7
    params = params_of(model)
    for b in range(B):
        h_ref, c_ref, a_ref = reference_run(params, x[b].numpy(), update, align)
        assert np.abs(trace.h[b].numpy() - h_ref).max() <= 1e-10
        if update != "eq1":
            assert np.abs(trace.alpha[b].numpy() - a_ref).max() <= 1e-10
            assert np.abs(trace.c[b].numpy() - c_ref).max() <= 1e-10
    assert trace.h.abs().max() > 0.999  # the flat ends were reached


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_tanh_by_sigmoid_is_tanh(dtype):
    """2σ(2a) − 1 against torch.tanh over the whole line, ±∞ and NaN included: the
    rounding is absolute (one or two units of 1's last place), never relative."""
    with torch.no_grad():
        past = make(H=SIGMOID_TANH_MIN, dtype=dtype).new_cache(torch.zeros(1, 3, dtype=dtype), 2)
    past.tanh_by_sigmoid = True
    a = torch.cat(
        [
            torch.linspace(-30, 30, 100_001, dtype=dtype),
            torch.tensor([float("inf"), -float("inf"), 1e-30, -1e-300, 0.0], dtype=dtype),
        ]
    )
    h = past.tanh(a)
    out = torch.empty_like(a)
    assert past.tanh(a, out=out) is out and torch.equal(out, h)
    exact = torch.tanh(a.double())
    tolerance = {torch.float32: 4e-7, torch.float64: 1e-15}[dtype]  # ~3 units of 1's last place
    assert (h.double() - exact).abs().max() <= tolerance
    assert h.abs().max() == 1.0
    assert torch.equal(h[-5:-1].sign(), torch.tensor([1, -1, 0, 0.0], dtype=dtype))
    assert torch.isnan(past.tanh(torch.tensor([float("nan")], dtype=dtype))).all()


@pytest.mark.parametrize(("update", "align"), COMBOS)
def test_step_record_holds_the_tensors_of_the_equation(update, align):
    model = make(update, align, D=2, H=3, seed=2)
    x = torch.randn(4, 2, dtype=torch.float64)
    stepper = model.stepper(x)
    for t in range(4):
        s = stepper.step()
        h_t = stepper.h_at(t)
        assert s.t == t and torch.equal(s.x, x[t])
        parts = {"h": h_t, "x": x[t], "c": s.c}
        # z is a copy of its blocks (exact); the rest recompute each equation from the
        # record on other shapes than the model's batch, so they agree to rounding.
        assert torch.equal(s.z, torch.cat([parts[name] for name, _ in model.z_layout]))
        assert torch.allclose(s.pre, model.A.weight @ s.z + model.A.bias, atol=1e-14)
        torch.testing.assert_close(s.h, torch.tanh(s.pre), rtol=0, atol=1e-15)
        if s.alpha is not None:
            torch.testing.assert_close(s.alpha, torch.softmax(s.scores, 0), rtol=0, atol=1e-15)
            states = torch.stack([stepper.h_at(i) for i in range(t + 1)])
            assert torch.allclose(s.c, s.alpha @ states, atol=1e-14)


def test_layout_order_is_the_contract():
    assert make("eq1", D=2, H=3).z_layout == [("h", 3), ("x", 2)]
    assert make("eq3", D=2, H=3).z_layout == [("x", 2), ("c", 3)]
    assert make("eq4", D=2, H=3).z_layout == [("h", 3), ("x", 2), ("c", 3)]
    assert make("eq4", D=2, H=3).A.in_features == 8


def test_parameter_names_follow_the_design():
    dot = make("eq4", "dot", H=5, attn_size=4)
    assert dot.align.W_q.weight.shape == (4, 5) and dot.align.W_q.bias is None
    assert dot.align.W_k.weight.shape == (4, 5) and dot.align.W_k.bias is None
    add = make("eq4", "additive", H=5, attn_size=4)
    assert add.align.W.weight.shape == (4, 10) and add.align.W.bias is None
    assert add.align.v.weight.shape == (1, 4) and add.align.v.bias is None
    assert dot.A.bias.shape == (5,)
    assert make("eq1").align is None


# -- structure: α rows, causality, padding -----------------------------------------


@pytest.mark.parametrize(("update", "align"), [c for c in COMBOS if c[0] != "eq1"])
def test_alpha_rows_sum_to_one_and_are_zero_in_the_future(update, align):
    model = make(update, align, seed=3).requires_grad_(False)
    alpha = model(torch.randn(4, 7, 3, dtype=torch.float64)).alpha  # (B, T, T+1)
    assert torch.allclose(alpha.sum(-1), torch.ones(4, 7, dtype=torch.float64), atol=1e-12)
    future = torch.triu(torch.ones(7, 8, dtype=torch.bool), diagonal=1)
    assert (alpha[:, future] == 0).all()
    assert (alpha[:, ~future] > 0).all()
    assert (alpha[:, 0, 0] == 1).all()  # step 0 sees only h_0


@pytest.mark.parametrize(("update", "align"), COMBOS)
def test_causal_changing_x_k_leaves_earlier_steps_alone(update, align):
    model = make(update, align, seed=4)
    x = torch.randn(8, 3, dtype=torch.float64)
    k = 5  # change x_{k+1}, consumed by step k
    y = x.clone()
    y[k] += 1.0
    a, b = model(x), model(y)
    # Bit for bit: one computation (same ops, same shapes) on inputs that differ only
    # from x_{k+1} on, and no earlier number may depend on x_{k+1}.
    assert torch.equal(a.h[: k + 1], b.h[: k + 1])
    assert not torch.allclose(a.h[k + 1], b.h[k + 1])
    if a.alpha is not None:
        assert torch.equal(a.alpha[: k + 1], b.alpha[: k + 1])
        assert torch.equal(a.c[: k + 1], b.c[: k + 1])


@pytest.mark.parametrize(("update", "align"), COMBOS)
def test_padded_batch_equals_each_sequence_alone(update, align):
    model = make(update, align, seed=5)
    lengths = torch.tensor([6, 2, 4])
    x = torch.randn(3, 6, 3, dtype=torch.float64)
    x[1, 2:] = 1e3  # padding content must not matter
    trace = model(x, lengths)
    for b, n in enumerate(lengths.tolist()):
        alone = model(x[b, :n])
        assert torch.allclose(trace.h[b, : n + 1], alone.h, atol=1e-12)
        assert (trace.h[b, n + 1 :] == 0).all()
        assert torch.equal(trace.last()[b], trace.h[b, n])
        if alone.alpha is not None:
            assert torch.allclose(trace.alpha[b, :n, : n + 1], alone.alpha, atol=1e-12)
            assert (trace.alpha[b, n:] == 0).all() and (trace.c[b, n:] == 0).all()


# -- gradients --------------------------------------------------------------------


@pytest.mark.parametrize(("update", "align"), COMBOS)
def test_gradcheck_inputs_and_weights(update, align):
    model = make(update, align, D=2, H=3, attn_size=2, seed=6)
    x = torch.randn(2, 4, 2, dtype=torch.float64, requires_grad=True)
    names, params = zip(*model.named_parameters(), strict=True)

    def run(x, *weights):
        state = dict(zip(names, weights, strict=True))
        trace = torch.func.functional_call(model, state, (x,))
        out = [trace.h]
        if trace.alpha is not None:
            out += [trace.c, trace.alpha]
        return tuple(out)

    # Weights other than the module's own, so a backward that read the module's
    # parameters instead of the ones the forward used would fail the check.
    inputs = (x, *(p.detach().mul(1.3).add(0.1).requires_grad_() for p in params))
    assert torch.autograd.gradcheck(run, inputs)


def test_gradients_match_a_naive_autograd_run():
    # The history cache routes gradients through custom autograd functions;
    # a plain differentiable re-implementation must give the same gradients.
    model = make("eq4", "additive", D=3, H=4, seed=7)
    x = torch.randn(2, 6, 3, dtype=torch.float64)
    trace = model(x)
    loss = (trace.h**2).sum() + (trace.c * 0.3).sum()
    grads = torch.autograd.grad(loss, list(model.parameters()))

    def naive(x):
        B, T, _ = x.shape
        hs = [x.new_zeros(B, 4)]
        cs = []
        for t in range(T):
            states = torch.stack(hs, 1)  # (B, t+1, H)
            pairs = torch.cat([states, hs[t][:, None].expand_as(states)], -1)
            alpha = torch.softmax(model.align.v(torch.tanh(model.align.W(pairs))).squeeze(-1), -1)
            c = (alpha[:, :, None] * states).sum(1)
            cs.append(c)
            hs.append(torch.tanh(model.A(torch.cat([hs[t], x[:, t], c], -1))))
        return torch.stack(hs, 1), torch.stack(cs, 1)

    h, c = naive(x)
    expected = torch.autograd.grad((h**2).sum() + (c * 0.3).sum(), list(model.parameters()))
    for got, want in zip(grads, expected, strict=True):
        assert torch.allclose(got, want, atol=1e-12)


def test_a_second_order_backward_is_refused_not_silently_first_order():
    """create_graph=True used to return a gradient with no graph (the second-order
    terms silently zero); plain first-order calls still work."""
    model = make("eq4", "dot")
    x = torch.randn(2, 4, 3, dtype=torch.float64, requires_grad=True)
    with pytest.raises(RuntimeError, match="first order only: create_graph=True"):
        torch.autograd.grad(model(x).h.sum(), x, create_graph=True)
    with pytest.raises(RuntimeError, match="first order only"):
        torch.autograd.grad((model(x).alpha ** 2).sum(), model.A.weight, create_graph=True)
    (d_x,) = torch.autograd.grad(model(x).h.sum(), x)
    with torch.enable_grad():  # grad mode around a first-order call changes nothing
        (again,) = torch.autograd.grad(model(x).h.sum(), x)
    assert torch.allclose(d_x, again, rtol=0, atol=1e-12) and d_x.abs().sum() > 0


def test_backward_twice_with_retain_graph_gives_the_same_gradient():
    model = make("eq4", "dot", seed=8)
    x = torch.randn(5, 3, dtype=torch.float64, requires_grad=True)
    loss = model(x).h.sum()
    (g1,) = torch.autograd.grad(loss, x, retain_graph=True)
    (g2,) = torch.autograd.grad(loss, x)
    assert torch.equal(g1, g2)  # the same backward run twice: bit for bit


def test_eq1_equals_torch_rnn_cell():
    model = make("eq1", D=3, H=5, seed=9)
    cell = torch.nn.RNNCell(3, 5, nonlinearity="tanh").double()
    with torch.no_grad():
        # RNNCell: h' = tanh(W_ih x + b_ih + W_hh h + b_hh); eq1's A is [A_h | A_x].
        cell.weight_hh.copy_(model.A.weight[:, :5])
        cell.weight_ih.copy_(model.A.weight[:, 5:])
        cell.bias_ih.copy_(model.A.bias)
        cell.bias_hh.zero_()
    x = torch.randn(4, 6, 3, dtype=torch.float64)
    trace = model(x)
    h = torch.zeros(4, 5, dtype=torch.float64)
    for t in range(6):
        h = cell(x[:, t], h)
        assert torch.allclose(trace.h[:, t + 1], h, atol=1e-14)


def test_float32_matches_float64():
    model = make("eq4", "additive", seed=10)
    x = torch.randn(3, 10, 3, dtype=torch.float64)
    h64 = model(x).h
    h32 = model.float()(x.float()).h
    assert h32.dtype == torch.float32
    assert torch.allclose(h32.double(), h64, atol=1e-5)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_matches_cpu():  # pragma: no cover - runs where a GPU is present
    model = make("eq4", "dot", seed=11)
    x = torch.randn(2, 8, 3, dtype=torch.float64)
    cpu = model(x)
    gpu = model.cuda()(x.cuda())
    assert torch.allclose(gpu.h.cpu(), cpu.h, atol=1e-12)
