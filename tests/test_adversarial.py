"""Hostile input to the widget's kernel side, fuzzed: whatever the front end sends,
the kernel never raises, and the widget stays consistent and correct.

Property-based (hypothesis): arbitrary custom messages and arbitrary ``set_state``
payloads, one after another on the same widget.  After each, the invariants of
docs/design.md §4 hold: the position is in 0 … T and is the stepper's; the
kernel-owned traits did not move; every message sent is one the protocol
knows; and every step sent carries the numbers ``model(x)`` computes.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import attn_widget.widget as widget_module
from attn_widget.core import SelfAttentionRNN
from attn_widget.protocol import decode_steps
from attn_widget.widget import AttentionWidget

T, D, H = 7, 3, 4

# JSON values the browser could send, hostile ones included.
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.sampled_from(["<img src=x onerror=alert(1)>", "\ud800", "t", "sync", "1e309"]),
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=8,
)
message_types = st.sampled_from(["sync", "sensitivity", "ping", "steps", "", "__proto__"])
custom_messages = st.one_of(
    json_values,
    st.fixed_dictionaries(
        {"type": message_types},
        optional={
            "version": st.one_of(st.integers(-2, 3), json_values),
            "have": st.one_of(st.integers(-3, T + 3), json_values),
            "k": st.one_of(st.integers(-3, T + 3), json_values),
        },
    ),
)
state_keys = st.sampled_from(
    ["t", "speed", "playing", "shading", "T", "tokens", "version", "frontier", "_snapshot",
     "comm", "foo", "__class__"]
)  # fmt: skip
state_values = st.one_of(
    st.integers(-3, T + 3),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(["alpha", "gradient", "heat", True, False]),
    json_values,
)
set_states = st.dictionaries(state_keys, state_values, max_size=4)
actions = st.lists(
    st.one_of(
        custom_messages.map(lambda m: ("msg", m)),
        set_states.map(lambda s: ("state", s)),
    ),
    min_size=1,
    max_size=6,
)


@pytest.fixture(scope="module", autouse=True)
def _no_built_front_end():
    """The kernel side under test does not need the built bundle."""
    real = widget_module._bundle  # noqa: SLF001
    widget_module._bundle = lambda: ("export default {};", "")  # noqa: SLF001
    yield
    widget_module._bundle = real  # noqa: SLF001


def _widget():
    torch.manual_seed(0)
    model = SelfAttentionRNN(D, H)
    x = torch.randn(T, D)
    w = AttentionWidget(model, tokens=[f"w{i}" for i in range(1, T + 1)], inputs=x)
    sent = []
    w.send = lambda content, buffers=None: sent.append((content, list(buffers or [])))
    return w, model, x, sent


def _check_invariants(w, model, x, sent, owned_before):
    assert 0 <= w.t <= w.T == T
    assert w.stepper.k == w.t and w.frontier == w.stepper.frontier >= w.t
    assert {name: getattr(w, name) for name in owned_before} == owned_before
    assert w.speed == w.speed and w.MIN_SPEED <= w.speed <= w.MAX_SPEED  # never NaN
    assert w.shading in w.SHADINGS
    with torch.no_grad():
        trace = model(x)
    for content, buffers in sent:
        assert isinstance(content, dict)
        assert content.get("type") in {"steps", "error", "pong", "sensitivity"}, content
        if content["type"] == "error":
            assert isinstance(content["message"], str) and content["message"]
        if content["type"] == "steps":
            for step in decode_steps(content["steps"], buffers):
                t = step["t"]
                assert 0 <= t < T
                np.testing.assert_allclose(step["h"], trace.h[t + 1].numpy(), rtol=1e-5, atol=1e-6)
                np.testing.assert_allclose(
                    step["alpha"], trace.alpha[t, : t + 1].numpy(), rtol=1e-5, atol=1e-6
                )


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(actions)
def test_no_front_end_message_raises_or_leaves_the_widget_inconsistent(sequence):
    w, model, x, sent = _widget()
    owned = ("T", "tokens", "version", "update_rule", "align_name", "hidden_size", "input_size")
    owned_before = {name: getattr(w, name) for name in owned}
    for kind, payload in sequence:
        if kind == "msg":
            w._on_custom_msg(w, payload, [])  # noqa: SLF001
        else:
            w.set_state(payload)
        _check_invariants(w, model, x, sent, owned_before)
