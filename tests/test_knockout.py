"""Knockout: states hidden from attention (docs/design.md §3), in the batched run,
the hand-written backward and the stepper, against an independent reference."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from reference import params_of, reference_run

from attn_widget import SelfAttentionRNN
from attn_widget.core import ALIGN_NAMES, LSTMN, UPDATE_NAMES, WeightsChangedError

COMBOS = list(itertools.product(UPDATE_NAMES, ALIGN_NAMES))
ATTENTION_COMBOS = [(u, a) for u, a in COMBOS if u != "eq1"]


def make(update="eq4", align="dot", D=3, H=4, attn_size=None, seed=0):
    torch.manual_seed(seed)
    model = SelfAttentionRNN(D, H, update=update, align=align, attn_size=attn_size).double()
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(1.5)  # sharper weights, so that a slot's share is large enough to matter
    return model


def mask_of(T: int, *rows) -> torch.Tensor:
    """(len(rows), T+1) bool: row b hides the slots in rows[b]."""
    mask = torch.zeros(len(rows), T + 1, dtype=torch.bool)
    for b, slots in enumerate(rows):
        mask[b, list(slots)] = True
    return mask


# -- the batched run ----------------------------------------------------------


@pytest.mark.parametrize(("update", "align"), COMBOS)
def test_knockout_matches_the_reference_with_padding(update, align):
    model = make(update, align, seed=1)
    T = 7
    x = torch.randn(4, T, 3, dtype=torch.float64)
    lengths = torch.tensor([7, 7, 4, 6])
    # slot 0 hidden: step 0 sees nothing; {0, 1}: steps 0 and 1 see nothing;
    # a late slot; a slot past the sequence's length (never read).
    rows = [(0,), (0, 1, 4), (2,), (3, 7)]
    knockout = mask_of(T, *rows)
    with torch.no_grad():
        trace = model(x, lengths, knockout=knockout)
    params = params_of(model)
    for b, n in enumerate(lengths.tolist()):
        h, c, alpha = reference_run(params, x[b, :n].numpy(), update, align, hidden=set(rows[b]))
        assert np.abs(trace.h[b, : n + 1].numpy() - h).max() <= 1e-12
        if update == "eq1":
            assert trace.c is None and trace.alpha is None
            continue
        assert np.abs(trace.c[b, :n].numpy() - c).max() <= 1e-12
        assert np.abs(trace.alpha[b, :n, : n + 1].numpy() - alpha).max() <= 1e-12
        # exactly 0 at hidden slots, not merely small
        assert not trace.alpha[b, :, list(rows[b])].any()
    if update != "eq1":
        sums = trace.alpha.sum(-1)
        # a step that sees at least one slot sums to 1; one that sees none, to 0
        torch.testing.assert_close(sums[0, 1:], torch.ones(6, dtype=torch.float64))
        assert torch.equal(sums[1, :2], torch.zeros(2, dtype=torch.float64))
        assert torch.equal(trace.c[1, :2], torch.zeros(2, 4, dtype=torch.float64))


@pytest.mark.parametrize(("update", "align"), ATTENTION_COMBOS)
def test_every_mask_shape_gives_the_same_numbers(update, align):
    model = make(update, align, seed=2)
    x = torch.randn(3, 5, 3, dtype=torch.float64)
    slots = torch.tensor([False, True, False, True, False, False])
    with torch.no_grad():
        full = model(x, knockout=slots.expand(3, 6).clone())  # (B, T+1)
        row = model(x, knockout=slots[None])  # (1, T+1)
        flat = model(x, knockout=slots)  # (T+1,)
        alone = model(x[2], knockout=slots)  # unbatched (T, D) with (T+1,)
        plain = model(x)
    # The same computation with the mask broadcast or not: equal to rounding.
    for other in (row, flat):
        torch.testing.assert_close(other.h, full.h, rtol=0, atol=1e-14)
        torch.testing.assert_close(other.alpha, full.alpha, rtol=0, atol=1e-14)
    torch.testing.assert_close(alone.h, full.h[2], rtol=0, atol=1e-12)
    assert not torch.allclose(full.h, plain.h, atol=1e-6)  # the knockout did something


# Every shape that broadcasts to (B, T+1) = (3, 6) or, unbatched, to (T+1,) = (6,).
_BATCHED_SHAPES = [(6,), (1, 6), (3, 6), (3, 1), (1, 1), (1,), ()]
_UNBATCHED_SHAPES = [(6,), (1,), ()]


@pytest.mark.parametrize("kind", ["eq4/dot", "eq3/additive", "lstmn"])
def test_a_broadcastable_mask_means_the_mask_expanded(kind):
    torch.manual_seed(7)
    if kind == "lstmn":
        model = LSTMN(3, 4).double()
    else:
        update, align = kind.split("/")
        model = make(update, align, seed=7)
    x = torch.randn(3, 5, 3, dtype=torch.float64, requires_grad=True)
    generator = torch.Generator().manual_seed(1)
    for batched, shapes in ((True, _BATCHED_SHAPES), (False, _UNBATCHED_SHAPES)):
        xs = x if batched else x[1]
        target = (3, 6) if batched else (6,)
        for shape in shapes:
            for _ in range(3):
                mask = torch.rand(shape, generator=generator) < 0.4
                explicit = mask.expand(target).clone()  # the mask as the user means it
                got, want = model(xs, knockout=mask), model(xs, knockout=explicit)
                # The same computation (one row broadcast, or copied per sequence):
                # equal to rounding, forward and backward.
                torch.testing.assert_close(got.h, want.h, rtol=0, atol=1e-13)
                torch.testing.assert_close(got.alpha, want.alpha, rtol=0, atol=1e-13)
                (g,) = torch.autograd.grad(got.h.sum(), x)
                (g_want,) = torch.autograd.grad(want.h.sum(), x)
                torch.testing.assert_close(g, g_want, rtol=0, atol=1e-12)
                # and hidden slots get α = 0 exactly, per sequence
                rows = explicit if batched else explicit[None]
                alpha = got.alpha if batched else got.alpha[None]
                for b in range(rows.shape[0]):
                    assert not alpha[b][:, rows[b]].any()
    # a (3, 1) mask hides every slot of the sequences it marks: they attend to nothing
    with torch.no_grad():
        trace = model(x, knockout=torch.tensor([[True], [False], [False]]))
    assert not trace.alpha[0].any()
    torch.testing.assert_close(trace.alpha[1:].sum(-1), torch.ones(2, 5, dtype=torch.float64))


def test_hand_worked_knockout():
    # D = H = 1, x = (1, -1), eq4 dot with W_q = W_k = 1, A = [0.5, 1, 2], b = 0.
    # Step 0 reads only h_0 = 0, so c_0 = 0 and h_1 = tanh(1) = 0.7615941559557649
    # whatever is hidden.  Step 1 reads (h_0, h_1):
    #   hide h_1: α_1 = (1, 0), c_1 = h_0 = 0, h_2 = tanh(0.5·h_1 − 1) = −0.5505728129179853
    #   hide h_0: α_1 = (0, 1), c_1 = h_1,      h_2 = tanh(2.5·h_1 − 1) =  0.7182328915260194
    #   hide both: α_1 = (0, 0), c_1 = 0,       h_2 as with h_1 hidden.
    model = SelfAttentionRNN(1, 1, update="eq4", align="dot").double()
    with torch.no_grad():
        model.A.weight.copy_(torch.tensor([[0.5, 1.0, 2.0]]))
        model.A.bias.zero_()
        model.align.W_q.weight.fill_(1.0)
        model.align.W_k.weight.fill_(1.0)
    x = torch.tensor([[1.0], [-1.0]], dtype=torch.float64)
    h1 = 0.7615941559557649
    cases = {
        (1,): ([1.0, 0.0], 0.0, -0.5505728129179853),
        (0,): ([0.0, 1.0], h1, 0.7182328915260194),
        (0, 1): ([0.0, 0.0], 0.0, -0.5505728129179853),
    }
    for slots, (alpha_1, c_1, h_2) in cases.items():
        knockout = torch.zeros(3, dtype=torch.bool)
        knockout[list(slots)] = True
        trace = model(x, knockout=knockout)
        assert trace.h[:, 0].tolist() == pytest.approx([0.0, h1, h_2], abs=1e-12)
        assert trace.alpha[1, :2].tolist() == pytest.approx(alpha_1, abs=1e-12)
        assert trace.c[:, 0].tolist() == pytest.approx([0.0, c_1], abs=1e-12)
        step0 = 0.0 if 0 in slots else 1.0  # step 0 sees h_0 unless it is hidden
        assert trace.alpha[0].tolist() == [step0, 0.0, 0.0]


def test_eq1_accepts_a_mask_and_changes_nothing():
    model = make("eq1", seed=3)
    x = torch.randn(2, 5, 3, dtype=torch.float64)
    knockout = mask_of(5, (0, 2), (1,))
    # Bit for bit: eq1 has no attention, so the run with a mask is the same computation.
    assert torch.equal(model(x, knockout=knockout).h, model(x).h)
    with pytest.raises(ValueError, match="knockout must have shape"):
        model(x, knockout=torch.zeros(5, dtype=torch.bool))  # still checked


def test_a_mask_that_hides_nothing_is_the_plain_run():
    model = make("eq4", "additive", seed=4)
    x = torch.randn(2, 6, 3, dtype=torch.float64)
    # Bit for bit: a mask with no True is dropped, so this is the same computation.
    assert torch.equal(model(x, knockout=torch.zeros(7, dtype=torch.bool)).h, model(x).h)


def test_bad_knockout_is_a_clear_error():
    model = make()
    x = torch.randn(3, 4, 3, dtype=torch.float64)
    ok = torch.zeros(5, dtype=torch.bool)
    with pytest.raises(TypeError, match=r"knockout must be a bool torch\.Tensor.*got list"):
        model(x, knockout=[True, False, False, False, False])
    with pytest.raises(TypeError, match=r"bool tensor .*got dtype torch\.int64"):
        model(x, knockout=torch.zeros(5, dtype=torch.long))
    with pytest.raises(ValueError, match=r"\(B, T\+1\) = \(3, 5\).*broadcasts.*got \(4,\)"):
        model(x, knockout=torch.zeros(4, dtype=torch.bool))  # T, not T+1
    for shape in [(2, 5), (3, 1, 5), (5, 3), (1, 3, 5), (3, 4)]:  # none broadcasts to (3, 5)
        with pytest.raises(ValueError, match=rf"got \({', '.join(map(str, shape))}\)"):
            model(x, knockout=torch.zeros(shape, dtype=torch.bool))
    with pytest.raises(ValueError, match=r"must have shape \(T\+1,\) = \(5,\), one entry"):
        model(x[0], knockout=ok[None])  # unbatched x takes (T+1,) only
    with pytest.raises(ValueError, match=r"knockout is on meta but x is on cpu"):
        model(x, knockout=torch.zeros(5, dtype=torch.bool, device="meta"))


# -- gradients ----------------------------------------------------------------


@pytest.mark.parametrize(("update", "align"), ATTENTION_COMBOS)
def test_gradcheck_with_a_mask(update, align):
    torch.manual_seed(5)
    model = SelfAttentionRNN(2, 3, update=update, align=align, attn_size=2).double()
    x = torch.randn(3, 4, 2, dtype=torch.float64, requires_grad=True)
    # Row 0: step 0 sees nothing (slot 0 hidden).  Row 1: steps 0 and 1 see
    # nothing.  Row 2: a middle slot hidden.
    knockout = mask_of(4, (0,), (0, 1), (2,))
    names, params = zip(*model.named_parameters(), strict=True)

    def run(x, *weights):
        state = dict(zip(names, weights, strict=True))
        trace = torch.func.functional_call(model, state, (x,), {"knockout": knockout})
        return trace.h, trace.c, trace.alpha

    inputs = (x, *(p.detach().mul(1.3).add(0.1).requires_grad_() for p in params))
    assert torch.autograd.gradcheck(run, inputs)


def masked_autograd(model: SelfAttentionRNN, x: torch.Tensor, hidden: list[set[int]]):
    """The recurrence by plain autograd, each step's softmax taken over the visible
    slots picked out by index (no mask fill), zeros elsewhere."""
    B, T, _ = x.shape
    rows_h, rows_c, rows_a = [], [], []
    for b in range(B):
        hs, cs, alphas = [x.new_zeros(model.hidden_size)], [], []
        for t in range(T):
            visible = [i for i in range(t + 1) if i not in hidden[b]]
            alpha = x.new_zeros(T + 1)
            c = x.new_zeros(model.hidden_size)
            if visible:
                kq = model.align.key_query_weight()
                d = kq.shape[0] // 2
                states = torch.stack([hs[i] for i in visible])  # (|V|, H)
                scores = model.align.score((states @ kq[:d].T)[None], (hs[-1] @ kq[d:].T)[None])
                weights = torch.softmax(scores[0], -1)
                alpha = alpha.index_put((torch.tensor(visible),), weights)
                c = weights @ states
            parts = {"h": hs[-1], "x": x[b, t], "c": c}
            hs.append(torch.tanh(model.A(torch.cat([parts[n] for n, _ in model.z_layout]))))
            cs.append(c)
            alphas.append(alpha)
        rows_h.append(torch.stack(hs))
        rows_c.append(torch.stack(cs))
        rows_a.append(torch.stack(alphas))
    return torch.stack(rows_h), torch.stack(rows_c), torch.stack(rows_a)


@pytest.mark.parametrize(("update", "align"), ATTENTION_COMBOS)
def test_hand_written_backward_with_a_mask_equals_plain_autograd(update, align):
    model = make(update, align, seed=6)
    x = torch.randn(3, 6, 3, dtype=torch.float64, requires_grad=True)
    hidden = [{0}, {0, 1, 3}, {2, 5}]
    knockout = mask_of(6, *hidden)
    g = torch.Generator().manual_seed(2)
    weights = [torch.randn(s, generator=g, dtype=torch.float64) for s in ((3, 7, 4), (3, 6, 4))]
    weights.append(torch.randn(3, 6, 7, generator=g, dtype=torch.float64))

    def loss_of(h, c, alpha):  # upstream gradients on h, c and α alike
        return sum((v * w).sum() for v, w in zip((h, c, alpha), weights, strict=True))

    trace = model(x, knockout=knockout)
    wrt = [x, *model.parameters()]
    got = torch.autograd.grad(loss_of(trace.h, trace.c, trace.alpha), wrt)
    want = torch.autograd.grad(loss_of(*masked_autograd(model, x, hidden)), wrt)
    for a, b in zip(got, want, strict=True):
        assert bool(torch.isfinite(a).all())
        torch.testing.assert_close(a, b, rtol=0, atol=1e-12)


# -- the stepper ----------------------------------------------------------------


@pytest.mark.parametrize(("update", "align"), COMBOS)
def test_stepping_with_a_mask_equals_the_batched_run(update, align):
    model = make(update, align, seed=7)
    x = torch.randn(8, 3, dtype=torch.float64)
    for slots in ((0,), (1, 4), (0, 1, 2), (3, 20)):  # 20: beyond T, kept for later
        stepper = model.stepper(x, knockout=slots)
        assert stepper.knockout == slots
        stepper.goto(8)
        mask = torch.zeros(9, dtype=torch.bool)
        mask[[i for i in slots if i <= 8]] = True
        with torch.no_grad():
            want = model(x, knockout=mask)
        got = stepper.trace()
        torch.testing.assert_close(got.h, want.h, rtol=0, atol=1e-12)
        if update != "eq1":
            torch.testing.assert_close(got.alpha, want.alpha, rtol=0, atol=1e-12)
            torch.testing.assert_close(got.c, want.c, rtol=0, atol=1e-12)
            for s in stepper.steps:
                assert not s.alpha[[i for i in slots if i <= s.t]].any()


def test_records_keep_the_raw_scores_and_alpha_as_used():
    model = make("eq4", "additive", seed=8)
    x = torch.randn(5, 3, dtype=torch.float64)
    plain = model.stepper(x)
    plain.goto(5)
    masked = model.stepper(x, knockout=[2])
    masked.goto(5)
    s, p = masked.steps[2], plain.steps[2]  # the first step that reads slot 2
    # the history before step 2 is the same, so the raw scores are the same numbers
    torch.testing.assert_close(s.scores, p.scores, rtol=0, atol=1e-12)
    visible = p.scores[[0, 1]]
    want = torch.zeros(3, dtype=torch.float64)
    want[[0, 1]] = torch.softmax(visible, 0)  # the softmax over the visible slots
    torch.testing.assert_close(s.alpha, want, rtol=0, atol=1e-15)
    assert s.alpha[2] == 0.0


@pytest.mark.parametrize("update", ["eq3", "eq4"])
def test_set_knockout_drops_exactly_the_steps_it_affects(update):
    model = make(update, "dot", seed=9)
    x = torch.randn(9, 3, dtype=torch.float64)
    stepper = model.stepper(x)
    stepper.goto(9)
    stepper.goto(6)
    before = list(stepper.steps)
    stepper.set_knockout([4])  # step t reads slots 0 … t: steps 4 … 8 can change
    assert stepper.knockout == (4,)
    assert stepper.k == 6 and stepper.frontier == 6  # the position stays, as after an edit
    assert all(a is b for a, b in zip(stepper.steps[:4], before[:4], strict=True))
    assert all(a is not b for a, b in zip(stepper.steps[4:], before[4:6], strict=True))
    stepper.goto(9)
    with torch.no_grad():
        want = model(x, knockout=mask_of(9, (4,))[0])
    torch.testing.assert_close(stepper.trace().h, want.h, rtol=0, atol=1e-12)
    torch.testing.assert_close(stepper.trace().alpha, want.alpha, rtol=0, atol=1e-12)

    stepper.goto(3)
    stepper.set_knockout(torch.tensor([False, False, True, False, True]))  # add slot 2
    assert stepper.knockout == (2, 4) and stepper.k == 3 and stepper.frontier == 3
    kept = list(stepper.steps)
    assert kept[:2] == before[:2] and kept[2] is not before[2]  # steps 0, 1 kept; 2 redone
    stepper.set_knockout([2, 4])  # no change: nothing dropped
    assert all(a is b for a, b in zip(stepper.steps, kept, strict=True))
    stepper.set_knockout(None)  # un-hiding restores the plain run
    assert stepper.knockout == () and stepper.k == 3
    stepper.goto(9)
    with torch.no_grad():
        torch.testing.assert_close(stepper.trace().h, model(x).h, rtol=0, atol=1e-12)
    assert all(a is b for a, b in zip(stepper.steps[:2], before[:2], strict=True))


def test_a_hidden_slot_past_the_end_takes_effect_when_the_sequence_grows():
    model = make("eq4", "scaled_dot", seed=10)
    x = torch.randn(7, 3, dtype=torch.float64)
    stepper = model.stepper(knockout=[5, 9])
    for t in range(7):
        stepper.step(x[t])
    with torch.no_grad():
        want = model(x, knockout=mask_of(7, (5,))[0])
    torch.testing.assert_close(stepper.trace().h, want.h, rtol=0, atol=1e-12)
    assert stepper.knockout == (5, 9)
    stepper.set_knockout([5, 9, 12])  # beyond every computed step: nothing dropped
    assert stepper.frontier == 7


def test_eq1_stepper_keeps_its_steps_when_the_mask_changes():
    model = make("eq1", seed=11)
    stepper = model.stepper(torch.randn(5, 3, dtype=torch.float64))
    stepper.goto(5)
    before = list(stepper.steps)
    stepper.set_knockout([0, 2])
    assert stepper.knockout == (0, 2) and stepper.steps == before and stepper.k == 5


def test_set_knockout_refuses_stale_weights_before_changing_anything():
    model = make(seed=12)
    stepper = model.stepper(torch.randn(6, 3, dtype=torch.float64))
    stepper.goto(6)
    with torch.no_grad():
        model.A.bias.add_(0.1)
    with pytest.raises(WeightsChangedError, match=r"A\.bias"):
        stepper.set_knockout([3])
    assert stepper.knockout == () and stepper.frontier == 6 and stepper.k == 6


def test_bad_stepper_knockout_is_a_clear_error():
    model = make()
    stepper = model.stepper(torch.randn(4, 3, dtype=torch.float64))
    for bad, error, match in (
        ("12", TypeError, "iterable of slot indices or a 1-D bool tensor, got str"),
        (3, TypeError, "got int"),
        ([1.0], TypeError, r"slots must be ints, got 1\.0"),
        ([True], TypeError, "slots must be ints, got True"),
        ([-1], ValueError, "must be ≥ 0"),
        (torch.zeros(2, 3, dtype=torch.bool), ValueError, "must be 1-D"),
        (torch.tensor([0.5]), TypeError, "dtype torch.float32"),
    ):
        with pytest.raises(error, match=match):
            stepper.set_knockout(bad)
        with pytest.raises(error, match=match):
            model.stepper(knockout=bad)
    assert stepper.knockout == ()
    stepper.set_knockout(torch.tensor([3, 1, 3]))  # an int tensor holds indices
    assert stepper.knockout == (1, 3)
    stepper.set_knockout(np.array([2]))
    assert stepper.knockout == (2,)
