"""An independent numpy implementation of the equations, written from docs/design.md §1.

It shares no code with attn_widget.core: it builds z by hand, scores every
past state directly from the full weight matrices (no key cache, no split of
W), and loops over i explicitly.
"""

from __future__ import annotations

import numpy as np


def _softmax(s: np.ndarray) -> np.ndarray:
    e = np.exp(s - s.max())
    return e / e.sum()


def reference_run(params: dict, x: np.ndarray, update: str, align: str, hidden=()):
    """x (T, D) -> h (T+1, H), c (T, H) or None, alpha (T, T+1) or None.

    ``hidden``: slot indices knocked out (docs/design.md §3).  Each step scores
    only the visible slots and takes the softmax over them; a step that can
    see none reads nothing (α_t = 0, c_t = 0)."""
    A, b = params["A"], params["b"]
    T = x.shape[0]
    H = b.shape[0]
    h = [np.zeros(H)]
    cs, alphas = [], []
    for t in range(T):
        h_t, x_next = h[t], x[t]
        c_t = None
        if update != "eq1":
            visible = [i for i in range(t + 1) if i not in hidden]
            scores = []
            for i in visible:
                if align == "additive":
                    score = params["v"] @ np.tanh(params["W"] @ np.concatenate([h[i], h_t]))
                    scores.append(float(score[0]) if np.ndim(score) else float(score))
                else:
                    k_i = params["W_k"] @ h[i]
                    q_t = params["W_q"] @ h_t
                    score = k_i @ q_t
                    if align == "scaled_dot":
                        score = score / np.sqrt(params["W_k"].shape[0])
                    scores.append(float(score))
            alpha = _softmax(np.array(scores)) if visible else np.zeros(0)
            c_t = sum((a * h[i] for a, i in zip(alpha, visible, strict=True)), np.zeros(H))
            row = np.zeros(T + 1)
            row[visible] = alpha
            alphas.append(row)
            cs.append(c_t)
        if update == "eq1":
            z = np.concatenate([h_t, x_next])
        elif update == "eq3":
            z = np.concatenate([x_next, c_t])
        else:
            z = np.concatenate([h_t, x_next, c_t])
        h.append(np.tanh(A @ z + b))
    if update == "eq1":
        return np.stack(h), None, None
    return np.stack(h), np.stack(cs), np.stack(alphas)


def params_of(model) -> dict:
    """The model's weights as float64 numpy arrays, read through the docs/design.md §3 names."""
    as_np = lambda p: p.detach().double().cpu().numpy()  # noqa: E731
    params = {"A": as_np(model.A.weight), "b": as_np(model.A.bias)}
    if model.align is not None:
        if model.align_name == "additive":
            params["W"] = as_np(model.align.W.weight)
            params["v"] = as_np(model.align.v.weight)
        else:
            params["W_q"] = as_np(model.align.W_q.weight)
            params["W_k"] = as_np(model.align.W_k.weight)
    return params
