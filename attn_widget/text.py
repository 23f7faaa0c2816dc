"""Text in, vectors out: tokenizers, a vocabulary, and a model that reads strings.

    text ─► tokenize ─► Vocab.encode ─► ids ─► Embedding ─► x_1 … x_T ─► SelfAttentionRNN

``TextRNN`` bundles an embedding, a :class:`SelfAttentionRNN` and an optional
output head, and can step through a string with the same stepper the widget uses.

**Chinese.**  Chinese is written without spaces, so :func:`word_tokenize` splits
each run of Han characters with a segmenter: ``"jieba"``, jieba's dictionary and
word model as served by the ``rjieba`` package (the optional extra
``attn_widget[zh]``), or ``"chars"``, one token per character, which needs
nothing and is used when rjieba is not installed (docs/design.md §4, "Chinese
text", says why rjieba rather than jieba, pkuseg, LAC or thulac).
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
from .core.checks import check_sizes, check_weight_count, check_weights_finite

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


_MARKS = _mark_ranges()
# Han (Chinese characters, Japanese kanji): the CJK ideograph blocks, their
# compatibility forms and the ideographic iteration mark, zero and numerals.
_HAN = (
    "\u3005\u3007\u3021-\u3029\u3038-\u303b\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
    "\U00020000-\U000323af"
)
# Japanese hiragana and katakana, full and half width, and the kana supplement.
_KANA = "\u3041-\u309f\u30a0-\u30ff\u31f0-\u31ff\uff66-\uff9f\U0001b000-\U0001b16f"
# A letter of a space-separated script: a word character that is neither Han nor
# kana, or a combining mark.
_LETTER = rf"(?:[^\W{_HAN}{_KANA}]|[{_MARKS}])"
_TOKEN = re.compile(
    rf"(?P<han>(?:[{_HAN}][{_MARKS}]*)+)"  # a run of Han: segmented
    rf"|[{_KANA}][{_MARKS}]*"  # one kana
    rf"|{_LETTER}+(?:['’]{_LETTER}+)*"  # a word: Latin, Cyrillic, Hangul, digits, …
    r"|[^\w\s]"  # one punctuation mark or symbol
)
_HAN_CHAR = re.compile(rf"[{_HAN}][{_MARKS}]*")
_HAN_PAIR = re.compile(rf"[{_HAN}][{_MARKS}]*[{_HAN}]")
_ONLY_MARKS = re.compile(rf"[{_MARKS}]+")
_SURROGATE = re.compile("[\ud800-\udfff]")

SEGMENTERS = ("jieba", "chars")
_JIEBA_INSTALL = "pip install rjieba (or pip install 'attn_widget[zh]')"
_jieba = None  # our own rjieba.Jieba: words a user adds to rjieba's default one do not reach it


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


def _check_encodable(text: str, what: str) -> None:
    """Refuse a str that UTF-8 cannot encode (a lone surrogate): it cannot reach the browser."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as error:
        raise ValueError(
            f"{what} {text[:40]!r} holds {text[error.start : error.end]!r} at index "
            f"{error.start}, which UTF-8 cannot encode (a lone surrogate, half of a UTF-16 "
            "pair); it cannot be shown or sent"
        ) from None


def _jieba_cut():
    """rjieba's cut on a dictionary of our own, or None when rjieba is not installed.

    The import runs on every call (a dict lookup once imported), so that a test
    can hide the package with ``sys.modules["rjieba"] = None``."""
    global _jieba
    try:
        import rjieba
    except ImportError:
        return None
    if _jieba is None:
        _jieba = rjieba.Jieba()
    return _jieba.cut


def default_segmenter() -> str:
    """``"jieba"`` when rjieba is installed, else ``"chars"``: what
    :func:`word_tokenize` uses for Chinese unless told."""
    return "chars" if _jieba_cut() is None else "jieba"


def _check_segmenter(segmenter: object) -> None:
    if segmenter not in SEGMENTERS:
        raise ValueError(f"segmenter must be one of {SEGMENTERS} or None, got {segmenter!r}")


def _segment_han(run: str, segmenter: str | None) -> list[str]:
    if segmenter != "chars":
        cut = _jieba_cut()
        if cut is not None:
            words: list[str] = []
            for word in cut(run):
                if words and _ONLY_MARKS.fullmatch(word):
                    words[-1] += word  # a variation selector stays on its character
                else:
                    words.append(word)
            return words
        if segmenter == "jieba":
            raise ModuleNotFoundError(
                "segmenter='jieba' needs the rjieba package, which is not installed: "
                f"{_JIEBA_INSTALL}; segmenter='chars' reads Chinese one character at a time"
            )
    return _HAN_CHAR.findall(run)


def word_tokenize(text: str, *, lower: bool = True, segmenter: str | None = None) -> list[str]:
    """Split text into words and single punctuation marks, after :func:`normalize_text`.

    Words are runs of letters, digits and combining marks, with inner
    apostrophes (``isn't``): Latin, Cyrillic, Greek, Korean Hangul, ….  Scripts
    written without spaces between words are split so:

    - Chinese (each run of Han characters, also Japanese kanji): by ``segmenter``,
      ``"jieba"`` into words (needs rjieba, ``pip install 'attn_widget[zh]'``),
      ``"chars"`` into characters, or None for jieba when rjieba is installed and
      characters when not (:func:`default_segmenter`);
    - Japanese kana: one token per character (no Japanese segmenter is offered).

    Digits and Latin letters inside Chinese text stay words of their own.  Thai,
    Lao, Khmer and Burmese, also written without spaces, are not segmented.

    >>> word_tokenize("The key, to the cabinets, is rusty.")
    ['the', 'key', ',', 'to', 'the', 'cabinets', ',', 'is', 'rusty', '.']
    >>> word_tokenize("我有3个iPhone。", segmenter="chars")
    ['我', '有', '3', '个', 'iphone', '。']
    """
    if segmenter is not None:
        _check_segmenter(segmenter)
    text = normalize_text(text)
    tokens: list[str] = []
    for match in _TOKEN.finditer(text.lower() if lower else text):
        run = match.group("han")
        if run is None:
            tokens.append(match.group())
        else:
            tokens += _segment_han(run, segmenter)
    return tokens


def has_han_words(tokens: Iterable[str]) -> bool:
    """Whether any token holds two Han characters or more: a vocabulary made by a
    word segmenter rather than one Chinese character per token."""
    return any(_HAN_PAIR.search(token) for token in tokens)


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
            _check_encodable(token, "token")
            if token not in self.stoi:
                self.stoi[token] = len(self.itos)
                self.itos.append(token)

    @classmethod
    def from_list(cls, itos: Sequence[str]) -> Vocab:
        """The vocabulary :meth:`to_list` gave: every token by id, ``<pad>`` and ``<unk>`` first.

        A saved embedding's row i belongs to ``itos[i]``, so the list is taken as it
        is or refused: a list that does not start with ``<pad>``, ``<unk>`` (it was
        not made by :meth:`to_list`) or holds a token twice (two rows, one id) would
        otherwise give some rows to other words.
        """
        if isinstance(itos, str) or not isinstance(itos, Sequence):
            raise TypeError(f"the vocabulary must be a list of str, got {type(itos).__name__}")
        if list(itos[:2]) != [PAD, UNK]:
            raise ValueError(
                f"the vocabulary must start with {PAD!r}, {UNK!r} (ids 0 and 1), got "
                f"{list(itos[:2])!r}"[:300]
            )
        vocab = cls(itos[2:])
        if len(vocab) != len(itos):
            counts = Counter(itos)
            twice = next(token for token in itos if counts[token] > 1)
            raise ValueError(
                f"the vocabulary holds {twice!r} twice; each token must have one id"[:300]
            )
        return vocab

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
        """Every token by id, for saving (:meth:`from_list` rebuilds it)."""
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
        segmenter: how a ``"word"`` model splits Chinese (see :func:`word_tokenize`):
            ``"jieba"`` or ``"chars"``.  None reads the vocabulary: ``"jieba"`` if it
            holds a token of two Han characters or more (it was made by a word
            segmenter), else ``"chars"``.  Stored in :meth:`config`, so a saved
            model reads text the same way wherever it is loaded; where rjieba is
            missing, a ``"jieba"`` model refuses Chinese text with
            ModuleNotFoundError rather than read it as characters it never learned.

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
        segmenter: str | None = None,
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
        if tokenizer == "char":
            if segmenter is not None:
                raise ValueError(
                    f"segmenter applies to tokenizer='word' only; a char model reads every "
                    f"character, got segmenter={segmenter!r}"
                )
        elif segmenter is None:
            segmenter = "jieba" if has_han_words(vocab.itos) else "chars"
        else:
            _check_segmenter(segmenter)
        # Before the embedding is allocated: the recurrent part checks its own sizes
        # only once the embedding exists.
        check_sizes(embed_size=embed_size, hidden_size=hidden_size, attn_size=attn_size)
        outside = len(vocab) * embed_size + (hidden_size + 1) * (n_outputs or 0)
        check_weight_count(update, embed_size, hidden_size, attn_size, extra=outside)
        self.vocab = vocab
        self.tokenizer = tokenizer
        self.segmenter = segmenter
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

    def weight_shapes(self) -> dict[str, tuple[int, ...] | None]:
        """The embedding's and the head's shapes (the recurrent part states its own):
        one row per word of the vocabulary, of the size the recurrent part reads; a
        head reading h (any number of outputs)."""
        shapes = {"embed.weight": (len(self.vocab), self.rnn.input_size)}
        if self.out is not None:
            n_outputs = self.out.weight.shape[0]
            shapes |= {"out.weight": (n_outputs, self.rnn.hidden_size), "out.bias": (n_outputs,)}
        return shapes

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
            "segmenter": self.segmenter,
        }
        if isinstance(self.rnn, LSTMN):
            config["zero_slot"] = self.rnn.zero_slot
        return config

    @classmethod
    def from_config(cls, config: dict) -> TextRNN:
        """The model :meth:`config` describes, untrained.  A config saved before the
        segmenter was stored has none: it is read from the vocabulary, as for a new model."""
        config = dict(config)
        vocab = Vocab.from_list(config.pop("vocab"))
        embed_size, hidden_size = config.pop("embed_size"), config.pop("hidden_size")
        if config.get("update") == "lstmn":
            config.setdefault("zero_slot", True)  # how every LSTMN was built before the option
        return cls(vocab, embed_size, hidden_size, **config)

    def tokenize(self, text: str) -> list[str]:
        """``text`` split as this model was trained to read it (its tokenizer and segmenter)."""
        if self.tokenizer == "char":
            return char_tokenize(text)
        try:
            return word_tokenize(text, segmenter=self.segmenter)
        except ModuleNotFoundError:
            words = [t for t in self.vocab.itos if _HAN_PAIR.search(t)][:3]
            held = f" (its vocabulary holds words such as {words})" if words else ""
            raise ModuleNotFoundError(
                f"this model reads Chinese as words split by jieba{held}, but rjieba is not "
                f"installed here: {_JIEBA_INSTALL}. Read as characters instead, the text "
                "would become tokens the model never learned"
            ) from None

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
        check_weights_finite(self, skip="rnn.")  # the embedding and the head; rnn checks its own
        if ids.device != self.embed.weight.device:
            raise ValueError(
                f"ids are on {ids.device} but the model is on {self.embed.weight.device}"
            )
        if ids.numel() and (int(ids.min()) < 0 or int(ids.max()) >= len(self.vocab)):
            raise ValueError(
                f"token ids must be in 0 … {len(self.vocab) - 1}, got "
                f"{int(ids.min())} … {int(ids.max())}"
            )
        trace = self.rnn(self.embed(ids.long()), lengths, knockout=knockout)
        logits = self.out(trace.h[..., 1:, :]) if self.out is not None else None
        return trace, logits

    def stepper(self, text: str | Sequence[str], *, knockout=None) -> tuple[list[str], Stepper]:
        """Tokens and a :class:`Stepper` over their embeddings; ``knockout`` as for
        :meth:`Stepper.set_knockout`."""
        tokens, x = self.embed_text(text)
        return tokens, self.rnn.stepper(x.detach(), knockout=knockout)
