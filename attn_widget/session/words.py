"""The words behind a session's inputs, for a session over a text model (a
``TextRNN``: its ``.rnn``, ``.embed``, ``.embed_text`` and ``.vocab``).

While the inputs are exactly the text model's embedding of words, a change to
the embedding (training) re-embeds them; an input given as a vector from
elsewhere ends that (docs/design.md §2, "What-if and your own sentence").
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from ..core import WeightWatch
from ..text import PAD, UNK, Vocab
from .checks import check_text
from .head import first_param


def read_words(text_model, text) -> tuple[list[str], Tensor, list[list]]:
    """What a text model reads from ``text``: the tokens shown (a word its
    vocabulary lacks is shown as the ``<unk>`` it is read as), x (T, D) and the
    unknown words as ``[i, word]``, the word as the tokenizer gave it (i = 1 … T).
    A text too long to show is refused before it is tokenized (:func:`check_text`)."""
    check_text(text)
    tokens, x = text_model.embed_text(text)
    tokens = list(tokens)
    vocab = getattr(text_model, "vocab", None)
    unknown = []
    if isinstance(vocab, Vocab):
        for i, token in enumerate(tokens):
            if token not in vocab:
                unknown.append([i + 1, token])
                tokens[i] = UNK
    return tokens, x.detach(), unknown


def vocabulary_of(text_model) -> list[str]:
    """The words an input may be replaced by: the vocabulary, less padding."""
    vocab = getattr(text_model, "vocab", None)
    return [w for w in vocab.to_list() if w != PAD] if isinstance(vocab, Vocab) else []


def embed_words(text_model, words: Sequence[str | None]) -> Tensor:
    """x (T, D): each word's embedding, zero where the word is None."""
    with torch.no_grad():
        present = [w for w in words if w is not None]
        x = text_model.embed_text(present)[1] if present else None
        like = x if x is not None else first_param(text_model.embed)
        out = like.new_zeros(len(words), text_model.rnn.input_size)
        rows = [i for i, w in enumerate(words) if w is not None]
        if rows:
            out[rows] = x
    return out


class Words:
    """The words a session's inputs are the embedding of (None for a zeroed input),
    and a watch on the embedding they were embedded with.  Never changed in place:
    an edit or a re-embedding makes a new one, so the history keeps each as it was."""

    def __init__(self, text_model, words: Sequence[str | None], watch: WeightWatch):
        self.text_model, self.words, self.watch = text_model, list(words), watch

    @classmethod
    def of(cls, text_model, words: Sequence[str | None]) -> Words | None:
        """The words behind inputs just embedded; None if the text model has no
        ``embed`` module to watch."""
        embed = getattr(text_model, "embed", None)
        if not isinstance(embed, nn.Module):
            return None
        return cls(text_model, words, WeightWatch(embed))

    def stale(self) -> bool:
        """Whether the embedding changed since the inputs were embedded."""
        return self.watch.changed()

    def embedded(self, like: Tensor) -> tuple[Tensor, Words]:
        """The words embedded anew, x (T, D) in ``like``'s dtype and device, and
        the Words that watch from now on."""
        x = embed_words(self.text_model, self.words).to(like)
        return x, Words(self.text_model, self.words, self.watch.renewed())

    def with_word(self, i: int, word: str | None) -> Words:
        """Input i (1 … T) is now the embedding of ``word`` (None: zero)."""
        words = list(self.words)
        words[i - 1 : i] = [word]
        return Words(self.text_model, words, self.watch)
