"""The state a widget shows, as plain objects with no Jupyter in them.

:class:`Session` holds a model's stepper over one sequence, its tokens, the
data version and the one lock; it follows weight changes, owns the output
head, the what-if edits and their history, and tells subscribers when a new
version exists.  The widget, the HTML export and the figure all read it.
"""

from .checks import (
    MAX_INPUTS,
    MAX_TEXT_CHARS_READ,
    MAX_TOKEN_CHARS,
    check_edit_index,
    check_knockout_slots,
    check_length,
    check_position,
    check_text,
    check_token,
    check_tokens,
    check_top,
    check_total_chars,
)
from .events import Moved, NewVersion, Problem
from .head import Head, Predicted, head_labels, make_head
from .model import describe_model
from .session import Session
from .words import Words, embed_words, read_words

__all__ = [
    "MAX_INPUTS",
    "MAX_TEXT_CHARS_READ",
    "MAX_TOKEN_CHARS",
    "Head",
    "Moved",
    "NewVersion",
    "Predicted",
    "Problem",
    "Session",
    "Words",
    "check_edit_index",
    "check_knockout_slots",
    "check_length",
    "check_position",
    "check_text",
    "check_token",
    "check_tokens",
    "check_top",
    "check_total_chars",
    "describe_model",
    "embed_words",
    "head_labels",
    "make_head",
    "read_words",
]
