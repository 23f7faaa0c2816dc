"""Text in, vectors out: tokenizers, a vocabulary, and a model that reads strings.

    text ─► tokenize ─► Vocab.encode ─► ids ─► Embedding ─► x_1 … x_T ─► SelfAttentionRNN

``TextRNN`` bundles an embedding, a :class:`SelfAttentionRNN` and an optional
output head, and can step through a string with the same stepper the widget uses.
"""

from __future__ import annotations

import numbers
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence

import torch
from torch import Tensor, nn

from .core import LSTMN, UPDATE_NAMES, LSTMNTrace, SelfAttentionRNN, Stepper, Trace
from .core.rnn import _check_weights_finite

PAD, UNK = "<pad>", "<unk>"


def _mark_ranges() -> str:
    """A regex class body for the combining marks (Unicode category M) of the BMP:
    Python's \\w leaves them out, so without them "हिंदी" would split at its vowel signs."""
    ranges, start = [], None
    for code in range(0x10000 + 1):
        is_mark = code < 0x10000 and unicodedata.category(chr(code)).startswith("M")
        if is_mark and start is None:
            start = code
        elif not is_mark and start is not None:
            ranges.append(f"\\u{start:04x}-\\u{code - 1:04x}")
            start = None
    return "".join(ranges)


_LETTER = rf"[\w{_mark_ranges()}]"
_WORD = re.compile(rf"{_LETTER}+(?:['’]{_LETTER}+)*|[^\w\s]")
_SURROGATE = re.compile("[\ud800-\udfff]")


def normalize_text(text: str) -> str:
    """The text every tokenizer splits: Unicode NFC, without invisible format characters.

    NFC composes "e" + a combining accent into "é", so a word typed either way is
    one token.  Format characters (Unicode category Cf: zero-width spaces and
    joiners, the byte-order mark, direction marks) are removed: they would
    otherwise split words or make tokens that look alike but differ.  A lone
    surrogate (half of a UTF-16 pair, which no text encoding can carry) is refused.

    >>> normalize_text("cafe\u0301 key\u200bring")
    'café keyring'
    """
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")
    surrogate = _SURROGATE.search(text)
    if surrogate is not None:
        i = surrogate.start()
        raise ValueError(
            f"text has a lone surrogate {surrogate.group()!r} at index {i} "
            f"(after {text[max(0, i - 10) : i]!r}); it is half of a UTF-16 pair and "
            "cannot be shown or sent"
        )
    text = unicodedata.normalize("NFC", text)
    return "".join(ch for ch in text if unicodedata.category(ch) != "Cf")


def word_tokenize(text: str, *, lower: bool = True) -> list[str]:
    """Split text into words and single punctuation marks, after :func:`normalize_text`.

    >>> word_tokenize("The key, to the cabinets, is rusty.")
    ['the', 'key', ',', 'to', 'the', 'cabinets', ',', 'is', 'rusty', '.']
    """
    text = normalize_text(text)
    return _WORD.findall(text.lower() if lower else text)


def char_tokenize(text: str, *, lower: bool = False) -> list[str]:
    """Split text into characters (spaces included), after :func:`normalize_text`.

    >>> char_tokenize("ab c")
    ['a', 'b', ' ', 'c']
    """
    text = normalize_text(text)
    return list(text.lower() if lower else text)


TOKENIZERS = {"word": word_tokenize, "char": char_tokenize}


class Vocab:
    """A token ↔ id map with ``<pad>`` = 0 and ``<unk>`` = 1.

    Args:
        tokens: the tokens to index, in order; duplicates and specials are skipped.

    Example::

        >>> v = Vocab(["the", "key"])
        >>> v.encode(["the", "door"])
        [2, 1]
        >>> v.decode([2, 1])
        ['the', '<unk>']
    """

    def __init__(self, tokens: Iterable[str] = ()):
        if isinstance(tokens, str):
            raise TypeError(
                f"tokens must be a list of str, got the str {tokens[:40]!r}; for a vocabulary "
                "of its characters pass list(text), for its words word_tokenize(text)"
            )
        self.itos: list[str] = [PAD, UNK]
        self.stoi: dict[str, int] = {PAD: 0, UNK: 1}
        for token in tokens:
            if not isinstance(token, str):
                raise TypeError(f"tokens must be str, got {type(token).__name__}: {token!r}")
            if token not in self.stoi:
                self.stoi[token] = len(self.itos)
                self.itos.append(token)

    @classmethod
    def build(cls, corpus: Iterable[Sequence[str]], *, min_freq: int = 1) -> Vocab:
        """Index every token seen at least ``min_freq`` times, most frequent first."""
        counts = Counter(token for sentence in corpus for token in sentence)
        ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
        return cls(token for token, n in ranked if n >= min_freq)

    pad_id, unk_id = 0, 1

    def __len__(self) -> int:
        return len(self.itos)

    def __contains__(self, token: object) -> bool:
        return token in self.stoi

    def __repr__(self) -> str:
        return f"Vocab({len(self)} tokens)"

    def encode(self, tokens: Sequence[str], *, strict: bool = False) -> list[int]:
        """Ids for tokens; unknown tokens map to ``<unk>``, or raise if ``strict``."""
        if isinstance(tokens, str):
            raise TypeError("encode expects a list of tokens, got a str; tokenize it first")
        for i, token in enumerate(tokens):
            if not isinstance(token, str):
                raise TypeError(f"tokens[{i}] must be a str, got {type(token).__name__}: {token!r}")
        if strict:
            unknown = [token for token in tokens if token not in self.stoi]
            if unknown:
                raise ValueError(f"unknown tokens (not in the vocabulary): {unknown[:5]!r}")
        return [self.stoi.get(token, self.unk_id) for token in tokens]

    def decode(self, ids: Iterable[int]) -> list[str]:
        """Tokens for ids."""
        out = []
        for i in ids:
            if isinstance(i, Tensor) and i.numel() == 1 and not i.is_floating_point():
                i = i.item()
            if isinstance(i, bool) or not isinstance(i, numbers.Integral):
                raise TypeError(f"ids must be ints, got {type(i).__name__}: {i!r}")
            i = int(i)
            if not 0 <= i < len(self.itos):
                raise ValueError(f"id {i} is out of range for a vocabulary of {len(self)}")
            out.append(self.itos[i])
        return out

    def to_list(self) -> list[str]:
        """Every token by id, for saving (``Vocab(lst[2:])`` rebuilds it)."""
        return list(self.itos)


class TextRNN(nn.Module):
    """Embedding + SelfAttentionRNN (or LSTMN) + optional linear head, reading tokens of text.

    Args:
        vocab: the :class:`Vocab`.
        embed_size: D, the size of each embedded token x_t.
        hidden_size: H.
        update, align, attn_size: passed to :class:`SelfAttentionRNN`; ``update =
            "lstmn"`` builds an :class:`~attn_widget.core.LSTMN` instead (its score
            is its own, so ``align`` is not used).
        n_outputs: size of an optional head ``out(h_t)`` (a classifier or a
            next-token predictor); None for no head.
        tokenizer: ``"word"`` or ``"char"``.
        zero_slot: the LSTMN's option (``update="lstmn"`` only): offer the
            all-zero slot h_0 = m_0 = 0 to attention (the default), or not (the
            paper's cell).  The SimpleRNN models always attend over h_0 … h_t.

    Attributes:
        embed: ``nn.Embedding(len(vocab), D, padding_idx=0)``.
        rnn: the :class:`SelfAttentionRNN` or :class:`~attn_widget.core.LSTMN`.
        out: ``nn.Linear(H, n_outputs)`` or None.

    Example::

        >>> vocab = Vocab(word_tokenize("the key to the cabinets is here"))
        >>> model = TextRNN(vocab, 8, 16)
        >>> tokens, x = model.embed_text("the key is here")
        >>> tokens, x.shape
        (['the', 'key', 'is', 'here'], torch.Size([4, 8]))
    """

    def __init__(
        self,
        vocab: Vocab,
        embed_size: int,
        hidden_size: int,
        *,
        update: str = "eq4",
        align: str = "dot",
        attn_size: int | None = None,
        n_outputs: int | None = None,
        tokenizer: str = "word",
        zero_slot: bool = True,
    ):
        super().__init__()
        if not isinstance(vocab, Vocab):
            raise TypeError(
                f"vocab must be a Vocab (Vocab(tokens) or Vocab.build(corpus)), "
                f"got {type(vocab).__name__}"
            )
        if n_outputs is not None and (
            isinstance(n_outputs, bool) or not isinstance(n_outputs, int) or n_outputs < 1
        ):
            raise ValueError(
                f"n_outputs must be a positive int (the head's classes) or None for no head, "
                f"got {n_outputs!r}"
            )
        if not isinstance(update, str) or update not in (*UPDATE_NAMES, "lstmn"):
            raise ValueError(f"update must be one of {(*UPDATE_NAMES, 'lstmn')}, got {update!r}")
        if update != "lstmn" and zero_slot is not True:
            raise ValueError(
                f"zero_slot is the LSTMN's option (update='lstmn'); the {update!r} model "
                f"always attends over h_0 … h_t, got zero_slot={zero_slot!r}"
            )
        if tokenizer not in TOKENIZERS:
            raise ValueError(f"tokenizer must be one of {tuple(TOKENIZERS)}, got {tokenizer!r}")
        self.vocab = vocab
        self.tokenizer = tokenizer
        self.embed = nn.Embedding(len(vocab), embed_size, padding_idx=Vocab.pad_id)
        if update == "lstmn":
            self.rnn: SelfAttentionRNN | LSTMN = LSTMN(
                embed_size, hidden_size, attn_size, zero_slot=zero_slot
            )
        else:
            self.rnn = SelfAttentionRNN(
                embed_size, hidden_size, update=update, align=align, attn_size=attn_size
            )
        self.out = nn.Linear(hidden_size, n_outputs) if n_outputs else None

    def config(self) -> dict:
        """Everything needed to rebuild this model (without its weights).  An LSTMN's
        adds ``zero_slot``; a config without it (saved before the option) means True."""
        config = {
            "vocab": self.vocab.to_list(),
            "embed_size": self.embed.embedding_dim,
            "hidden_size": self.rnn.hidden_size,
            "update": "lstmn" if isinstance(self.rnn, LSTMN) else self.rnn.update,
            "align": getattr(self.rnn, "align_name", None) or "dot",
            "attn_size": self.rnn.attn_size,
            "n_outputs": self.out.out_features if self.out is not None else None,
            "tokenizer": self.tokenizer,
        }
        if isinstance(self.rnn, LSTMN):
            config["zero_slot"] = self.rnn.zero_slot
        return config

    @classmethod
    def from_config(cls, config: dict) -> TextRNN:
        config = dict(config)
        vocab = Vocab(config.pop("vocab")[2:])
        embed_size, hidden_size = config.pop("embed_size"), config.pop("hidden_size")
        if config.get("update") == "lstmn":
            config.setdefault("zero_slot", True)  # how every LSTMN was built before the option
        return cls(vocab, embed_size, hidden_size, **config)

    def tokenize(self, text: str) -> list[str]:
        return TOKENIZERS[self.tokenizer](text)

    def encode(self, text: str | Sequence[str]) -> tuple[list[str], Tensor]:
        """Tokens and their ids (T,) for a string or an already tokenized list."""
        if isinstance(text, str):
            tokens = self.tokenize(text)
        elif isinstance(text, Tensor) or not isinstance(text, Sequence):
            raise TypeError(
                "text must be a str or a list of token strings, got "
                f"{type(text).__name__} (for token ids call the model: model(ids))"
            )
        else:  # given tokens: the same normalisation as the tokenizers'
            tokens = [normalize_text(t) if isinstance(t, str) else t for t in text]
        if not tokens:
            raise ValueError(f"no tokens in the text {text!r}")
        ids = torch.tensor(self.vocab.encode(tokens), device=self.embed.weight.device)
        return tokens, ids

    def embed_text(self, text: str | Sequence[str]) -> tuple[list[str], Tensor]:
        """Tokens and their embeddings x_1 … x_T, shape (T, D)."""
        tokens, ids = self.encode(text)
        return tokens, self.embed(ids)

    def forward(
        self, ids: Tensor, lengths: Tensor | None = None, *, knockout: Tensor | None = None
    ) -> tuple[Trace | LSTMNTrace, Tensor | None]:
        """ids (B, T) or (T,) -> (trace, logits (…, T, n_outputs) at h_1 … h_T, or None).

        ``knockout``: states hidden from attention, a bool (…, T+1) mask passed to
        the recurrent model (see :meth:`SelfAttentionRNN.forward`)."""
        if not isinstance(ids, Tensor) or ids.is_floating_point() or ids.dtype == torch.bool:
            raise TypeError(
                "ids must be an integer tensor of token ids, "
                f"got {getattr(ids, 'dtype', type(ids).__name__)}"
            )
        if ids.numel() and (int(ids.min()) < 0 or int(ids.max()) >= len(self.vocab)):
            raise ValueError(
                f"token ids must be in 0 … {len(self.vocab) - 1}, got "
                f"{int(ids.min())} … {int(ids.max())}"
            )
        _check_weights_finite(self, skip="rnn.")  # the embedding and the head; rnn checks its own
        trace = self.rnn(self.embed(ids.long()), lengths, knockout=knockout)
        logits = self.out(trace.h[..., 1:, :]) if self.out is not None else None
        return trace, logits

    def stepper(self, text: str | Sequence[str], *, knockout=None) -> tuple[list[str], Stepper]:
        """Tokens and a :class:`Stepper` over their embeddings; ``knockout`` as for
        :meth:`Stepper.set_knockout`."""
        tokens, x = self.embed_text(text)
        return tokens, self.rnn.stepper(x.detach(), knockout=knockout)
