"""Toy tasks for the self-attention RNN, generated in code: seeded, offline, small.

Every generator returns a :class:`TaskData`: readable token lists and labels,
the :class:`~attn_widget.text.Vocab`, and padded tensors ready for
:func:`attn_widget.train.train`.

- :func:`lookup`: associative recall.  ``k3 v7 k1 v2 k6 v0 ? k1 .`` → ``v2``.
  Key-value pairs, then a query key; the answer is the value paired with it,
  read at the ``.`` after the query.  Finding it means matching the query
  against every pair by content, which a plain SimpleRNN (eq1) cannot do
  in its one state and attention can.  Chance is 1 / ``n_values``.
- :func:`recall`: long-range recall.  ``d2 k3 d0 d7 … d5 ?`` → ``k3``.  The key
  sits after up to ``max_prefix`` distractors, ``distance`` distractors
  separate it from ``?``, and the answer is read at ``?``.  Chance is 1 / ``n_keys``.
- :func:`agreement`: subject-verb number agreement in a small English-like
  grammar with distractor nouns in prepositional phrases and relative
  clauses (``the key to the cabinets is rusty .``).  The model predicts the
  verb's number (``sg``/``pl``) from the words before the verb.
- :func:`language_model`: next-token prediction, char- or word-level, on any
  text or on :data:`LIGHTHOUSE`, a short original story.

Positions.  A model reading ids (B, T) gives logits over h_1 … h_T, shape
(B, T, C); ``logits[:, j]`` has read tokens 0 … j.  A classification task
reads its answer at ``logits[n, positions[n]]``; a language-model task scores
every position against ``targets`` (B, T), with ``IGNORE`` on padding.

Answering step and answer-bearing slot.  ``logits[n, t]`` is read from
h_{t+1}, which step t made while reading token t (0-based; x_{t+1} in the
notation of docs/design.md §1) with the weights α_{t,0 … t} over the states
h_0 … h_t.  So ``positions[n]`` is also the *answering step*: the row of
``trace.alpha`` that weighs the past for the answer, shown by the widget at
position k = t + 1 (the current word, red, is token t).  The states are
numbered by *slot*: slot i is h_i, made after reading token i - 1 (0-based),
the i-th token; slot 0 is h_0 = 0.  ``answer_slots[n]`` is the slot whose
state holds what the answer needs (the key, the subject, the value paired
with the query): hiding it from attention (knockout, see
:mod:`attn_widget.lesson`) should break the answer, and a model that
looks the answer up weights it most at the answering step.
"""

from __future__ import annotations

import numbers
import random
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
from torch import Tensor

from .text import TOKENIZERS, Vocab

IGNORE = -100  # target id that the loss skips (torch's cross_entropy default)


@dataclass
class TaskData:
    """A generated data set: tokens for people, tensors for training.

    Attributes:
        name: ``"recall"``, ``"agreement"`` or ``"lm"``.
        tokens: N token lists (ragged).
        labels: N labels; a class name (classification) or the N next-token
            lists (language modelling).
        vocab: the input :class:`Vocab` (``<pad>`` = 0, ``<unk>`` = 1).
        classes: class names, index = class id; None for language modelling,
            where the classes are the vocabulary ids.
        ids: (N, T) token ids, padded with 0.
        lengths: (N,) true lengths.
        targets: (N,) class ids, or (N, T) next-token ids with ``IGNORE`` on padding.
        positions: (N,) index into the logits over h_1 … h_T where the answer
            is read; None for language modelling (every position counts).
        chance: accuracy of guessing uniformly among the classes.
        info: task-specific per-example facts (key or subject positions, …)
            and the settings that made the data.
        answer_slots: (N,) the answer-bearing slot of each example: the i of
            the state h_i that holds what the answer needs (slot i is made
            after reading the i-th token, 1-based; slot 0 is h_0), in
            1 … positions[n].  None for language modelling.
    """

    name: str
    tokens: list[list[str]]
    labels: list
    vocab: Vocab
    classes: list[str] | None
    ids: Tensor
    lengths: Tensor
    targets: Tensor
    positions: Tensor | None
    chance: float
    info: dict = field(default_factory=dict)
    answer_slots: Tensor | None = None

    def __len__(self) -> int:
        return len(self.tokens)

    def __repr__(self) -> str:
        return (
            f"TaskData({self.name!r}, N={len(self)}, T={self.ids.shape[1]}, "
            f"vocab={len(self.vocab)}, n_outputs={self.n_outputs}, chance={self.chance:.3f})"
        )

    @property
    def n_outputs(self) -> int:
        """Size of the output head: the number of classes, or of the vocabulary."""
        return len(self.classes) if self.classes is not None else len(self.vocab)

    def subset(self, index: Sequence[int] | slice) -> TaskData:
        """The examples at ``index`` (a slice or a list of ints), tensors trimmed to fit."""
        if isinstance(index, slice):
            index = range(len(self))[index]
        index = list(index)
        lengths = self.lengths[index]
        T = int(lengths.max()) if len(index) else 0
        info = {
            key: [value[i] for i in index] if isinstance(value, list) else value
            for key, value in self.info.items()
        }
        targets = self.targets[index]
        return TaskData(
            self.name,
            [self.tokens[i] for i in index],
            [self.labels[i] for i in index],
            self.vocab,
            self.classes,
            self.ids[index, :T],
            lengths,
            targets[:, :T] if targets.dim() == 2 else targets,
            None if self.positions is None else self.positions[index],
            self.chance,
            info,
            None if self.answer_slots is None else self.answer_slots[index],
        )

    def split(self, n_test: int) -> tuple[TaskData, TaskData]:
        """(first N - n_test examples, last n_test examples); the data are already shuffled."""
        if not 0 < n_test < len(self):
            raise ValueError(f"n_test must be in 1 … {len(self) - 1}, got {n_test}")
        return self.subset(slice(0, len(self) - n_test)), self.subset(
            slice(len(self) - n_test, None)
        )


def _pad(sequences: list[list[int]], value: int = 0) -> tuple[Tensor, Tensor]:
    """Ragged id lists -> ids (N, T_max) padded with ``value``, lengths (N,)."""
    lengths = torch.tensor([len(s) for s in sequences], dtype=torch.long)
    ids = torch.full((len(sequences), int(lengths.max())), value, dtype=torch.long)
    for n, s in enumerate(sequences):
        ids[n, : len(s)] = torch.tensor(s, dtype=torch.long)
    return ids, lengths


def check_count(name: str, value, minimum: int = 1) -> int:
    """An int ≥ ``minimum`` (numpy and torch integers too, never a bool), as an int."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        kind = "a positive int" if minimum == 1 else f"an int ≥ {minimum}"
        raise ValueError(f"{name} must be {kind}, got {value!r}")
    return int(value)


# -- associative recall (lookup) ------------------------------------------------


def lookup_vocab(n_keys: int = 8, n_values: int = 8) -> Vocab:
    """The lookup vocabulary: keys ``k0 …``, values ``v0 …``, ``?`` and ``.``; by its sizes."""
    return Vocab([f"k{i}" for i in range(n_keys)] + [f"v{i}" for i in range(n_values)] + ["?", "."])


def lookup(
    n: int = 1000,
    *,
    n_pairs: int = 6,
    n_keys: int = 8,
    n_values: int = 8,
    query_last: bool = False,
    seed: int = 0,
) -> TaskData:
    """Associative recall: report the value paired with the query key.

    Each sequence is ``n_pairs`` key-value pairs (distinct keys, values drawn
    with replacement), then ``?``, a query key (one of the pairs' keys, drawn
    uniformly) and ``.``::

        k3 v7 k1 v2 k6 v0 ? k1 .      label v2,  length 2·n_pairs + 3

    The answer is read at ``.``, the last token (``positions = lengths - 1``).
    Its answer-bearing slot is the value's: the state made after reading
    ``v2`` (slot 2j + 2 for pair j = 0 …), the first state that holds the key
    and its value together.  Which pair it is depends on the query, so the
    model must find it by content; its place in the sequence is uniform.

    Why the ``.``.  eq3 and eq4 choose step t's weights from h_t, the state
    *before* the step reads its token (docs/design.md §1).  At the ``.`` the
    state h_t has read the query key, so the weights can look for its pair.
    With ``query_last=True`` the sequence ends at the query key and the answer
    is read there: its weights are chosen from a state that has read only
    ``?``, so eq4 cannot find the pair and scores about as eq1 does
    (benchmarks/results/lesson.md: 0.33 against 1.00).

    Which models can learn it.  eq4 keeps h_t in its update, so the state
    made after reading a value also holds the key before it.  eq3 and the
    LSTMN update from the attended summary and the token, without h_t: a
    value's state holds its key only if that step's attention read the
    key's state, and with the budgets tried they learn which values occur
    but not which key each belongs to.

    Args:
        n: number of sequences.
        n_pairs: key-value pairs per sequence (1 … ``n_keys``).
        n_keys: number of keys.
        n_values: number of values, so chance accuracy is 1 / n_values.
        query_last: end at the query key, without the ``.`` (see above).
        seed: the generator's seed; the same arguments give the same data.

    Returns:
        :class:`TaskData` with ``classes`` = the value tokens, ``answer_slots``
        the value's slot, ``info["pair"]`` the queried pair's index (0-based)
        and ``info["value_pos"]`` its value's 0-based token index.
    """
    check_count("n", n)
    check_count("n_keys", n_keys)
    check_count("n_values", n_values, 2)
    check_count("n_pairs", n_pairs)
    if n_pairs > n_keys:
        raise ValueError(
            f"n_pairs must be at most n_keys = {n_keys} (keys are distinct), got {n_pairs}"
        )
    if not isinstance(query_last, bool):
        raise TypeError(f"query_last must be a bool, got {type(query_last).__name__}")
    rng = random.Random(seed)
    vocab = lookup_vocab(n_keys, n_values)
    values = [f"v{i}" for i in range(n_values)]
    tokens, labels, pair = [], [], []
    for _ in range(n):
        keys = rng.sample(range(n_keys), n_pairs)
        paired = [rng.randrange(n_values) for _ in keys]
        seq = [token for k, v in zip(keys, paired, strict=True) for token in (f"k{k}", f"v{v}")]
        j = rng.randrange(n_pairs)
        seq += ["?", f"k{keys[j]}"] + ([] if query_last else ["."])
        tokens.append(seq)
        labels.append(values[paired[j]])
        pair.append(j)
    ids, lengths = _pad([vocab.encode(s) for s in tokens])
    targets = torch.tensor([values.index(label) for label in labels], dtype=torch.long)
    value_pos = [2 * j + 1 for j in pair]
    info = {
        "pair": pair,
        "value_pos": value_pos,
        "n_pairs": n_pairs,
        "n_keys": n_keys,
        "n_values": n_values,
        "query_last": query_last,
        "seed": seed,
    }
    return TaskData(
        "lookup",
        tokens,
        labels,
        vocab,
        values,
        ids,
        lengths,
        targets,
        lengths - 1,
        1 / n_values,
        info,
        torch.tensor(value_pos, dtype=torch.long) + 1,
    )


# -- long-range recall ---------------------------------------------------------


def recall_vocab(n_keys: int = 8, n_distractors: int = 8) -> Vocab:
    """The recall vocabulary: keys ``k0 …``, distractors ``d0 …`` and ``?``; fixed by its sizes."""
    return Vocab([f"k{i}" for i in range(n_keys)] + [f"d{i}" for i in range(n_distractors)] + ["?"])


def recall(
    n: int = 1000,
    *,
    distance: int = 20,
    n_keys: int = 8,
    n_distractors: int = 8,
    max_prefix: int = 2,
    seed: int = 0,
) -> TaskData:
    """Long-range recall: report the key seen ``distance + 1`` steps before ``?``.

    Each sequence is ``p`` distractors (p uniform in 0 … ``max_prefix``), one
    key ``k_j``, ``distance`` distractors, then ``?``::

        d2 k3 d0 d7 d7 … d5 ?      label k3,  length p + distance + 2

    The answer is read at ``?``, the last token (``positions = lengths - 1``),
    after the network has read ``distance`` distractors since the key: a plain
    SimpleRNN must carry the key through ``distance + 1`` tanh updates, while an
    attention model can look the state h_{p+1} straight up.

    Args:
        n: number of sequences.
        distance: number of distractors between the key and ``?`` (≥ 0).
        n_keys: number of keys, so chance accuracy is 1 / n_keys.
        n_distractors: size of the distractor pool.
        max_prefix: most distractors before the key, so its position varies.
        seed: the generator's seed; the same arguments give the same data.

    Returns:
        :class:`TaskData` with ``classes`` = the key tokens,
        ``info["key_pos"]`` = the key's 0-based token index and
        ``answer_slots`` = the key's slot, ``key_pos + 1`` (the state made
        after reading the key).
    """
    check_count("n", n)
    check_count("distance", distance, 0)
    check_count("n_keys", n_keys, 2)
    check_count("n_distractors", n_distractors)
    check_count("max_prefix", max_prefix, 0)
    rng = random.Random(seed)
    vocab = recall_vocab(n_keys, n_distractors)
    keys = [f"k{i}" for i in range(n_keys)]
    tokens, labels, key_pos = [], [], []
    for _ in range(n):
        prefix = rng.randint(0, max_prefix)
        key = rng.randrange(n_keys)
        seq = [f"d{rng.randrange(n_distractors)}" for _ in range(prefix)]
        seq.append(keys[key])
        seq += [f"d{rng.randrange(n_distractors)}" for _ in range(distance)]
        seq.append("?")
        tokens.append(seq)
        labels.append(keys[key])
        key_pos.append(prefix)
    ids, lengths = _pad([vocab.encode(s) for s in tokens])
    targets = torch.tensor([keys.index(label) for label in labels], dtype=torch.long)
    info = {
        "key_pos": key_pos,
        "distance": distance,
        "n_keys": n_keys,
        "n_distractors": n_distractors,
        "max_prefix": max_prefix,
        "seed": seed,
    }
    slots = torch.tensor(key_pos, dtype=torch.long) + 1
    return TaskData(
        "recall",
        tokens,
        labels,
        vocab,
        keys,
        ids,
        lengths,
        targets,
        lengths - 1,
        1 / n_keys,
        info,
        slots,
    )


# -- subject-verb agreement ----------------------------------------------------

# (singular, plural); every plural ends in "s" and no singular does, so a
# reader (and the tests) can tell the number from the word alone.
NOUNS = [
    ("key", "keys"),
    ("cabinet", "cabinets"),
    ("author", "authors"),
    ("dog", "dogs"),
    ("teacher", "teachers"),
    ("box", "boxes"),
    ("painting", "paintings"),
    ("window", "windows"),
    ("girl", "girls"),
    ("farmer", "farmers"),
    ("lamp", "lamps"),
    ("boat", "boats"),
    ("pilot", "pilots"),
    ("letter", "letters"),
]
ADJECTIVES = ["old", "small", "red", "new", "quiet"]
PREPOSITIONS = ["to", "near", "behind", "beside", "of", "under", "with", "on"]
PAST_VERBS = ["saw", "liked", "found", "painted", "moved", "fixed"]  # number-neutral
VERBS = {"sg": "is", "pl": "are"}
PREDICATES = ["here", "rusty", "lost", "open", "broken", "ready", "famous", "missing"]
AGREEMENT_CLASSES = ["sg", "pl"]


def agreement_vocab() -> Vocab:
    """The agreement vocabulary, fixed by the grammar's word lists."""
    words = ["the", "that", "."] + [w for pair in NOUNS for w in pair]
    words += ADJECTIVES + PREPOSITIONS + PAST_VERBS + list(VERBS.values()) + PREDICATES
    return Vocab(words)


def _noun_phrase(rng: random.Random, number: str, p_adjective: float) -> list[str]:
    """``the [adjective] noun`` in the given number; "the" carries no number in English."""
    noun = rng.choice(NOUNS)[AGREEMENT_CLASSES.index(number)]
    if rng.random() < p_adjective:
        return ["the", rng.choice(ADJECTIVES), noun]
    return ["the", noun]


def _modifier(rng: random.Random, p_adjective: float) -> list[str]:
    """A distractor after the subject: a prepositional phrase or a relative clause.

    Its nouns take a random number, so about half of them disagree with the
    subject (they are the "attractors").
    """
    number = rng.choice(AGREEMENT_CLASSES)
    kind = rng.random()
    if kind < 0.5:  # to the cabinets
        return [rng.choice(PREPOSITIONS), *_noun_phrase(rng, number, p_adjective)]
    if kind < 0.75:  # that the farmers found  (object relative)
        return ["that", *_noun_phrase(rng, number, p_adjective), rng.choice(PAST_VERBS)]
    # that saw the dogs  (subject relative)
    return ["that", rng.choice(PAST_VERBS), *_noun_phrase(rng, number, p_adjective)]


def agreement(
    n: int = 2000,
    *,
    min_attractors: int = 0,
    max_attractors: int = 3,
    p_adjective: float = 0.25,
    seed: int = 0,
) -> TaskData:
    """Subject-verb agreement across distractor nouns: predict ``is`` (sg) or ``are`` (pl).

    Grammar (every noun phrase is ``the [adjective] noun``)::

        S   → NP_subj  MOD*  VERB  PREDICATE  .
        MOD → PREP NP | that NP PAST_VERB | that PAST_VERB NP
        VERB agrees with NP_subj:  is (sg) | are (pl)

    for example ``the key to the cabinets that the farmer found is rusty .``
    The number of modifiers is uniform in ``min_attractors … max_attractors``;
    each modifier holds one noun of random number.

    The answer is read from the state that has read every word before the
    verb (``positions = verb_pos - 1``): the network predicts the verb's
    number without seeing the verb, as in Linzen et al. (2016).  The last noun
    before the verb is often an attractor of the other number, so the cue
    "number of the most recent noun" fails; the subject must be remembered.

    Returns:
        :class:`TaskData` with ``classes = ["sg", "pl"]``, labels the verb's
        number, ``info["subject_pos"]`` (index of the subject noun) and
        ``info["verb_pos"]`` (index of the verb), both 0-based token indices,
        and ``answer_slots`` = the subject's slot, ``subject_pos + 1``.
    """
    check_count("n", n)
    check_count("min_attractors", min_attractors, 0)
    check_count("max_attractors", max_attractors, min_attractors)
    rng = random.Random(seed)
    vocab = agreement_vocab()
    tokens, labels, subject_pos, verb_pos = [], [], [], []
    for _ in range(n):
        number = rng.choice(AGREEMENT_CLASSES)
        sentence = _noun_phrase(rng, number, p_adjective)
        subject_pos.append(len(sentence) - 1)
        for _ in range(rng.randint(min_attractors, max_attractors)):
            sentence += _modifier(rng, p_adjective)
        verb_pos.append(len(sentence))
        sentence += [VERBS[number], rng.choice(PREDICATES), "."]
        tokens.append(sentence)
        labels.append(number)
    ids, lengths = _pad([vocab.encode(s) for s in tokens])
    targets = torch.tensor([AGREEMENT_CLASSES.index(label) for label in labels], dtype=torch.long)
    positions = torch.tensor(verb_pos, dtype=torch.long) - 1
    info = {
        "subject_pos": subject_pos,
        "verb_pos": verb_pos,
        "min_attractors": min_attractors,
        "max_attractors": max_attractors,
        "seed": seed,
    }
    return TaskData(
        "agreement",
        tokens,
        labels,
        vocab,
        list(AGREEMENT_CLASSES),
        ids,
        lengths,
        targets,
        positions,
        0.5,
        info,
        torch.tensor(subject_pos, dtype=torch.long) + 1,
    )


# -- language modelling --------------------------------------------------------

LIGHTHOUSE = """\
Mara kept the light on Gull Rock for eleven winters. Each evening she climbed the
ninety-one steps with a can of oil in one hand and a rag in the other, and each
evening she counted them aloud, because the counting kept the wind out of her head.

The lamp was older than the keeper. Its brass had gone the colour of weak tea, and
the great lens threw the flame out in long slow spokes that swept the water and the
rocks and the roofs of the village across the bay. Fishermen said they could set a
clock by it. Mara said a clock had never climbed ninety-one steps in a gale.

In the spring a boy rowed out with the post and a sack of flour. He asked her whether
she was lonely. She showed him the logbook instead: ships seen, ships warned, one
small boat towed in with a broken oar and two cold brothers inside it. The boy read
every line and then asked if he could come back on Sunday to learn the knots.

He came back on Sunday, and on the Sunday after that. By the autumn he could trim the
wick, polish the lens without a streak, and read the sky well enough to say when the
fog would roll in from the west. Mara still counted the steps aloud. Now there were
two voices counting, and the wind stayed outside where it belonged.
"""


def language_model(
    text: str | None = None,
    *,
    tokenizer: str = "char",
    seq_len: int = 64,
    stride: int | None = None,
    vocab: Vocab | None = None,
) -> TaskData:
    """Next-token prediction on ``text`` (default: :data:`LIGHTHOUSE`), cut into windows.

    The token stream s_0 … s_{M-1} is cut into windows of ``seq_len + 1``
    tokens, starting every ``stride`` tokens (default ``seq_len``).  A window
    w gives ids = w[:-1] and targets = w[1:]: at every position j the network,
    having read s_0 … s_j of the window, predicts s_{j+1}.

    Args:
        text: any string; None uses the built-in :data:`LIGHTHOUSE`.
        tokenizer: ``"char"`` or ``"word"`` (see :mod:`attn_widget.text`).
        seq_len: T, tokens per window.
        stride: distance between window starts (defaults to ``seq_len``).
        vocab: reuse a vocabulary (e.g. the training set's for a held-out
            text); unknown tokens become ``<unk>``.  Built from the text if None.

    Returns:
        :class:`TaskData` with ``classes = None`` (the classes are the vocabulary),
        ``targets`` (N, T), ``labels`` the next-token lists and ``chance`` =
        1 / (number of real tokens in the vocabulary).
    """
    if text is None:
        text = LIGHTHOUSE
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")
    if tokenizer not in TOKENIZERS:
        raise ValueError(f"tokenizer must be one of {tuple(TOKENIZERS)}, got {tokenizer!r}")
    check_count("seq_len", seq_len)
    stride = seq_len if stride is None else stride
    check_count("stride", stride)
    stream = TOKENIZERS[tokenizer](text)
    if len(stream) < 2:
        raise ValueError(
            f"the text has {len(stream)} {tokenizer} token(s); language modelling needs at least 2"
        )
    vocab = vocab if vocab is not None else Vocab.build([stream])
    encoded = vocab.encode(stream)
    starts = list(range(0, len(stream) - 1, stride))  # every window has ≥ 2 tokens
    tokens, labels, inputs, outputs = [], [], [], []
    for s in starts:
        window = stream[s : s + seq_len + 1]
        tokens.append(window[:-1])
        labels.append(window[1:])
        inputs.append(encoded[s : s + len(window) - 1])
        outputs.append(encoded[s + 1 : s + len(window)])
    ids, lengths = _pad(inputs)
    targets, _ = _pad(outputs, value=IGNORE)
    info = {"tokenizer": tokenizer, "seq_len": seq_len, "stride": stride, "starts": starts}
    chance = 1 / max(1, len(vocab) - 2)
    return TaskData("lm", tokens, labels, vocab, None, ids, lengths, targets, None, chance, info)


# The classification tasks by name, as a checkpoint's metadata records them.
GENERATORS = {"lookup": lookup, "recall": recall, "agreement": agreement}
