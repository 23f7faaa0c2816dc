"""input_sensitivity: ‖∂h_T/∂x_i‖ against an independent Jacobian, and the forgetting it shows."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest
import torch

import attn_widget.core.sensitivity as sensitivity
from attn_widget import SelfAttentionRNN, input_sensitivity
from attn_widget.core import LSTMN

MODELS = [("eq1", "dot"), ("eq3", "additive"), ("eq4", "dot"), ("eq4", "scaled_dot"),
          ("eq4", "additive")]  # fmt: skip


def jacobian_norms(model, x):
    """Reference: the full Jacobian of h_T by torch.autograd.functional, then per-input norms."""
    J = torch.autograd.functional.jacobian(lambda xx: model(xx).h[-1], x)  # (H, T, D)
    return J.pow(2).sum(dim=(0, 2)).sqrt()


@pytest.mark.parametrize(("update", "align"), MODELS)
def test_matches_the_full_jacobian(update, align):
    torch.manual_seed(1)
    model = SelfAttentionRNN(3, 5, update=update, align=align).double()
    x = torch.randn(7, 3, dtype=torch.float64)
    s = input_sensitivity(model, x)
    assert s.shape == (7,)
    torch.testing.assert_close(s, jacobian_norms(model, x), rtol=0, atol=1e-12)


def test_works_for_the_lstmn_too():
    torch.manual_seed(2)
    model = LSTMN(3, 4).double()
    x = torch.randn(6, 3, dtype=torch.float64)
    torch.testing.assert_close(input_sensitivity(model, x), jacobian_norms(model, x), rtol=0,
                               atol=1e-12)  # fmt: skip


def test_a_readout_gives_the_gradient_of_that_scalar():
    torch.manual_seed(3)
    model = SelfAttentionRNN(3, 5, update="eq4", align="additive").double()
    x = torch.randn(6, 3, dtype=torch.float64)
    w = torch.randn(5, dtype=torch.float64)
    readout = lambda h: torch.tanh(h) @ w  # noqa: E731
    xs = x.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(readout(model(xs).h[-1]), xs)
    torch.testing.assert_close(input_sensitivity(model, x, readout), grad.norm(dim=1), rtol=0,
                               atol=1e-12)  # fmt: skip


def test_leaves_the_model_the_readout_and_the_input_alone():
    model = SelfAttentionRNN(3, 4, update="eq4")
    head = torch.nn.Linear(4, 1)  # a read-out outside the model, as TextRNN.out is
    model.A.bias.requires_grad_(False)  # a frozen parameter stays frozen
    x = torch.randn(5, 3)
    before = x.clone()
    input_sensitivity(model, x)
    input_sensitivity(model, x, readout=lambda h: head(h).squeeze())
    assert all(p.grad is None for p in (*model.parameters(), *head.parameters()))
    assert not model.A.bias.requires_grad and model.A.weight.requires_grad
    assert torch.equal(x, before) and not x.requires_grad
    with torch.no_grad():  # autograd is switched back on inside
        assert input_sensitivity(model, x).shape == (5,)
    with torch.inference_mode(), pytest.raises(RuntimeError, match="inference_mode"):
        input_sensitivity(model, x)


def test_eq1_forgets_by_orders_of_magnitude_and_eq4_does_not():
    """At initialisation, over three random seeds: eq1's dependence on an input 40
    steps back is a millionth of its dependence on one 5 steps back; eq4's, through
    c_t, stays within a factor of 100."""
    for seed in range(3):
        ratio = {}
        for update in ("eq1", "eq4"):
            torch.manual_seed(seed)
            model = SelfAttentionRNN(16, 32, update=update, align="additive")
            s = input_sensitivity(model, torch.randn(41, 16))  # s[-1 - d]: distance d
            ratio[update] = (s[-1 - 40] / s[-1 - 5]).item()
        assert ratio["eq1"] < 1e-6, ratio
        assert ratio["eq4"] > 1e-2, ratio


def test_bad_input_says_what_was_expected():
    model = SelfAttentionRNN(3, 4)
    with pytest.raises(ValueError, match=r"floating \(T, D\) tensor; got a 3-d"):
        input_sensitivity(model, torch.randn(1, 5, 3))
    with pytest.raises(ValueError, match=r"got a 2-d torch\.int64"):
        input_sensitivity(model, torch.ones(5, 3, dtype=torch.long))
    with pytest.raises(ValueError, match="empty"):
        input_sensitivity(model, torch.randn(0, 3))
    with pytest.raises(ValueError, match="NaN or Inf"):
        input_sensitivity(model, torch.tensor([[0.0, float("nan"), 1.0]]))
    with pytest.raises(ValueError, match=r"scalar, got shape \(4,\)"):
        input_sensitivity(model, torch.randn(5, 3), readout=lambda h: h)
    assert all(p.requires_grad for p in model.parameters())  # restored after the error


def test_a_readout_that_is_not_callable_is_refused_by_name():
    # users pass k (a class index) there: say what readout must be, before any step runs
    model = SelfAttentionRNN(3, 4)
    with pytest.raises(TypeError, match=r"readout must be a callable .* got int: 3"):
        input_sensitivity(model, torch.randn(5, 3), 3)


# -- chunks and bounds (issue 25) ----------------------------------------------------


def _all_copies_at_once(model, x):
    """The implementation before chunking, kept as a reference: x repeated H times in
    one batch, copy j back-propagating h_T's unit j."""
    H = model.hidden_size
    xs = x.detach()[None].repeat(H, 1, 1).requires_grad_(True)
    h_T = model(xs).h[:, -1]
    (grad,) = torch.autograd.grad(torch.eye(H, dtype=x.dtype).mul(h_T).sum(), xs)
    return grad.norm(dim=2).pow(2).sum(0).sqrt()


@pytest.mark.parametrize(("update", "align"), [*MODELS, ("lstmn", None)])
@pytest.mark.parametrize("copies_per_chunk", [1, 2, 3])
def test_chunks_of_output_units_give_the_whole_jacobian(monkeypatch, update, align,
                                                        copies_per_chunk):  # fmt: skip
    """CHUNK_BYTES set so that a chunk holds 1, 2 or 3 copies (3 does not divide H = 5):
    every chunk's squares summed give the full Jacobian's norms to 1e-12 in float64,
    and the all-at-once reference's."""
    torch.manual_seed(4)
    model = (LSTMN(3, 5) if update == "lstmn"
             else SelfAttentionRNN(3, 5, update=update, align=align)).double()  # fmt: skip
    x = torch.randn(9, 3, dtype=torch.float64)
    per_copy = sensitivity.sensitivity_cost(model, 9, 3, 8, 5)[0]
    monkeypatch.setattr(sensitivity, "CHUNK_BYTES", copies_per_chunk * per_copy)
    assert sensitivity.sensitivity_cost(model, 9, 3, 8, 5)[1] == copies_per_chunk
    s = input_sensitivity(model, x)
    torch.testing.assert_close(s, jacobian_norms(model, x), rtol=0, atol=1e-12)
    torch.testing.assert_close(s, _all_copies_at_once(model, x), rtol=0, atol=1e-12)


def test_memory_stays_within_the_chunk_bound(tmp_path):
    """In a fresh process, T = 300, H = 32, with CHUNK_BYTES = 4 MiB: the call's peak
    resident memory is a few MiB above where it started (Linux's VmHWM, reset just
    before), where x repeated H times took 40 MiB (α alone is H × T × (T+1)
    floats); the numbers agree with the all-at-once reference to float32 rounding
    (two computations: different batch sizes)."""
    out = subprocess.run([sys.executable, "-c", PEAK_PROBE, str(tmp_path / "s.pt")], text=True,
                         capture_output=True, check=True, timeout=300).stdout  # fmt: skip
    assert float(out) < 12, f"the call's peak was {float(out):.1f} MiB above its start"
    torch.manual_seed(0)
    model, x = SelfAttentionRNN(8, 32), torch.randn(300, 8)
    torch.testing.assert_close(torch.load(tmp_path / "s.pt"), _all_copies_at_once(model, x),
                               rtol=1e-4, atol=0)  # fmt: skip


PEAK_PROBE = """
import re, sys, torch
import attn_widget.core.sensitivity as sensitivity
from attn_widget.core import SelfAttentionRNN, input_sensitivity

def mib(field):
    return int(re.search(rf"{field}:\\s+(\\d+) kB", open("/proc/self/status").read())[1]) / 1024

sensitivity.CHUNK_BYTES = 4 * 2**20
torch.set_num_threads(1)
torch.manual_seed(0)
model, x = SelfAttentionRNN(8, 32), torch.randn(300, 8)
input_sensitivity(model, x[:5])
with open("/proc/self/clear_refs", "w") as f:
    f.write("5")  # resets VmHWM, the peak resident set, to the current one
before = mib("VmRSS")
s = input_sensitivity(model, x)
print(mib("VmHWM") - before)
torch.save(s, sys.argv[1])
"""


def test_a_request_past_the_bounds_is_refused_at_once_with_what_fits():
    """k = 2000, H = 128 allocated 3.2 GB and failed with torch's allocator message; its
    time grows as k²·H².  Refused before anything runs, naming the prefix that fits."""
    model = SelfAttentionRNN(32, 128)
    per_copy, _, seconds = sensitivity.sensitivity_cost(model, 340, 32, 4, 128)
    assert per_copy <= sensitivity.CHUNK_BYTES and seconds <= sensitivity.MAX_SECONDS
    assert sensitivity.sensitivity_cost(model, 341, 32, 4, 128)[2] > sensitivity.MAX_SECONDS
    start = time.perf_counter()
    with pytest.raises(ValueError, match=r"T = 2000 inputs of this SelfAttentionRNN \(H = 128\) "
                       r"is past its bounds: about 49 MiB for each output unit \(at most "
                       r"CHUNK_BYTES = 64 MiB\) and about 366 s in all \(at most MAX_SECONDS = "
                       r"10 s, estimated\); ask for at most the first 340 inputs"):  # fmt: skip
        input_sensitivity(model, torch.randn(2000, 32))
    assert time.perf_counter() - start < 1
    lstmn = LSTMN(16, 32)  # one read-out through T = 2000: its autograd keeps T²/2 slots
    with pytest.raises(ValueError, match=r"about 1280 MiB for each output unit.*first 444 "):
        input_sensitivity(lstmn, torch.randn(2000, 16), readout=lambda h: h.sum())
