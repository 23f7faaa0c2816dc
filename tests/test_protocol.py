"""The two halves of the protocol agree: every constant ``js/src/protocol.ts``
shares with ``attn_widget/protocol.py`` has the same value, and the kernel
answers every message type the front end may send."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from attn_widget import protocol

PROTOCOL_TS = Path(__file__).resolve().parent.parent / "js" / "src" / "protocol.ts"
SHARED = [
    "KERNEL_MESSAGES",
    "FRONT_END_MESSAGES",
    "STEP_REASONS",
    "STEP_FIELDS",
    "FRONT_END_TRAITS",
    "MIN_SPEED",
    "MAX_SPEED",
    "SHADINGS",
    "SNAPSHOT_MAGIC",
    "STEP_DATA_LIMIT",
    "MAX_TOP_K",
    "ZERO_INPUT",
    "MAX_TEXT_CHARS",
]


def ts_constants() -> dict:
    """``export const NAME = <JSON literal> [as const];`` from protocol.ts."""
    found = {}
    for name, literal in re.findall(
        r"^export const (\w+) = (.+?)(?: as const)?;$", PROTOCOL_TS.read_text(), re.M
    ):
        found[name] = json.loads(literal)
    return found


def python_value(name: str):
    value = getattr(protocol, name)
    if isinstance(value, bytes):
        return value.decode("ascii")
    return list(value) if isinstance(value, tuple) else value


@pytest.mark.parametrize("name", SHARED)
def test_shared_constant_has_one_value(name):
    ts = ts_constants()
    assert name in ts, f"js/src/protocol.ts does not export {name}"
    assert ts[name] == python_value(name)


def test_every_shared_constant_is_checked():
    # A constant added on one side only is a contract the other side does not know.
    shared = {n for n in dir(protocol) if n.isupper() and n != "STEP_JSON_BYTES_PER_ARRAY"}
    assert shared == set(SHARED)
    assert set(ts_constants()) == set(SHARED)


def test_kernel_answers_each_front_end_message(monkeypatch):

    import attn_widget.widget as widget_module
    from attn_widget.text import TextRNN, Vocab

    monkeypatch.setattr(widget_module, "_bundle", lambda: ("export default {};", ""))
    text_model = TextRNN(Vocab(["the", "key", "door"]), 2, 3)
    w = widget_module.AttentionWidget.from_text(text_model, "the key")
    sent = []
    monkeypatch.setattr(w, "send", lambda content, buffers=None: sent.append(content))
    requests = {
        "sync": lambda: {"type": "sync", "version": w.version, "have": 0},
        "sensitivity": lambda: {"type": "sensitivity", "version": w.version, "k": 0},
        "ping": lambda: {"type": "ping"},
        "edit": lambda: {"type": "edit", "version": w.version, "i": 2, "token": "door"},
        "undo": lambda: {"type": "undo", "version": w.version},
        "text": lambda: {"type": "text", "text": "the door"},
        "knockout": lambda: {"type": "knockout", "version": w.version, "slots": [1]},
    }
    assert set(requests) == set(protocol.FRONT_END_MESSAGES)
    for request in requests.values():
        w._answers.answer(request(), [])  # noqa: SLF001
    # an edit, an undo, a new sentence and a knockout each answer with a new version's steps
    assert [m["type"] for m in sent] == ["steps", "sensitivity", "pong"] + ["steps"] * 4
    assert [m.get("reason") for m in sent[3:]] == ["reset"] * 4
    assert w.tokens == ["the", "door"] and w.knockout == [1] and w.status == ""
    assert {m["type"] for m in sent} <= set(protocol.KERNEL_MESSAGES)
