"""The lesson's statistics (knockout_effect, the linear probe) on hand-built cases, and
their helpers."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
from torch import nn

from attn_widget.demo import demo_model
from attn_widget.lesson import (
    DEMO_RECIPES,
    KnockoutEffect,
    answer_states,
    fit_probe,
    held_out,
    knockout_effect,
    measurable,
    other_slots,
    probe_accuracy,
)
from attn_widget.tasks import agreement, language_model, lookup, recall
from attn_widget.text import TextRNN
from attn_widget.train import evaluate


class KeyFinder(nn.Module):
    """A stand-in model whose attention and answer follow a rule, so the statistic's
    numbers can be worked out by hand.

    On recall data: the answering step puts all its weight on the slot of the key
    token (slot i = token i - 1), unless that slot is hidden; then it spreads its
    weight evenly over the visible slots and answers class 0 ("k0").  With the
    key's slot visible it answers the key.  Every other step's α is uniform.
    """

    def __init__(self, vocab):
        super().__init__()
        self.vocab = vocab
        self.anchor = nn.Parameter(torch.zeros(1))  # for .parameters()
        self.keys = [vocab.stoi[f"k{i}"] for i in range(8)]

    def forward(self, ids, lengths=None, *, knockout=None):
        B, T = ids.shape
        alpha = torch.zeros(B, T, T + 1)
        logits = torch.zeros(B, T, 8)
        hidden = torch.zeros(B, T + 1, dtype=torch.bool) if knockout is None else knockout
        for b in range(B):
            for t in range(T):
                visible = ~hidden[b, : t + 1]
                alpha[b, t, : t + 1] = visible / visible.sum()
                logits[b, t, 0] = 1.0
            (key_token,) = [j for j in range(T) if int(ids[b, j]) in self.keys]
            slot = key_token + 1
            if not hidden[b, slot]:
                t = T - 1 if lengths is None else int(lengths[b]) - 1
                alpha[b, t] = 0.0
                alpha[b, t, slot] = 1.0
                logits[b, t] = 0.0
                logits[b, t, self.keys.index(int(ids[b, key_token]))] = 1.0
        return SimpleNamespace(alpha=alpha), logits


def test_knockout_effect_on_a_model_that_looks_the_key_up():
    data = recall(120, distance=4, max_prefix=5, seed=3)
    effect = knockout_effect(KeyFinder(data.vocab), data, seed=0)
    assert isinstance(effect, KnockoutEffect)
    assert effect.accuracy == 1.0
    assert effect.argmax_on_answer == 1.0 and effect.alpha_on_answer == 1.0
    # Hidden key: the rule answers k0, right exactly on the sequences whose key is k0.
    assert effect.answer_hidden == pytest.approx(data.labels.count("k0") / 120)
    assert effect.other_hidden == 1.0  # any other slot hidden changes nothing
    assert effect.n == 120 and effect.chance == pytest.approx(1 / 8)
    assert "hidden" in str(effect)


def test_other_slots_are_readable_never_the_answers_and_seeded():
    data = lookup(400, n_pairs=3, seed=1)
    slots = other_slots(data, seed=5)
    assert slots.shape == (400,)
    assert bool((slots >= 1).all()) and bool((slots <= data.positions).all())
    assert not bool((slots == data.answer_slots).any())
    assert torch.equal(slots, other_slots(data, seed=5))
    assert not torch.equal(slots, other_slots(data, seed=6))
    # t = 8 (the '.'), so 7 other slots per sequence; over 400 draws each of 1 … 8 appears.
    assert set(slots.tolist()) == set(range(1, 9))
    for n in range(20):
        t, answer = int(data.positions[n]), int(data.answer_slots[n])
        assert int(slots[n]) in [i for i in range(1, t + 1) if i != answer]


def test_knockout_effect_measures_only_examples_whose_answer_is_in_a_read_state():
    data = agreement(200, seed=4)
    kept = measurable(data)
    pairs = zip(data.info["subject_pos"], data.info["verb_pos"], strict=True)
    no_modifier = [v - s == 1 for s, v in pairs]
    # "the key is rusty .": the step that answers reads "key" itself, slot 2 = t + 1.
    assert len(kept) == no_modifier.count(False) > 0 and any(no_modifier)
    assert bool((kept.answer_slots <= kept.positions).all())
    assert measurable(recall(50, seed=1)).tokens == recall(50, seed=1).tokens
    with pytest.raises(ValueError, match="reads its answer-bearing state"):
        measurable(agreement(20, max_attractors=0, seed=0))


def test_knockout_effect_refuses_what_it_cannot_measure():
    lm = language_model("abcabcabc", seq_len=4)
    data = recall(10, seed=0)
    with pytest.raises(ValueError, match="answer-bearing slot"):
        knockout_effect(KeyFinder(data.vocab), lm)
    with pytest.raises(TypeError, match="TaskData"):
        knockout_effect(KeyFinder(data.vocab), [1, 2])
    model = TextRNN(data.vocab, 4, 5, update="eq1", n_outputs=8)
    with pytest.raises(ValueError, match="no attention"):
        knockout_effect(model, data)
    with pytest.raises(ValueError, match="head has 3 outputs"):
        knockout_effect(TextRNN(data.vocab, 4, 5, n_outputs=3), data)
    with pytest.raises(TypeError, match=r"torch\.nn\.Module"):
        knockout_effect("model", data)


def test_held_out_draws_from_the_generator_a_model_records():
    model = SimpleNamespace(metadata={"task": "recall", "task_args": {"distance": 7}})
    data = held_out(model, 30, seed=9)
    assert data.name == "recall" and len(data) == 30
    assert all(len(t) - 2 - p == 7 for t, p in zip(data.tokens, data.info["key_pos"], strict=True))
    displaced = held_out(model, 30, seed=9, max_prefix=60)
    assert max(displaced.info["key_pos"]) > 20
    with pytest.raises(ValueError, match="metadata"):
        held_out(SimpleNamespace(), 3)


def test_every_recipe_names_a_generator_and_its_settings_work():
    for task, recipe in DEMO_RECIPES.items():
        make = {"lookup": lookup, "recall": recall, "agreement": agreement}[task]
        assert len(make(5, seed=0, **recipe["task_args"])) == 5


# -- the shipped demos, on fresh held-out data ------------------------------------------
# The claims of issue 23, at the resolution they need: each is a comparison with a
# threshold, measured with a margin that the last bits of another CPU cannot cross
# (docs/design.md §4b).  The numbers themselves are in benchmarks/results/lesson.md.


@pytest.mark.parametrize("task", ["lookup", "recall"])
def test_the_shipped_demo_needs_attention_and_uses_the_answers_state(task):
    eq1, eq4 = demo_model(task, "eq1"), demo_model(task, "eq4")
    data = held_out(eq4, 400)
    effect = knockout_effect(eq4, data)
    eq1_accuracy = evaluate(eq1, data)
    claims = {
        "eq1 ≤ 0.75": eq1_accuracy <= 0.75,
        "eq4 ≥ 0.95": effect.accuracy >= 0.95,
        "eq4's largest weight on the answer's state on ≥ 90 %": effect.argmax_on_answer >= 0.9,
        "eq4 with that state hidden ≤ 0.3": effect.answer_hidden <= 0.3,
        "eq4 with another state hidden ≥ 0.85": effect.other_hidden >= 0.85,
    }
    assert all(claims.values()), (claims, eq1_accuracy, effect)


def test_the_shipped_recall_demo_finds_the_key_anywhere_at_any_distance():
    eq4 = demo_model("recall", "eq4")
    for distance in (10, 100):
        data = held_out(eq4, 300, distance=distance, max_prefix=60)
        assert max(data.info["key_pos"]) > 50  # displaced well past where it trained (≤ 20)
        assert evaluate(eq4, data) >= 0.9, distance


@pytest.mark.parametrize("task", ["lookup", "recall"])
def test_the_demo_picture_is_typical(task):
    """The demo sequence's weight on the answer's state sits inside the middle half of
    that weight over fresh held-out sequences (it was picked as the test set's median)."""
    eq4 = demo_model(task, "eq4")
    meta = eq4.metadata
    assert meta["demo_pick"].startswith("typical")
    tokens = meta["demo_text"].split()
    with torch.no_grad():
        trace, _ = eq4(torch.tensor(eq4.vocab.encode(tokens, strict=True)))
    shown = float(trace.alpha[len(tokens) - 1, meta["answer_slot"]])
    assert shown == pytest.approx(meta["demo_alpha"], abs=1e-3)
    data = held_out(eq4, 400)
    with torch.no_grad():
        trace, _ = eq4(data.ids, data.lengths)
    weights = trace.alpha[torch.arange(len(data)), data.positions, data.answer_slots]
    low, high = torch.quantile(weights, torch.tensor([0.25, 0.75])).tolist()
    assert low - 0.02 <= shown <= high + 0.02, (low, shown, high)


def test_fit_probe_reads_a_linear_code_and_not_noise():
    # States that hold the class along a random direction per class, plus noise:
    # a linear read-out recovers it on other states drawn the same way.
    gen = torch.Generator().manual_seed(0)
    codes = torch.randn(4, 16, generator=gen)

    def states(n):
        y = torch.randint(0, 4, (n,), generator=gen)
        return codes[y] + 0.3 * torch.randn(n, 16, generator=gen), y

    (x, y), (x_test, y_test) = states(300), states(300)
    probe = fit_probe(x, y, 4)
    assert float((probe(x_test).argmax(-1) == y_test).float().mean()) == 1.0
    # Labels that the states do not hold: about chance (1/4) on held-out states.
    noise = torch.randn(300, 16, generator=gen)
    probe = fit_probe(x, y[torch.randperm(300, generator=gen)], 4)
    assert float((probe(noise).argmax(-1) == y_test).float().mean()) < 0.4
    with pytest.raises(ValueError, match="targets"):
        fit_probe(x, y[:10], 4)
    with pytest.raises(TypeError, match="states"):
        fit_probe(torch.zeros(3), y, 4)


def test_answer_states_are_the_states_each_example_answers_from():
    data = recall(5, distance=3, max_prefix=4, seed=1)
    torch.manual_seed(0)
    model = TextRNN(data.vocab, 8, 12, update="eq4", n_outputs=8)
    states = answer_states(model, data)
    assert states.shape == (5, 12)
    for n in range(5):  # each sequence alone, unpadded: h after reading '?' is its last
        trace, _ = model(data.ids[n : n + 1, : int(data.lengths[n])])
        torch.testing.assert_close(states[n], trace.h[0, -1], rtol=1e-5, atol=1e-6)


def test_probe_accuracy_reads_what_the_frozen_state_holds():
    # An untrained eq1 one distractor after the key still carries it: its head
    # (random) is at chance, a read-out fitted on its frozen states is not; 40
    # distractors later a random recurrence has lost it.  The weights never move.
    torch.manual_seed(0)
    model = TextRNN(recall(1).vocab, 16, 32, update="eq1", n_outputs=8)
    before = [p.clone() for p in model.parameters()]
    near = probe_accuracy(model, recall(400, distance=1, seed=1), recall(200, distance=1, seed=2))
    far = probe_accuracy(model, recall(400, distance=40, seed=1), recall(200, distance=40, seed=2))
    assert evaluate(model, recall(200, distance=1, seed=2)) < 0.3
    assert near > 0.8 and far < 0.3
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))
