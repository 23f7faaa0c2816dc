"""The batched run split into two lanes, run side by side (issue #27).

Where torch may use two threads or more and the batch has at least
2·LANE_MIN_BATCH sequences, ``model(x)`` runs each half of the batch in its own
worker thread.  The halves are independent sequences, so the lanes must give
the numbers of the one-lane run: compared in float64 to 1e-12 (not bit for bit:
the matmuls run on other shapes, docs/design.md §5), forward and backward,
with padding and knockout.
"""

from __future__ import annotations

import pytest
import torch

import attn_widget.core.lanes as lanes_module
from attn_widget.core import SelfAttentionRNN

CASES = [
    ("eq4", "dot", None),
    ("eq4", "dot", False),
    ("eq4", "scaled_dot", None),
    ("eq3", "dot", None),
    ("eq4", "additive", None),
    ("eq1", "dot", None),
]


@pytest.fixture
def two_threads(monkeypatch):
    """Two intra-op threads, lanes on (they are off by default, ``lanes.ENABLED``)."""
    monkeypatch.setattr(lanes_module, "ENABLED", True)
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(before)


def test_lanes_are_off_by_default():
    assert lanes_module.lanes_of(torch.zeros(32, 4, 3)) == [(0, 32)]


def make(update, align, fold, seed=0):
    torch.manual_seed(seed)
    model = SelfAttentionRNN(3, 5, update=update, align=align).double()
    model.fold = fold
    return model


def one_lane(monkeypatch, fn):
    """fn() with the batched run kept in one lane."""
    with monkeypatch.context() as m:
        m.setattr(lanes_module, "LANE_MIN_BATCH", 10**9)
        return fn()


def test_lanes_are_chosen_by_batch_threads_and_device(two_threads):
    assert lanes_module.lanes_of(torch.zeros(17, 4, 3)) == [(0, 9), (9, 17)]
    assert lanes_module.lanes_of(torch.zeros(15, 4, 3)) == [(0, 15)]
    torch.set_num_threads(1)
    assert lanes_module.lanes_of(torch.zeros(32, 4, 3)) == [(0, 32)]


@pytest.mark.parametrize(("update", "align", "fold"), CASES)
@pytest.mark.parametrize("masked", [False, True])
def test_two_lanes_equal_one(two_threads, monkeypatch, update, align, fold, masked):
    model = make(update, align, fold, seed=1)
    B, T = 17, 7
    x = torch.randn(B, T, 3, dtype=torch.float64)
    lengths = torch.randint(1, T + 1, (B,))
    knockout = torch.rand(B, T + 1) < 0.3 if masked else None
    assert len(lanes_module.lanes_of(x)) == 2
    lanes = model(x, lengths, knockout=knockout)
    one = one_lane(monkeypatch, lambda: model(x, lengths, knockout=knockout))
    assert torch.allclose(lanes.h, one.h, rtol=0, atol=1e-12)
    assert (lanes.h[:, 1:] != 0).any()  # the lanes did run
    if one.alpha is not None:
        assert torch.allclose(lanes.alpha, one.alpha, rtol=0, atol=1e-12)
        assert torch.allclose(lanes.c, one.c, rtol=0, atol=1e-12)
    assert torch.get_num_threads() == 2  # the caller's thread count is untouched


@pytest.mark.parametrize(("update", "align", "fold"), CASES)
def test_two_lanes_give_the_gradients_of_one(two_threads, monkeypatch, update, align, fold):
    model = make(update, align, fold, seed=2)
    x = torch.randn(16, 6, 3, dtype=torch.float64, requires_grad=True)
    knockout = torch.zeros(1, 7, dtype=torch.bool)
    knockout[0, 2] = True

    def grads():
        model.zero_grad(set_to_none=True)
        x.grad = None
        trace = model(x, knockout=knockout)
        loss = (trace.h**2).sum() + (0 if trace.c is None else trace.c.sum())
        loss.backward()
        return [x.grad.clone()] + [p.grad.clone() for p in model.parameters()]

    lanes = grads()
    one = one_lane(monkeypatch, grads)
    for a, b in zip(lanes, one, strict=True):
        assert torch.allclose(a, b, rtol=0, atol=1e-12)
    assert lanes[0].abs().sum() > 0


def test_a_failing_lane_raises_in_the_caller(two_threads, monkeypatch):
    model = make("eq4", "dot", None)

    def failing(*args):
        raise RuntimeError("lane broke")

    monkeypatch.setattr(model, "_sweep", failing)
    with pytest.raises(RuntimeError, match="lane broke"):
        model(torch.randn(16, 4, 3, dtype=torch.float64))


def test_lanes_run_under_inference_mode(two_threads, monkeypatch):
    model = make("eq4", "dot", None, seed=3)
    x = torch.randn(16, 5, 3, dtype=torch.float64)
    with torch.inference_mode():  # buffers made here may only be written in this mode
        lanes = model(x)
    one = one_lane(monkeypatch, lambda: model(x))
    assert torch.allclose(lanes.h, one.h, rtol=0, atol=1e-12)
