"""The generated tasks: labels re-derived by independent logic, tensors, seeding, errors."""

from __future__ import annotations

import pytest
import torch

from attn_widget.tasks import (
    ADJECTIVES,
    IGNORE,
    LIGHTHOUSE,
    NOUNS,
    PAST_VERBS,
    PREPOSITIONS,
    agreement,
    language_model,
    lookup,
    recall,
)
from attn_widget.text import char_tokenize, word_tokenize

# -- recall ----------------------------------------------------------------------


@pytest.mark.parametrize("distance", [0, 3, 17])
def test_recall_label_is_the_one_key_and_sits_distance_before_the_query(distance):
    data = recall(200, distance=distance, n_keys=5, max_prefix=3, seed=4)
    for n, tokens in enumerate(data.tokens):
        keys = [i for i, tok in enumerate(tokens) if tok.startswith("k")]
        assert len(keys) == 1  # exactly one key, found by its spelling
        (pos,) = keys
        assert tokens[-1] == "?" and tokens.count("?") == 1
        assert len(tokens) - 2 - pos == distance  # distractors between key and '?'
        assert all(tok.startswith("d") for i, tok in enumerate(tokens[:-1]) if i != pos)
        assert 0 <= pos <= 3
        assert data.labels[n] == tokens[pos]
        assert data.classes[int(data.targets[n])] == tokens[pos]
        assert data.info["key_pos"][n] == pos
        # Slot i is h_i, made after reading the i-th token (1-based): the key's is pos + 1.
        assert int(data.answer_slots[n]) == pos + 1
        L = int(data.lengths[n])
        assert len(tokens) == L and int(data.positions[n]) == L - 1
        assert data.vocab.decode(data.ids[n, :L].tolist()) == tokens
        assert bool((data.ids[n, L:] == 0).all())
    assert data.chance == pytest.approx(1 / 5)
    assert data.n_outputs == 5


def test_recall_uses_every_key_and_is_seeded():
    a, b, c = recall(400, seed=1), recall(400, seed=1), recall(400, seed=2)
    assert a.tokens == b.tokens and torch.equal(a.ids, b.ids)
    assert a.tokens != c.tokens
    assert set(a.labels) == set(a.classes)  # all 8 keys appear, none dominates
    counts = torch.bincount(a.targets, minlength=8)
    assert int(counts.max()) < 0.25 * len(a)


def test_recall_rejects_bad_settings():
    with pytest.raises(ValueError, match="distance"):
        recall(10, distance=-1)
    with pytest.raises(ValueError, match="n_keys"):
        recall(10, n_keys=1)


# -- lookup (associative recall) ----------------------------------------------------


def _read_pairs(tokens):
    """Parse ``k v k v … ? k .`` by spelling: (dict key -> (value, value index), query key)."""
    assert tokens[-1] == "." and tokens[-3] == "?"
    pairs = {}
    for i in range(0, len(tokens) - 3, 2):
        key, value = tokens[i], tokens[i + 1]
        assert key.startswith("k") and value.startswith("v"), tokens
        assert key not in pairs  # the keys of a sequence are distinct
        pairs[key] = (value, i + 1)
    return pairs, tokens[-2]


def test_lookup_label_is_the_value_paired_with_the_query_and_its_slot_holds_it():
    data = lookup(300, n_pairs=5, n_keys=7, n_values=6, seed=4)
    first_pair = [0] * 5
    for n, tokens in enumerate(data.tokens):
        pairs, query = _read_pairs(tokens)
        assert len(pairs) == 5 and query in pairs
        value, value_pos = pairs[query]
        assert data.labels[n] == value == data.classes[int(data.targets[n])]
        L = int(data.lengths[n])
        assert L == len(tokens) == 13
        # Answered at the '.', the step after the query; the answer-bearing slot is
        # the state made after reading the value, the first to hold key and value.
        assert int(data.positions[n]) == L - 1
        assert int(data.answer_slots[n]) == value_pos + 1
        assert tokens[int(data.answer_slots[n]) - 1] == value
        assert tokens[int(data.answer_slots[n]) - 2] == query
        assert data.vocab.decode(data.ids[n, :L].tolist()) == tokens
        first_pair[data.info["pair"][n]] += 1
    # The queried pair sits anywhere: each of the 5 places is asked about often.
    assert min(first_pair) > 0.1 * len(data)
    assert data.chance == pytest.approx(1 / 6) and data.n_outputs == 6


def test_lookup_hand_made_example():
    data = lookup(2, n_pairs=3, seed=0)
    # Read by hand: "k6 v0 k7 v4 k3 v7 ? k7 ." asks for k7, paired with v4, the 4th
    # token: slot 4 (h_4).  The '.' is token 9, read by step 8.
    assert data.tokens[0] == ["k6", "v0", "k7", "v4", "k3", "v7", "?", "k7", "."]
    assert data.labels[0] == "v4" and int(data.answer_slots[0]) == 4
    assert int(data.positions[0]) == 8
    # "k4 v3 k3 v2 k2 v4 ? k4 ." asks for the first pair: v3, slot 2.
    assert data.tokens[1] == ["k4", "v3", "k3", "v2", "k2", "v4", "?", "k4", "."]
    assert data.labels[1] == "v3" and int(data.answer_slots[1]) == 2


def test_lookup_query_last_ends_at_the_query_and_answers_there():
    data = lookup(50, n_pairs=4, query_last=True, seed=1)
    for n, tokens in enumerate(data.tokens):
        pairs, query = _read_pairs([*tokens, "."])
        assert tokens[-1] == query and int(data.positions[n]) == len(tokens) - 1
        assert tokens[int(data.answer_slots[n]) - 1] == pairs[query][0] == data.labels[n]


def test_lookup_is_seeded_and_rejects_bad_settings():
    a, b, c = lookup(100, seed=1), lookup(100, seed=1), lookup(100, seed=2)
    assert a.tokens == b.tokens and torch.equal(a.answer_slots, b.answer_slots)
    assert a.tokens != c.tokens
    with pytest.raises(ValueError, match="n_pairs"):
        lookup(10, n_pairs=9, n_keys=8)
    with pytest.raises(ValueError, match="n_values"):
        lookup(10, n_values=1)
    with pytest.raises(TypeError, match="query_last"):
        lookup(10, query_last=1)


# -- agreement ---------------------------------------------------------------------

SINGULAR = {s for s, _ in NOUNS}
PLURAL = {p for _, p in NOUNS}


def _parse(tokens):
    """A small recursive-descent parse: return (subject index, verb index, attractor numbers)."""
    i = 0

    def noun_phrase():
        nonlocal i
        assert tokens[i] == "the", (tokens, i)
        i += 1
        if tokens[i] in ADJECTIVES:
            i += 1
        assert tokens[i] in SINGULAR | PLURAL, (tokens, i)
        i += 1
        return i - 1

    subject = noun_phrase()
    attractors = []
    while tokens[i] not in ("is", "are"):
        if tokens[i] in PREPOSITIONS:
            i += 1
            attractors.append(noun_phrase())
        elif tokens[i] == "that" and tokens[i + 1] == "the":
            i += 1
            attractors.append(noun_phrase())
            assert tokens[i] in PAST_VERBS
            i += 1
        elif tokens[i] == "that":
            assert tokens[i + 1] in PAST_VERBS, tokens
            i += 2
            attractors.append(noun_phrase())
        else:
            raise AssertionError(f"unexpected word {tokens[i]!r} in {tokens}")
    verb = i
    assert tokens[verb + 2] == "." and len(tokens) == verb + 3
    return subject, verb, attractors


def _number(noun):
    return "pl" if noun.endswith("s") else "sg"  # true of the whole lexicon, checked below


def test_lexicon_marks_number_by_final_s():
    assert all(not s.endswith("s") and p.endswith("s") for s, p in NOUNS)


def test_agreement_label_is_the_subjects_number_and_the_verb_agrees():
    data = agreement(500, max_attractors=4, seed=3)
    opposite = 0
    for n, tokens in enumerate(data.tokens):
        subject, verb, attractors = _parse(tokens)
        number = _number(tokens[subject])
        assert data.labels[n] == number
        assert tokens[verb] == {"sg": "is", "pl": "are"}[number]
        assert data.classes[int(data.targets[n])] == number
        assert data.info["subject_pos"][n] == subject
        assert data.info["verb_pos"][n] == verb
        assert int(data.answer_slots[n]) == subject + 1  # h after reading the subject noun
        # The answer is read from the state that has read everything before the verb.
        assert int(data.positions[n]) == verb - 1
        assert data.vocab.decode([int(data.ids[n, verb])]) == [tokens[verb]]
        assert len(attractors) <= 4
        opposite += any(_number(tokens[a]) != number for a in attractors)
    # The most recent noun is no shortcut: many sentences hold an attractor of
    # the other number.
    assert opposite > 0.3 * len(data)
    assert {"sg", "pl"} == set(data.labels)
    assert data.chance == 0.5


def test_agreement_sentences_are_readable_words_of_the_vocab():
    data = agreement(50, seed=0)
    for tokens in data.tokens:
        assert "<unk>" not in data.vocab.decode(data.vocab.encode(tokens))
        assert word_tokenize(" ".join(tokens)) == tokens  # plain English words and a full stop
    no_attractors = agreement(20, max_attractors=0, seed=0)
    assert all(len(_parse(t)[2]) == 0 for t in no_attractors.tokens)


def test_agreement_rejects_bad_settings():
    with pytest.raises(ValueError, match="max_attractors"):
        agreement(10, min_attractors=3, max_attractors=1)


# -- language modelling ------------------------------------------------------------


def test_language_model_targets_are_the_next_tokens_of_the_text():
    text = "abcdefghij" * 3
    data = language_model(text, tokenizer="char", seq_len=7)
    stream = char_tokenize(text)
    for n, start in enumerate(data.info["starts"]):
        L = int(data.lengths[n])
        assert data.tokens[n] == stream[start : start + L]
        assert data.labels[n] == stream[start + 1 : start + 1 + L]
        assert data.vocab.decode(data.targets[n, :L].tolist()) == data.labels[n]
        assert bool((data.targets[n, L:] == IGNORE).all())
        # target j is input j+1 of the same window
        assert torch.equal(data.targets[n, : L - 1], data.ids[n, 1:L])
    # the windows tile the whole stream: every token but the first is a target once
    assert sum(len(labels) for labels in data.labels) == len(stream) - 1
    assert data.positions is None and data.classes is None
    assert data.n_outputs == len(data.vocab)


def test_language_model_default_text_and_words():
    assert len([p for p in LIGHTHOUSE.split("\n\n") if p.strip()]) >= 3
    chars = language_model()
    assert chars.info["tokenizer"] == "char" and len(chars) >= 10
    words = language_model(tokenizer="word", seq_len=16, stride=8)
    assert words.tokens[0][:3] == ["mara", "kept", "the"]
    assert words.tokens[1][:8] == words.tokens[0][8:16]  # overlapping windows
    held_out = language_model("a zeppelin rowed", tokenizer="word", vocab=words.vocab)
    assert held_out.vocab.decode(held_out.ids[0].tolist()) == ["a", "<unk>"]


def test_language_model_rejects_bad_text():
    with pytest.raises(ValueError, match="at least 2"):
        language_model("a")
    with pytest.raises(TypeError, match="str"):
        language_model(b"bytes")
    with pytest.raises(ValueError, match="tokenizer"):
        language_model("hello", tokenizer="bpe")


def test_subset_and_split_trim_the_padding():
    data = agreement(30, seed=2)
    train, test = data.split(10)
    assert len(train) == 20 and len(test) == 10
    assert test.tokens == data.tokens[20:]
    assert test.ids.shape[1] == int(test.lengths.max())
    assert test.info["verb_pos"] == data.info["verb_pos"][20:]
    assert torch.equal(test.answer_slots, data.answer_slots[20:])
    with pytest.raises(ValueError, match="n_test"):
        data.split(30)
