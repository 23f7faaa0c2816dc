"""Checks of what a session shows: token text, positions and the input an edit
names.  Each raises a TypeError or ValueError that says what was expected and
what came (docs/design.md §4)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..core.checks import knockout_slots

#: The most inputs a session shows.  Its step records grow as T² (α and the scores
#: of step t hold t+1 values each: about 4·T² bytes in float32, 400 MB at T =
#: 10,000, and a view's α matrix has T² cells), and one click on the last position
#: asks for all of them; past this a sequence is refused, not computed for minutes.
MAX_INPUTS = 10_000


def check_length(T: int, what: str = "the sequence") -> None:
    """At most MAX_INPUTS inputs (see there)."""
    if T > MAX_INPUTS:
        raise ValueError(
            f"{what} has T = {T:,} inputs; a widget shows at most MAX_INPUTS = "
            f"{MAX_INPUTS:,}: its steps take about 4·T² bytes ({4 * T * T / 1e9:.1f} GB "
            "here) and T² cells of α; show a part of it"
        )


#: The longest text a session reads from Python, checked before it is tokenized
#: (the view's text box reads at most protocol.MAX_TEXT_CHARS).  A word and its
#: space take two characters or more, so a text of MAX_INPUTS words fits; the
#: tokens are then held to MAX_INPUTS.
MAX_TEXT_CHARS_READ = 20 * MAX_INPUTS


#: The longest token, title or label: text shown on one chip of the view, and sent in
#: synced traits (a 10 MB token used to go to the browser whole).  The tokens of a
#: sequence together hold at most MAX_TEXT_CHARS_READ characters, the text a session
#: reads from Python.
MAX_TOKEN_CHARS = 1_000


def check_text(text) -> None:
    """A text to read, at most MAX_TEXT_CHARS_READ characters, or a list of at most
    MAX_INPUTS words: refused before a tokenizer spends time on it."""
    if isinstance(text, str):
        if len(text) > MAX_TEXT_CHARS_READ:
            raise ValueError(
                f"the text is {len(text):,} characters long; a widget reads at most "
                f"MAX_TEXT_CHARS_READ = {MAX_TEXT_CHARS_READ:,} (and shows at most MAX_INPUTS = "
                f"{MAX_INPUTS:,} tokens): show a part of it"
            )
    elif isinstance(text, (list, tuple)):
        check_length(len(text), "the list of words")


def check_token(token, what: str) -> str:
    """``token`` as text the browser can receive: a str that UTF-8 can carry, at most
    MAX_TOKEN_CHARS long."""
    if not isinstance(token, str):
        raise TypeError(f"{what} must be a str, got {type(token).__name__}: {token!r}"[:300])
    if len(token) > MAX_TOKEN_CHARS:
        raise ValueError(
            f"{what} is {len(token):,} characters long ({token[:20]!r}…); a token, title or "
            f"label holds at most MAX_TOKEN_CHARS = {MAX_TOKEN_CHARS:,}"
        )
    try:
        token.encode("utf-8")
    except UnicodeEncodeError as error:
        raise ValueError(
            f"{what} = {token!r} holds a lone surrogate, half of a UTF-16 pair, "
            "which cannot be sent to the browser"
        ) from error
    return token


def check_tokens(tokens, T: int) -> list[str]:
    """One token per input: a list of T strs, T at most MAX_INPUTS."""
    check_length(T)
    if isinstance(tokens, str):
        raise TypeError(
            "tokens must be a list of str, one per input, got a single str; "
            "to split text use AttentionWidget.from_text(text_model, text)"
        )
    if not isinstance(tokens, (list, tuple)):
        raise TypeError(f"tokens must be a list of str, got {type(tokens).__name__}")
    for i, token in enumerate(tokens):
        check_token(token, f"tokens[{i}]")
    check_total_chars(tokens)
    if len(tokens) != T:
        raise ValueError(
            f"tokens must have one entry per input: inputs has T = {T} rows, "
            f"got {len(tokens)} tokens"
        )
    return list(tokens)


def check_total_chars(tokens: Sequence[str]) -> None:
    """The tokens of a sequence hold at most MAX_TEXT_CHARS_READ characters in all."""
    total = sum(len(token) for token in tokens)
    if total > MAX_TEXT_CHARS_READ:
        raise ValueError(
            f"the tokens hold {total:,} characters in all; a sequence's tokens hold at most "
            f"MAX_TEXT_CHARS_READ = {MAX_TEXT_CHARS_READ:,}, as a text read from Python does"
        )


def check_position(k, T: int, what: str = "position") -> int:
    """A position k in 0 … T, as an int (numpy integers too)."""
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)):
        raise TypeError(f"{what} must be an int in 0 … T = {T}, got {type(k).__name__}: {k!r}")
    if not 0 <= int(k) <= T:
        raise ValueError(f"{what} must be in 0 … T = {T}, got {int(k)}")
    return int(k)


def check_edit_index(i, T: int) -> int:
    """The input a what-if replaces: i in 1 … T."""
    if isinstance(i, bool) or not isinstance(i, (int, np.integer)):
        raise TypeError(f"the input to edit must be an int in 1 … T = {T}, got {i!r}")
    if not 1 <= int(i) <= T:
        raise ValueError(f"the input to edit must be in 1 … T = {T}, got {int(i)}")
    return int(i)


def check_top(top) -> int | None:
    """How many of a head's classes to list: None (the session's top_k) or an int ≥ 1."""
    if top is None:
        return None
    if isinstance(top, bool) or not isinstance(top, (int, np.integer)) or top < 1:
        raise ValueError(f"top must be a positive int, got {top!r}")
    return int(top)


def shortened(values: list, most: int = 8) -> str:
    """A list for an error message, cut after ``most`` items (a forged message may
    hold a hundred thousand), with how many there were."""
    if len(values) <= most:
        return str(values)
    return f"[{', '.join(map(str, values[:most]))}, …] ({len(values)} of them)"


def check_knockout_slots(slots, T: int) -> tuple[int, ...]:
    """Slots to hide from attention: distinct ints in 0 … T (slot 0 is ⟨start⟩,
    h_0; slot i is h_i, made after reading x_i), or a 1-D bool mask; sorted."""
    new = knockout_slots(slots)
    outside = [i for i in new if i > T]
    if outside:
        raise ValueError(
            f"knockout slots must be in 0 … T = {T} (slot 0 is ⟨start⟩, h_0; slot i is h_i, "
            f"made after reading x_i), got {shortened(outside)}"
        )
    return new
