"""Bad input gets an error that says what was expected and what came."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import attn_widget.core.checks as core_checks
from attn_widget import SelfAttentionRNN
from attn_widget.core import LSTMN
from attn_widget.tasks import language_model
from attn_widget.text import TextRNN, Vocab
from attn_widget.train import evaluate


@pytest.fixture
def model():
    torch.manual_seed(0)
    return SelfAttentionRNN(3, 4)


@pytest.mark.parametrize(
    ("x", "error", "message"),
    [
        (
            torch.randn(3),
            ValueError,
            r"shape \(T, D\) or \(B, T, D\) with D = input_size = 3, "
            r"got shape \(3,\)",
        ),
        (torch.randn(2, 2, 5, 3), ValueError, r"got shape \(2, 2, 5, 3\)"),
        (torch.randn(5, 4), ValueError, r"D = input_size = 3, got shape \(5, 4\)"),
        (torch.zeros(0, 3), ValueError, r"empty sequence \(T = 0"),
        (torch.zeros(2, 0, 3), ValueError, r"empty sequence"),
        (torch.zeros(0, 4, 3), ValueError, r"empty batch \(B = 0"),
        (
            torch.ones(5, 3, dtype=torch.long),
            TypeError,
            r"floating-point tensor, got dtype "
            r"torch.int64",
        ),
        (
            torch.ones(5, 3, dtype=torch.float64),
            TypeError,
            r"dtype torch.float64 but the "
            r"model's parameters are torch.float32",
        ),
        (np.ones((5, 3), dtype=np.float32), TypeError, r"torch.Tensor, got ndarray"),
        ([[0.0, 0.0, 0.0]], TypeError, r"torch.Tensor, got list"),
    ],
)
def test_bad_x_is_named(model, x, error, message):
    with pytest.raises(error, match=message):
        model(x)


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_nan_and_inf_are_rejected_with_their_position(model, bad):
    x = torch.zeros(4, 3)
    x[2, 1] = bad
    with pytest.raises(ValueError, match=r"NaN or Inf \(first at index \(2, 1\)\)"):
        model(x)
    with pytest.raises(ValueError, match="NaN or Inf"):
        model.stepper(x)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"update": "eq2"}, r"update must be one of \('eq1', 'eq3', 'eq4'\), got 'eq2'"),
        ({"align": "cosine"}, r"align must be one of .*got 'cosine'"),
        ({"update": "eq1", "align": "cosine"}, r"got 'cosine'"),
        ({"attn_size": 0}, r"attn_size must be a positive int, got 0"),
        ({"attn_size": True}, r"attn_size must be a positive int, got True"),
    ],
)
def test_unknown_names_and_sizes(kwargs, message):
    with pytest.raises(ValueError, match=message):
        SelfAttentionRNN(3, 4, **kwargs)


@pytest.mark.parametrize(
    ("lengths", "error", "message"),
    [
        ([3, 9], ValueError, r"every length must be in 1 … T = 5, got \[3, 9\]"),
        ([0, 5], ValueError, r"every length must be in 1 … T = 5"),
        ([5], ValueError, r"lengths must have shape \(B,\) = \(2,\), got \(1,\)"),
        ([[5, 5]], ValueError, r"shape \(B,\)"),
        ([2.0, 5.0], TypeError, r"lengths must hold integers, got dtype torch.float32"),
    ],
)
def test_lengths_that_disagree_with_x(model, lengths, error, message):
    with pytest.raises(error, match=message):
        model(torch.randn(2, 5, 3), torch.tensor(lengths))


def test_lengths_on_unbatched_input(model):
    with pytest.raises(ValueError, match="lengths applies to a batch"):
        model(torch.randn(5, 3), torch.tensor([5]))


def test_stepper_rejects_batched_input(model):
    with pytest.raises(
        ValueError,
        match=r"shape \(T, D\) with D = input_size = 3, "
        r"got shape \(2, 5, 3\)",
    ):
        model.stepper(torch.randn(2, 5, 3))


def test_goto_out_of_range_and_stepping_past_the_end(model):
    stepper = model.stepper(torch.randn(3, 3))
    with pytest.raises(ValueError, match=r"goto position must be in 0 … T = 3, got 4"):
        stepper.goto(4)
    with pytest.raises(ValueError, match=r"got -1"):
        stepper.goto(-1)
    with pytest.raises(TypeError, match="goto expects an int position, got float"):
        stepper.goto(1.0)
    stepper.goto(3)
    with pytest.raises(
        ValueError,
        match=r"cannot step past the end: position k = 3 already "
        r"read all T = 3 inputs",
    ):
        stepper.step()
    # The failed calls left the stepper where it was and working.
    assert stepper.k == 3 and stepper.frontier == 3
    assert stepper.back().t == 1


def test_step_with_a_bad_next_input(model):
    stepper = model.stepper(torch.randn(3, 3))
    with pytest.raises(ValueError, match=r"x_next must have shape \(D,\) = \(3,\), got \(2,\)"):
        stepper.step(torch.randn(2))
    with pytest.raises(ValueError, match="x_next contains NaN"):
        stepper.step(torch.tensor([0.0, float("nan"), 0.0]))
    assert stepper.k == 0 and stepper.frontier == 0


# -- more bad input, each with a message that says what was expected ---------------


def test_non_string_names_lengths_and_vocabularies_are_refused_clearly():
    with pytest.raises(ValueError, match=r"update must be one of .*got \['eq4'\]"):
        SelfAttentionRNN(3, 4, update=["eq4"])
    with pytest.raises(TypeError, match=r"lengths must be a \(B,\) tensor or list of ints"):
        SelfAttentionRNN(3, 4)(torch.randn(2, 5, 3), "abc")
    with pytest.raises(TypeError, match="tokens must be a list of str, got the str 'hello'"):
        Vocab("hello")
    vocab = Vocab(["a", "b"])
    with pytest.raises(TypeError, match=r"ids must be ints, got float: 2\.7"):
        vocab.decode([2.7])
    assert vocab.decode([np.int64(2), torch.tensor(3), 1]) == ["a", "b", "<unk>"]
    stepper = SelfAttentionRNN(3, 4).stepper(torch.randn(5, 3))
    assert stepper.goto(np.int64(2)).t == 1  # numpy integers, as AttentionWidget.goto takes
    data = language_model(seq_len=8)
    with pytest.raises(ValueError, match=r"head has 2 outputs but the task 'lm' needs"):
        evaluate(TextRNN(data.vocab, 4, 6, n_outputs=2), data)
    with pytest.raises(TypeError, match="data must be a TaskData"):
        evaluate(TextRNN(data.vocab, 4, 6, n_outputs=2), [1, 2])


# -- sizes, weight shapes and devices that torch would fail on deep inside (issue 25) --

CORE_MODELS = [("eq1", "dot"), ("eq3", "additive"), ("eq4", "dot"), ("eq4", "scaled_dot"),
               ("eq4", "additive"), ("lstmn", None)]  # fmt: skip


def _build(update, align, D=3, H=4, attn_size=None):
    if update == "lstmn":
        return LSTMN(D, H, attn_size)
    return SelfAttentionRNN(D, H, update=update, align=align, attn_size=attn_size)


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: SelfAttentionRNN(3, 4, attn_size=10**12), r"attn_size = 1000000000000 \(eq4\)"),
        (lambda: SelfAttentionRNN(3, 10**6), r"hidden_size = 1000000, attn_size = 1000000"),
        (lambda: SelfAttentionRNN(10**9, 4, update="eq1"), r"input_size = 1000000000, "),
        (lambda: LSTMN(3, 4, attn_size=10**12), r"attn_size = 1000000000000 \(lstmn\)"),
        (lambda: TextRNN(Vocab(["a"]), 10**12, 4), r"input_size = 1000000000000, hidden_size"),
        (lambda: TextRNN(Vocab(["a"]), 4, 4, n_outputs=10**9), r"hidden_size = 4, attn_size"),
    ],
)
def test_sizes_past_the_weight_bound_are_refused_before_any_allocation(build, message):
    """attn_size = 10**12 failed inside the allocator (16 TB asked for); the sizes are
    now refused from the count of weights they make, before anything is allocated."""
    with pytest.raises(
        ValueError, match=message + r".* weights .*at most MAX_WEIGHTS = 67,108,864"
    ):
        build()


@pytest.mark.parametrize(("update", "align"), CORE_MODELS)
def test_the_weight_bound_counts_the_weights_a_model_holds(monkeypatch, update, align):
    """The count the bound reads is the model's own (for the dot aligns, which have no
    v, an upper bound d over): a model of exactly MAX_WEIGHTS weights builds, one
    weight fewer allowed does not."""
    count = sum(p.numel() for p in _build(update, align, 5, 7, 3).parameters())
    count += 3 if align in ("dot", "scaled_dot") and update != "eq1" else 0
    monkeypatch.setattr(core_checks, "MAX_WEIGHTS", count)
    _build(update, align, 5, 7, 3)
    monkeypatch.setattr(core_checks, "MAX_WEIGHTS", count - 1)
    with pytest.raises(ValueError, match=f"make a model of {count:,} weights"):
        _build(update, align, 5, 7, 3)


@pytest.mark.parametrize(("update", "align"), CORE_MODELS)
def test_a_model_on_the_meta_device_is_refused_clearly(update, align):
    """It gave "Tensor.item() cannot be called on meta tensors"."""
    model = _build(update, align).to("meta")
    message = r"the model is on the meta device: it has a shape but no values"
    for x in (torch.randn(5, 3), torch.randn(5, 3, device="meta")):
        with pytest.raises(ValueError, match=message):
            model(x)
        with pytest.raises(ValueError, match=message):
            model.stepper(x)
    with pytest.raises(ValueError, match=message):
        model.stepper().step(torch.randn(3, device="meta"))
    with pytest.raises(ValueError, match=r"x is on the meta device"):
        _build(update, align)(torch.randn(5, 3, device="meta"))


def test_a_text_model_on_the_meta_device_is_refused_clearly():
    with torch.device("meta"):
        model = TextRNN(Vocab(["a", "b"]), 3, 4, n_outputs=2)
    for device in ("cpu", "meta"):
        with pytest.raises(ValueError, match=r"weight embed.weight is on the meta device"):
            model(torch.tensor([2, 3], device=device))
    with pytest.raises(ValueError, match=r"ids are on meta but the model is on cpu"):
        TextRNN(Vocab(["a", "b"]), 3, 4)(torch.tensor([2, 3], device="meta"))


def _widened(linear: torch.nn.Linear, rows=0, columns=0, bias=None) -> torch.nn.Linear:
    bias = linear.bias is not None if bias is None else bias
    return torch.nn.Linear(linear.in_features + columns, linear.out_features + rows, bias=bias)


@pytest.mark.parametrize(
    ("update", "align", "replace", "message"),
    [
        ("eq4", "dot", lambda m: setattr(m, "A", _widened(m.A, columns=1)),
         r"A.weight must have shape \(4, 11\) for its sizes \(input_size = 3, hidden_size = 4, "
         r"attn_size = 4\), found shape \(4, 12\)"),
        ("eq1", "dot", lambda m: setattr(m, "A", _widened(m.A, rows=1)),
         r"A.weight must have shape \(4, 7\).*found shape \(5, 7\)"),
        ("eq3", "dot", lambda m: setattr(m, "A", _widened(m.A, bias=False)),
         r"A.bias must have shape \(4,\).*found no such parameter"),
        ("eq4", "dot", lambda m: setattr(m.align, "W_q", _widened(m.align.W_q, bias=True)),
         r"align.W_q.bias \(shape \(4,\)\) is a parameter its step never reads"),
        ("eq4", "scaled_dot", lambda m: setattr(m.align, "W_k", _widened(m.align.W_k, rows=2)),
         r"align.W_k.weight must have shape \(4, 4\).*found shape \(6, 4\)"),
        ("eq4", "additive", lambda m: setattr(m.align, "W", _widened(m.align.W, columns=-1)),
         r"align.W.weight must have shape \(4, 8\).*found shape \(4, 7\)"),
        ("eq3", "additive", lambda m: setattr(m.align, "v", torch.nn.Linear(4, 1)),
         r"align.v.bias \(shape \(1,\)\) is a parameter its step never reads"),
        ("lstmn", None, lambda m: setattr(m, "W", _widened(m.W, columns=1)),
         r"W.weight must have shape \(16, 7\).*found shape \(16, 8\)"),
        ("lstmn", None, lambda m: setattr(m, "W_x", _widened(m.W_x, columns=2)),
         r"W_x.weight must have shape \(4, 3\).*found shape \(4, 5\)"),
        ("lstmn", None, lambda m: setattr(m, "W_h_tilde", _widened(m.W_h_tilde, bias=True)),
         r"W_h_tilde.bias \(shape \(4,\)\) is a parameter its step never reads"),
    ],
)  # fmt: skip
def test_weights_replaced_with_another_shape_are_named(update, align, replace, message):
    """m.A replaced by an nn.Linear one column too wide ran, ignoring the column; a bias
    on W_q was silently dropped.  Both the batched run and a stepper's step 0 now name
    the parameter, the shape the sizes need and the shape found, and so does the
    widget's way back after a change (truncate(0), then a step)."""
    torch.manual_seed(0)
    model, x = _build(update, align), torch.randn(5, 3)
    stepper = model.stepper(x)
    stepper.goto(2)
    replace(model)
    with pytest.raises(ValueError, match=message):
        model(x)
    with pytest.raises(ValueError, match=message):
        model.stepper(x).step()
    stepper.truncate(0)
    with pytest.raises(ValueError, match=message):
        stepper.step()


def test_a_text_models_embedding_and_head_are_checked_too():
    torch.manual_seed(0)
    model = TextRNN(Vocab(["a", "b"]), 3, 4, n_outputs=2)
    model.out = torch.nn.Linear(5, 2)
    with pytest.raises(ValueError, match=r"out.weight must have shape \(2, 4\), found shape "
                       r"\(2, 5\)"):  # fmt: skip
        model(torch.tensor([2, 3]))
    model = TextRNN(Vocab(["a", "b"]), 3, 4)
    model.embed = torch.nn.Embedding(3, 3)
    with pytest.raises(ValueError, match=r"embed.weight must have shape \(4, 3\), found shape "
                       r"\(3, 3\)"):  # fmt: skip
        model(torch.tensor([2, 3]))
