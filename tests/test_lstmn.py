"""LSTMN against an independent numpy re-implementation of the paper's equations."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from attn_widget.core import LSTMN, LSTMNStep, WeightsChangedError


def _sigmoid(v):
    return 1 / (1 + np.exp(-v))


def reference_lstmn(model: LSTMN, x: np.ndarray):
    get = lambda layer: layer.weight.detach().numpy()  # noqa: E731
    W_h, W_x, W_ht, v, W = map(get, (model.W_h, model.W_x, model.W_h_tilde, model.v, model.W))
    b = model.W.bias.detach().numpy()
    H = model.hidden_size
    h, m, h_tilde, alphas = [np.zeros(H)], [np.zeros(H)], np.zeros(H), []
    for t in range(len(x)):
        a = np.array(
            [(v @ np.tanh(W_h @ h[i] + W_x @ x[t] + W_ht @ h_tilde))[0] for i in range(t + 1)]
        )
        alpha = np.exp(a - a.max()) / np.exp(a - a.max()).sum()
        h_tilde = sum(alpha[i] * h[i] for i in range(t + 1))
        m_tilde = sum(alpha[i] * m[i] for i in range(t + 1))
        gates = W @ np.concatenate([h_tilde, x[t]]) + b
        i_g, f_g, o_g = (
            _sigmoid(gates[:H]),
            _sigmoid(gates[H : 2 * H]),
            _sigmoid(gates[2 * H : 3 * H]),
        )
        m.append(f_g * m_tilde + i_g * np.tanh(gates[3 * H :]))
        h.append(o_g * np.tanh(m[-1]))
        alphas.append(np.pad(alpha, (0, len(x) - t)))
    return np.stack(h), np.stack(m), np.stack(alphas)


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


def make_lstmn(seed: int = 0, D: int = 3, H: int = 4, d: int = 5) -> LSTMN:
    torch.manual_seed(seed)
    model = LSTMN(D, H, attn_size=d).double()
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
