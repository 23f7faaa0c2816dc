"""LSTMN against an independent numpy re-implementation of the paper's equations."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from attn_widget.core import LSTMN


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
    assert torch.equal(model(x).h, model(x[None]).h[0])


def test_lstmn_bad_input():
    with pytest.raises(ValueError, match=r"D = input_size = 2, got shape \(4, 3\)"):
        LSTMN(2, 3)(torch.randn(4, 3))
