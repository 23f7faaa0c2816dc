"""LSTMN against an independent numpy re-implementation of the paper's equations."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from attn_widget.core import LSTMN, LSTMNStep, WeightsChangedError


def _sigmoid(v):
    return 1 / (1 + np.exp(-v))


def reference_lstmn(model: LSTMN, x: np.ndarray, hidden=()):
    """h, m (T+1, H) and α (T, T+1) in the module's indexing, slot i being h_i.

    ``hidden``: slots knocked out; with ``model.zero_slot`` False slot 0 is never
    read.  A step that can read no slot has h̃ = m̃ = 0."""
    get = lambda layer: layer.weight.detach().numpy()  # noqa: E731
    W_h, W_x, W_ht, v, W = map(get, (model.W_h, model.W_x, model.W_h_tilde, model.v, model.W))
    b = model.W.bias.detach().numpy()
    H = model.hidden_size
    first = 0 if model.zero_slot else 1
    h, m, h_tilde, alphas = [np.zeros(H)], [np.zeros(H)], np.zeros(H), []
    for t in range(len(x)):
        visible = [i for i in range(first, t + 1) if i not in hidden]
        a = np.array([(v @ np.tanh(W_h @ h[i] + W_x @ x[t] + W_ht @ h_tilde))[0] for i in visible])
        alpha = np.exp(a - a.max()) / np.exp(a - a.max()).sum() if visible else a
        h_tilde = sum((w * h[i] for w, i in zip(alpha, visible, strict=True)), np.zeros(H))
        m_tilde = sum((w * m[i] for w, i in zip(alpha, visible, strict=True)), np.zeros(H))
        gates = W @ np.concatenate([h_tilde, x[t]]) + b
        i_g, f_g, o_g = (
            _sigmoid(gates[:H]),
            _sigmoid(gates[H : 2 * H]),
            _sigmoid(gates[2 * H : 3 * H]),
        )
        m.append(f_g * m_tilde + i_g * np.tanh(gates[3 * H :]))
        h.append(o_g * np.tanh(m[-1]))
        row = np.zeros(len(x) + 1)
        row[visible] = alpha
        alphas.append(row)
    return np.stack(h), np.stack(m), np.stack(alphas)


def paper_lstmn(model: LSTMN, x: np.ndarray):
    """Cheng, Dong & Lapata (2016, §3.1) in the paper's own indexing, t = 1 … T:
    the tapes hold h_1 … h_{t-1} and c_1 … c_{t-1} (no zero slot), h̃_0 = 0,

        a_i^t = v·tanh(W_h h_i + W_x x_t + W_h̃ h̃_{t-1})      i = 1 … t-1
        s^t = softmax(a^t);   [h̃_t; c̃_t] = Σ_i s_i^t [h_i; c_i]   (0 for the empty tape)
        [i; f; o; ĉ] = [σ; σ; σ; tanh](W·[h̃_t; x_t] + b)
        c_t = f ⊙ c̃_t + i ⊙ ĉ_t,   h_t = o ⊙ tanh(c_t)

    Returns h_1 … h_T, c_1 … c_T (T, H) and the list of s^t, (t-1,) each."""
    get = lambda layer: layer.weight.detach().numpy()  # noqa: E731
    W_h, W_x, W_ht, v, W = map(get, (model.W_h, model.W_x, model.W_h_tilde, model.v, model.W))
    b = model.W.bias.detach().numpy()
    H = model.hidden_size
    hs, cs, ss, h_tilde = [], [], [], np.zeros(H)
    for x_t in x:
        if hs:
            a = np.array([(v @ np.tanh(W_h @ h_i + W_x @ x_t + W_ht @ h_tilde))[0] for h_i in hs])
            s = np.exp(a - a.max()) / np.exp(a - a.max()).sum()
            h_tilde, c_tilde = s @ np.stack(hs), s @ np.stack(cs)
        else:  # the first token: nothing on the tapes yet
            s, h_tilde, c_tilde = np.zeros(0), np.zeros(H), np.zeros(H)
        gates = W @ np.concatenate([h_tilde, x_t]) + b
        i_g, f_g, o_g = (_sigmoid(gates[k * H : (k + 1) * H]) for k in range(3))
        cs.append(f_g * c_tilde + i_g * np.tanh(gates[3 * H :]))
        hs.append(o_g * np.tanh(cs[-1]))
        ss.append(s)
    return np.stack(hs), np.stack(cs), ss


def test_lstmn_matches_the_paper_equations():
    torch.manual_seed(0)
    model = LSTMN(3, 4, attn_size=5).double()
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(2.0)
    x = torch.randn(2, 7, 3, dtype=torch.float64)
    with torch.no_grad():
        trace = model(x)
    for b in range(2):
        h, m, alpha = reference_lstmn(model, x[b].numpy())
        assert np.abs(trace.h[b].numpy() - h).max() <= 1e-10
        assert np.abs(trace.m[b].numpy() - m).max() <= 1e-10
        assert np.abs(trace.alpha[b].numpy() - alpha).max() <= 1e-10
    assert torch.allclose(trace.alpha.sum(-1), torch.ones(2, 7, dtype=torch.float64))
    assert torch.allclose(trace.h_tilde, trace.alpha @ trace.h, atol=1e-12)
    assert torch.allclose(trace.m_tilde, trace.alpha @ trace.m, atol=1e-12)


def test_lstmn_gradcheck_and_unbatched():
    torch.manual_seed(1)
    model = LSTMN(2, 3).double()
    x = torch.randn(4, 2, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x: (model(x).h, model(x).alpha), (x,))
    # Bit for bit: unbatched input runs as a batch of one, the same computation.
    assert torch.equal(model(x).h, model(x[None]).h[0])


def test_lstmn_bad_input():
    with pytest.raises(ValueError, match=r"D = input_size = 2, got shape \(4, 3\)"):
        LSTMN(2, 3)(torch.randn(4, 3))


# -- stepping -----------------------------------------------------------------


def make_lstmn(seed: int = 0, D: int = 3, H: int = 4, d: int = 5, zero_slot=True) -> LSTMN:
    torch.manual_seed(seed)
    model = LSTMN(D, H, attn_size=d, zero_slot=zero_slot).double()
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(2.0)  # saturate some gates, so that a wrong gate shows
    return model


def test_stepping_equals_the_batched_run_and_the_paper():
    model = make_lstmn()
    x = torch.randn(9, 3, dtype=torch.float64)
    stepper = model.stepper(x)
    stepper.goto(9)
    stepped = stepper.trace()
    with torch.no_grad():
        batched = model(x)
    for name in ("h", "m", "alpha", "h_tilde", "m_tilde"):
        torch.testing.assert_close(
            getattr(stepped, name), getattr(batched, name), rtol=0, atol=1e-12
        )
    h, m, alpha = reference_lstmn(model, x.numpy())
    assert np.abs(stepped.h.numpy() - h).max() <= 1e-10
    assert np.abs(stepped.m.numpy() - m).max() <= 1e-10
    assert np.abs(stepped.alpha.numpy() - alpha).max() <= 1e-10


def test_step_record_holds_the_tensors_of_the_equations():
    model = make_lstmn(seed=3)
    x = torch.randn(6, 3, dtype=torch.float64)
    stepper = model.stepper(x)
    H = model.hidden_size
    W_h, W_x, W_ht, v = (layer.weight for layer in (model.W_h, model.W_x, model.W_h_tilde, model.v))
    h_tilde_prev = torch.zeros(H, dtype=torch.float64)
    for t in range(6):
        s = stepper.step()
        assert isinstance(s, LSTMNStep) and s.t == t and torch.equal(s.x, x[t])
        h_tape = stepper.trace().h[: t + 1]  # h_0 … h_t, before this step's slot
        m_tape = torch.cat(
            [torch.zeros(1, H, dtype=torch.float64), *(r.m[None] for r in stepper.steps[:t])]
        )
        want_scores = torch.stack(
            [(v @ torch.tanh(W_h @ h_i + W_x @ x[t] + W_ht @ h_tilde_prev))[0] for h_i in h_tape]
        )
        torch.testing.assert_close(s.scores, want_scores, rtol=0, atol=1e-12)
        # Each equation recomputed from the record, on other shapes than the model's
        # batch: two computations, equal to float64 rounding (docs/design.md §5).
        torch.testing.assert_close(s.alpha, torch.softmax(s.scores, 0), rtol=0, atol=1e-15)
        torch.testing.assert_close(s.h_tilde, s.alpha @ h_tape, rtol=0, atol=1e-14)
        torch.testing.assert_close(s.m_tilde, s.alpha @ m_tape, rtol=0, atol=1e-14)
        gates = model.W.weight @ torch.cat([s.h_tilde, x[t]]) + model.W.bias
        torch.testing.assert_close(s.i, torch.sigmoid(gates[:H]), rtol=0, atol=1e-14)
        torch.testing.assert_close(s.f, torch.sigmoid(gates[H : 2 * H]), rtol=0, atol=1e-14)
        torch.testing.assert_close(s.o, torch.sigmoid(gates[2 * H : 3 * H]), rtol=0, atol=1e-14)
        torch.testing.assert_close(s.c_hat, torch.tanh(gates[3 * H :]), rtol=0, atol=1e-14)
        torch.testing.assert_close(s.m, s.f * s.m_tilde + s.i * s.c_hat, rtol=0, atol=1e-15)
        torch.testing.assert_close(s.h, s.o * torch.tanh(s.m), rtol=0, atol=1e-15)
        h_tilde_prev = s.h_tilde


def test_what_if_input_recomputes_later_steps_only_and_moves_reuse_steps():
    model = make_lstmn(seed=5)
    x = torch.randn(7, 3, dtype=torch.float64)
    stepper = model.stepper(x)
    stepper.goto(7)
    before = list(stepper.steps)
    stepper.goto(2)
    assert stepper.steps == before  # moving back recomputes nothing
    new = torch.randn(3, dtype=torch.float64)
    s = stepper.step(new)  # replaces x_3
    assert s.t == 2 and torch.equal(s.x, new) and stepper.frontier == 3
    assert all(a is b for a, b in zip(stepper.steps[:2], before[:2], strict=False))
    stepper.goto(7)
    y = x.clone()
    y[2] = new
    with torch.no_grad():
        want = model(y)
    torch.testing.assert_close(stepper.trace().h, want.h, rtol=0, atol=1e-12)
    torch.testing.assert_close(stepper.trace().alpha, want.alpha, rtol=0, atol=1e-12)
    assert not torch.equal(stepper.steps[6].h, before[6].h)


def test_inputs_fed_one_by_one_equal_the_batched_run():
    model = make_lstmn(seed=6)
    x = torch.randn(5, 3, dtype=torch.float64)
    stepper = model.stepper()
    for t in range(5):
        stepper.step(x[t])
    with torch.no_grad():
        torch.testing.assert_close(stepper.trace().m, model(x).m, rtol=0, atol=1e-12)
    with pytest.raises(ValueError, match="cannot step past the end"):
        stepper.step()


def test_a_weight_change_mid_sequence_is_refused():
    model = make_lstmn(seed=7)
    stepper = model.stepper(torch.randn(4, 3, dtype=torch.float64))
    stepper.goto(2)
    with torch.no_grad():
        model.W_h.weight.mul_(2.0)
    with pytest.raises(WeightsChangedError, match=r"W_h\.weight"):
        stepper.step()
    stepper.truncate(0)
    stepper.goto(4)  # recomputed with the new weights
    with torch.no_grad():
        torch.testing.assert_close(stepper.trace().h, model(stepper.x).h, rtol=0, atol=1e-12)


def test_nan_weights_and_bad_steps_are_clear_errors():
    model = make_lstmn(seed=8)
    with pytest.raises(ValueError, match=r"x_next must have shape \(D,\)|shape"):
        model.stepper(torch.randn(3, 3, dtype=torch.float64)).step(
            torch.randn(2, dtype=torch.float64)
        )
    with torch.no_grad():
        model.W.bias[0] = float("nan")
    with pytest.raises(ValueError, match=r"W\.bias contains NaN"):
        model.stepper(torch.randn(3, 3, dtype=torch.float64)).step()
    with pytest.raises(ValueError, match=r"W\.bias contains NaN"):
        model(torch.randn(3, 3, dtype=torch.float64))


def test_a_padded_batch_equals_each_sequence_alone():
    model = make_lstmn(seed=9)
    x = torch.randn(3, 6, 3, dtype=torch.float64)
    lengths = torch.tensor([6, 2, 4])
    with torch.no_grad():
        batch = model(x, lengths)
        for b, n in enumerate(lengths.tolist()):
            alone = model(x[b, :n])
            torch.testing.assert_close(batch.h[b, : n + 1], alone.h, rtol=0, atol=1e-12)
            torch.testing.assert_close(batch.m[b, : n + 1], alone.m, rtol=0, atol=1e-12)
            torch.testing.assert_close(batch.alpha[b, :n, : n + 1], alone.alpha, rtol=0, atol=1e-12)
            assert not batch.h[b, n + 1 :].any() and not batch.alpha[b, n:].any()
    assert torch.equal(batch.lengths, lengths)
    with pytest.raises(ValueError, match=r"every length must be in 1 … T = 6"):
        model(x, torch.tensor([6, 0, 4]))


def test_a_text_model_holds_an_lstmn_and_saves_it():
    from attn_widget.checkpoint import load_checkpoint, save_checkpoint
    from attn_widget.text import TextRNN, Vocab, word_tokenize

    torch.manual_seed(0)
    vocab = Vocab(word_tokenize("the keys to the cabinet are here"))
    model = TextRNN(vocab, 4, 6, update="lstmn", n_outputs=2)
    assert isinstance(model.rnn, LSTMN) and model.config()["update"] == "lstmn"
    tokens, stepper = model.stepper("the keys are here")
    stepper.goto(4)
    ids = torch.tensor(vocab.encode(tokens))
    with torch.no_grad():
        trace, logits = model(ids)
        torch.testing.assert_close(stepper.trace().h, trace.h)
        # the head applied again, outside the model's forward: equal to rounding
        torch.testing.assert_close(logits, model.out(trace.h[1:]), rtol=1e-6, atol=1e-6)

    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as tmp:
        path = save_checkpoint(model, Path(tmp) / "lstmn.pt")
        again = load_checkpoint(path)
    assert isinstance(again.rnn, LSTMN)
    with torch.no_grad():
        assert torch.equal(again(ids)[1], logits)  # reloaded, the same computation


def test_records_are_copies_and_bad_sizes_are_refused():
    model = make_lstmn(seed=10)
    x = torch.randn(5, 3, dtype=torch.float64)
    stepper = model.stepper(x)
    stepper.step().h.zero_()  # a caller scribbles on a record
    stepper.steps[0].x.zero_()
    stepper.goto(5)
    with torch.no_grad():
        want = model(x)
    torch.testing.assert_close(stepper.trace().h[2:], want.h[2:], rtol=0, atol=1e-12)
    assert not torch.equal(stepper.x[0], torch.zeros(3, dtype=torch.float64))
    for bad in ({"input_size": 0}, {"hidden_size": True}, {"attn_size": 0}, {"input_size": 3.0}):
        args = {"input_size": 3, "hidden_size": 4, **bad}
        with pytest.raises(ValueError, match="must be a positive int"):
            LSTMN(**args)


def test_last_gives_each_sequences_own_final_state():
    model = make_lstmn(seed=11)
    x = torch.randn(2, 5, 3, dtype=torch.float64)
    with torch.no_grad():
        trace = model(x, torch.tensor([5, 2]))
        torch.testing.assert_close(trace.last()[1], model(x[1, :2]).h[-1])
        torch.testing.assert_close(trace.last()[0], trace.h[0, -1])


# -- the zero slot, and knockout ------------------------------------------------


def test_without_the_zero_slot_the_cell_is_the_papers():
    model = make_lstmn(seed=12, zero_slot=False)
    x = torch.randn(2, 6, 3, dtype=torch.float64)
    with torch.no_grad():
        trace = model(x)
    for b in range(2):
        h, c, ss = paper_lstmn(model, x[b].numpy())
        assert np.abs(trace.h[b, 1:].numpy() - h).max() <= 1e-10
        assert np.abs(trace.m[b, 1:].numpy() - c).max() <= 1e-10
        for t, s in enumerate(ss):  # the paper's s^{t+1} is our row t, slots 1 … t
            assert np.abs(trace.alpha[b, t, 1 : t + 1].numpy() - s).max(initial=0) <= 1e-10
    # Slot 0 stays in the traces, with every shape as with the slot, but is never read.
    assert trace.h.shape == (2, 7, 4) and trace.alpha.shape == (2, 6, 7)
    assert not trace.h[:, 0].any() and not trace.alpha[:, :, 0].any()
    assert not trace.alpha[:, 0].any()  # step 0 reads nothing
    assert not trace.h_tilde[:, 0].any() and not trace.m_tilde[:, 0].any()
    torch.testing.assert_close(trace.alpha[:, 1:].sum(-1), torch.ones(2, 5, dtype=torch.float64))
    assert "zero_slot=False" in repr(model)


def test_the_zero_slot_leaves_step_0_alone_and_shrinks_both_summaries():
    paper = make_lstmn(seed=13, zero_slot=False)
    slot = make_lstmn(seed=13)  # the same weights, with the zero slot
    x = torch.randn(4, 3, dtype=torch.float64)
    with torch.no_grad():
        off, on = paper(x), slot(x)
    # Step 0: attending to the zero slot alone gives what the empty tape gives.
    torch.testing.assert_close(on.h[1], off.h[1], rtol=0, atol=1e-15)
    torch.testing.assert_close(on.m[1], off.m[1], rtol=0, atol=1e-15)
    assert on.alpha[0, 0] == 1.0 and off.alpha[0, 0] == 0.0
    # Step 1 reads the same tapes both ways; the zero slot takes α_{1,0} of the
    # weight and adds nothing, so both summaries shrink by 1 − α_{1,0}.
    share = on.alpha[1, 0]
    assert 0.05 < share < 0.95  # a share large enough for the check to mean something
    torch.testing.assert_close(
        on.alpha[1, 1:2], (1 - share) * off.alpha[1, 1:2], atol=1e-15, rtol=0
    )
    torch.testing.assert_close(on.h_tilde[1], (1 - share) * off.h_tilde[1], atol=1e-14, rtol=0)
    torch.testing.assert_close(on.m_tilde[1], (1 - share) * off.m_tilde[1], atol=1e-14, rtol=0)
    assert not torch.allclose(on.h[2], off.h[2], atol=1e-6)
    # At every step: the summaries are those of slots 1 … t alone, shrunk by 1 − α_{t,0}.
    stepper = slot.stepper(x)
    stepper.goto(4)
    for r in stepper.steps[1:]:
        n = r.t + 1
        w = torch.softmax(r.scores[1:], 0)  # the weights without the zero slot
        shrink = 1 - r.alpha[0]
        torch.testing.assert_close(r.h_tilde, shrink * (w @ on.h[1:n]), atol=1e-14, rtol=0)
        torch.testing.assert_close(r.m_tilde, shrink * (w @ on.m[1:n]), atol=1e-14, rtol=0)


@pytest.mark.parametrize("zero_slot", [True, False])
def test_knockout_matches_the_reference(zero_slot):
    model = make_lstmn(seed=14, zero_slot=zero_slot)
    T = 6
    x = torch.randn(3, T, 3, dtype=torch.float64)
    rows = [(0,), (0, 1, 3), (2, 5)]  # step 0, and in row 1 step 1 too, see no slot
    knockout = torch.zeros(3, T + 1, dtype=torch.bool)
    for b, slots in enumerate(rows):
        knockout[b, list(slots)] = True
    with torch.no_grad():
        trace = model(x, knockout=knockout)
        plain = model(x)
    for b in range(3):
        h, m, alpha = reference_lstmn(model, x[b].numpy(), hidden=set(rows[b]))
        assert np.abs(trace.h[b].numpy() - h).max() <= 1e-10
        assert np.abs(trace.m[b].numpy() - m).max() <= 1e-10
        assert np.abs(trace.alpha[b].numpy() - alpha).max() <= 1e-10
        assert not trace.alpha[b, :, list(rows[b])].any()  # exactly 0
    # A step that sees nothing: h̃ = m̃ = 0, so m_{t+1} = i ⊙ ĉ (the gates unchanged).
    assert not trace.alpha[1, 1].any() and not trace.m_tilde[1, 1].any()
    assert not trace.h_tilde[1, 1].any()
    assert not torch.allclose(trace.h, plain.h, atol=1e-6)


def test_gradcheck_with_a_mask_and_without_the_zero_slot():
    torch.manual_seed(15)
    x = torch.randn(2, 4, 2, dtype=torch.float64, requires_grad=True)
    knockout = torch.tensor([[True, False, False, False, False], [False, True, False, True, False]])
    for zero_slot in (True, False):
        model = LSTMN(2, 3, zero_slot=zero_slot).double()

        def run(x, model=model):
            trace = model(x, knockout=knockout)
            return trace.h, trace.m, trace.alpha

        assert torch.autograd.gradcheck(run, (x,))
        loss = sum(v.sum() for v in run(x))
        grads = torch.autograd.grad(loss, list(model.parameters()))
        assert all(bool(torch.isfinite(g).all()) for g in grads)


@pytest.mark.parametrize("zero_slot", [True, False])
def test_stepping_with_a_mask_equals_the_batched_run(zero_slot):
    model = make_lstmn(seed=16, zero_slot=zero_slot)
    x = torch.randn(7, 3, dtype=torch.float64)
    stepper = model.stepper(x, knockout=[0, 3])
    stepper.goto(7)
    mask = torch.zeros(8, dtype=torch.bool)
    mask[[0, 3]] = True
    with torch.no_grad():
        want = model(x, knockout=mask)
    for name in ("h", "m", "alpha", "h_tilde", "m_tilde"):
        torch.testing.assert_close(
            getattr(stepper.trace(), name), getattr(want, name), rtol=0, atol=1e-12
        )
    for s in stepper.steps:  # α as used, with t+1 entries; scores stay raw
        assert s.alpha.shape == (s.t + 1,) and s.alpha[0] == 0.0
        assert s.scores.shape == (s.t + 1,)
    # Un-hiding slot 3 drops steps 3 … and keeps the rest; the position stays.
    stepper.goto(5)
    before = list(stepper.steps)
    stepper.set_knockout([0])
    assert stepper.k == 5 and all(a is b for a, b in zip(stepper.steps[:3], before, strict=False))
    assert stepper.steps[3] is not before[3]
    stepper.goto(7)
    mask[3] = False
    with torch.no_grad():
        torch.testing.assert_close(stepper.trace().m, model(x, knockout=mask).m, rtol=0, atol=1e-12)


def test_plain_stepping_without_the_zero_slot_has_t_plus_1_weights():
    model = make_lstmn(seed=17, zero_slot=False)
    x = torch.randn(4, 3, dtype=torch.float64)
    stepper = model.stepper(x)
    steps = [stepper.step() for _ in range(4)]
    assert [s.alpha.shape[0] for s in steps] == [1, 2, 3, 4]
    assert not steps[0].alpha.any() and all(s.alpha[0] == 0.0 for s in steps)
    with torch.no_grad():
        torch.testing.assert_close(stepper.trace().alpha, model(x).alpha, rtol=0, atol=1e-12)
    h, _, _ = paper_lstmn(model, x.numpy())
    assert np.abs(stepper.trace().h[1:].numpy() - h).max() <= 1e-10
    stepper.set_knockout([0])  # slot 0 is never read here: no step changes, none dropped
    assert stepper.knockout == (0,) and stepper.steps == steps
    stepper.set_knockout([0, 2])
    assert (
        stepper.steps[:2] == steps[:2]
        and stepper.frontier == 4
        and stepper.steps[2] is not steps[2]
    )


def test_zero_slot_round_trips_through_config_and_checkpoints(tmp_path):
    from attn_widget.checkpoint import load_checkpoint, save_checkpoint
    from attn_widget.text import TextRNN, Vocab, word_tokenize

    torch.manual_seed(0)
    vocab = Vocab(word_tokenize("the keys to the cabinet are here"))
    model = TextRNN(vocab, 4, 6, update="lstmn", n_outputs=2, zero_slot=False)
    assert model.config()["zero_slot"] is False and model.rnn.zero_slot is False
    ids = torch.tensor(vocab.encode(word_tokenize("the keys are here")))
    again = load_checkpoint(save_checkpoint(model, tmp_path / "paper.pt"))
    assert again.rnn.zero_slot is False
    with torch.no_grad():
        assert torch.equal(again(ids)[1], model(ids)[1])  # reloaded, the same computation
    # A checkpoint saved before the option existed has no key: it loads as it ran then.
    blob = torch.load(tmp_path / "paper.pt", weights_only=True)
    del blob["config"]["zero_slot"]
    torch.save(blob, tmp_path / "old.pt")
    assert load_checkpoint(tmp_path / "old.pt").rnn.zero_slot is True
    assert "zero_slot" not in TextRNN(vocab, 4, 6, update="eq4").config()
    with pytest.raises(ValueError, match="zero_slot is the LSTMN's option"):
        TextRNN(vocab, 4, 6, update="eq4", zero_slot=False)
    with pytest.raises(TypeError, match="zero_slot must be True or False"):
        LSTMN(3, 4, zero_slot=1)
    # The text model passes a knockout through to its recurrent model.
    hide = torch.tensor([False, True, False, False, False])
    with torch.no_grad():
        torch.testing.assert_close(
            model(ids, knockout=hide)[0].h, model.rnn(model.embed(ids), knockout=hide).h
        )
    _, stepper = model.stepper("the keys are here", knockout=[1])
    assert stepper.knockout == (1,)
