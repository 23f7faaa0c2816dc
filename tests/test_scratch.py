"""The scratch a no-grad run leaves for the next (docs/design.md §1, "Scratch").

``SelfAttentionRNN`` keeps its last no-grad run's projections buffer and its
time-major contexts for a next run of the same shape, so that a loop of
forwards pays no page faults for them.  What must hold: a run never sees the
last one's numbers, nothing returned shares the scratch, and only a no-grad
run on matching dtype, device and inference mode takes it.
"""

from __future__ import annotations

import copy
import pickle
import threading

import pytest
import torch

from attn_widget import SelfAttentionRNN
from attn_widget.core import rnn


def make(update="eq4", align="dot", D=3, H=8, seed=0):
    torch.manual_seed(seed)
    return SelfAttentionRNN(D, H, update=update, align=align).double()


def proj_of(model):
    """The projections buffer the model keeps from its last no-grad run."""
    return vars(model)["_scratch"][0]


def fresh(model, x, **kw):
    """The same run on a copy with no scratch: what a first run gives."""
    return copy.deepcopy(model)(x, **kw)


def same(a, b):
    return all(
        torch.equal(u, v) for u, v in ((a.h, b.h), (a.c, b.c), (a.alpha, b.alpha)) if u is not None
    )


@pytest.mark.parametrize(("update", "align"), [("eq4", "dot"), ("eq3", "additive"), ("eq1", "dot")])
def test_a_second_run_reuses_the_scratch_and_gives_what_a_first_run_gives(update, align):
    model = make(update, align)
    x1, x2 = torch.randn(4, 9, 3, dtype=torch.float64), torch.randn(4, 9, 3, dtype=torch.float64)
    with torch.no_grad():
        first = model(x1)
        kept = [t.clone() for t in (first.h, first.c, first.alpha) if t is not None]
        proj = proj_of(model)
        second = model(x2)
        assert proj_of(model) is proj  # the same buffer, taken and left again
        assert same(second, fresh(model, x2))
        # the first trace is the user's: the second run wrote nothing of it
        now = [t for t in (first.h, first.c, first.alpha) if t is not None]
        assert all(torch.equal(k, t) for k, t in zip(kept, now, strict=True))
        for t in (second.h, second.c, second.alpha):
            if t is not None:
                assert t.untyped_storage().data_ptr() != proj.untyped_storage().data_ptr()
        third = model(x2, knockout=torch.tensor([False, True] + [False] * 8))
        assert same(third, fresh(model, x2, knockout=torch.tensor([False, True] + [False] * 8)))


@pytest.mark.parametrize("shape", [(6, 3), (1, 6, 3), (2, 1, 3)])
def test_one_sequence_or_one_step_returns_a_context_of_its_own(shape):
    """(1, T, H) and (B, 1, H) count as contiguous in any layout: c must still be
    copied out of the scratch, or the next run would write into the user's trace."""
    model = make()
    x = torch.randn(*shape, dtype=torch.float64)
    with torch.no_grad():
        first = model(x)
        kept = first.c.clone()
        model(x * 3, knockout=torch.ones(shape[-2] + 1, dtype=torch.bool)[: shape[-2] + 1])
        assert torch.equal(first.c, kept)
        for spare in vars(model)["_scratch"]:
            assert first.c.untyped_storage().data_ptr() != spare.untyped_storage().data_ptr()


def test_another_shape_dtype_or_mode_takes_a_new_buffer():
    model = make()
    x = torch.randn(2, 6, 3, dtype=torch.float64)
    with torch.no_grad():
        model(x)
        proj = proj_of(model)
        assert same(model(x[:, :4]), fresh(model, x[:, :4]))  # shorter: a new one
        assert proj_of(model) is not proj and proj_of(model).shape[0] == 5
        model.float()
        assert "_scratch" not in vars(model)  # a cast lets the old kind go at once
        assert same(model(x.float()), fresh(model, x.float()))
        assert proj_of(model).dtype == torch.float32
    with torch.inference_mode():
        a = model(x.float())
        assert proj_of(model).is_inference()
    with torch.no_grad():  # an inference tensor cannot be written out of inference mode
        b = model(x.float())
        assert not proj_of(model).is_inference()
    assert torch.equal(a.h, b.h)


def test_a_run_with_gradients_neither_takes_nor_leaves_scratch():
    model = make()
    x = torch.randn(3, 7, 3, dtype=torch.float64, requires_grad=True)
    with torch.no_grad():
        model(x)
    proj = proj_of(model)
    trace = model(x)  # its backward reads the run's own buffers
    assert proj_of(model) is proj
    with torch.no_grad():
        model(torch.randn(3, 7, 3, dtype=torch.float64))  # writes the scratch
    got = torch.autograd.grad(trace.h.sum() + trace.c.sum(), [x, *model.parameters()])
    frozen = copy.deepcopy(model)
    want_trace = frozen(x)
    want = torch.autograd.grad(want_trace.h.sum() + want_trace.c.sum(), [x, *frozen.parameters()])
    for a, b in zip(got, want, strict=True):
        assert torch.equal(a, b)


def test_the_cap_copies_and_pickles_leave_it_out(monkeypatch):
    model = make()
    x = torch.randn(2, 5, 3, dtype=torch.float64)
    with torch.no_grad():
        model(x)
    assert "_scratch" in model.__dict__
    assert "_scratch" not in copy.deepcopy(model).__dict__
    assert "_scratch" not in pickle.loads(pickle.dumps(model)).__dict__
    assert same(pickle.loads(pickle.dumps(model))(x), model(x))
    monkeypatch.setattr(rnn, "SCRATCH_BYTES", 100)
    vars(model).pop("_scratch")
    with torch.no_grad():
        model(x)
    assert "_scratch" not in model.__dict__


def test_runs_in_two_threads_at_once_each_get_their_own_numbers():
    model = make(H=32)
    xs = [torch.randn(8, 40, 3, dtype=torch.float64) for _ in range(4)]
    want = [fresh(model, x) for x in xs]
    failures = []

    def work(i):
        with torch.no_grad():
            for _ in range(15):
                if not same(model(xs[i]), want[i]):
                    failures.append(i)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []
