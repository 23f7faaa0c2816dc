"""Bad input gets an error that says what was expected and what came."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from attn_widget import SelfAttentionRNN
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
