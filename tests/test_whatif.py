"""What-if edits and your own sentence, on the kernel side: ``replace``,
``zero_input``, ``undo``, ``read_text`` and the front end's ``edit``, ``undo``
and ``text`` messages (docs/design.md §2, "What-if and your own sentence").

Every step is checked against the core: the model run on the edited input."""

from __future__ import annotations

import pytest
import torch

import attn_widget.widget as widget_module
from attn_widget import compare
from attn_widget.core import LSTMN, SelfAttentionRNN
from attn_widget.protocol import MAX_TEXT_CHARS, ZERO_INPUT
from attn_widget.text import UNK, TextRNN, Vocab, word_tokenize
from attn_widget.widget import AttentionWidget

WORDS = ["the", "key", "to", "the", "cabinets", "is", "on", "the", "table", "near", "old", "doors"]


@pytest.fixture(autouse=True)
def _stub_bundle(monkeypatch):
    monkeypatch.setattr(widget_module, "_bundle", lambda: ("export default {};", ""))


def text_model(update="eq4", seed=0):
    torch.manual_seed(seed)
    model = TextRNN(Vocab(WORDS), 4, 6, update=update, n_outputs=3).double()
    return model


def widget(text="the key to the cabinets is on the table", update="eq4"):
    tm = text_model(update)
    w = AttentionWidget.from_text(tm, text)
    w.send = lambda content, buffers=None: None
    return tm, w


def core_steps(tm, tokens):
    """The core's steps over the tokens' embeddings: the reference."""
    with torch.no_grad():
        x = tm.embed(torch.tensor(tm.vocab.encode(tokens)))
    s = tm.rnn.stepper(x)
    s.goto(s.T)
    return s.steps


def assert_steps_equal(got, want):
    assert len(got) == len(want)
    for a, b in zip(got, want, strict=True):
        torch.testing.assert_close(a.alpha, b.alpha, rtol=0, atol=1e-12)
        torch.testing.assert_close(a.h, b.h, rtol=0, atol=1e-12)


@pytest.mark.parametrize("update", ["eq4", "lstmn"])
def test_replace_recomputes_from_the_edit_and_keeps_earlier_steps(update):
    tm, w = widget(update=update)
    w.goto(w.T)
    before = [s for s in w.stepper.steps]
    w.replace(3, "door" if "door" in WORDS else "doors")
    assert w.tokens[2] == "doors" and w.t == w.T  # the position stays
    w.goto(w.T)
    after = w.stepper.steps
    for t in range(2):  # steps 0 and 1 read x_1, x_2 only: the very same records
        assert after[t] is before[t]
    assert not torch.allclose(after[2].h, before[2].h)  # step 2 read the new x_3
    for t in range(3, w.T):  # later steps attend to the new state
        assert not torch.allclose(after[t].alpha, before[t].alpha)
    assert_steps_equal(after, core_steps(tm, w.tokens))
    assert w.edits == [[3, "to", "doors"]]


def test_zero_input_reads_a_zero_vector():
    tm, w = widget()
    w.zero_input(2)
    assert w.tokens[1] == ZERO_INPUT
    assert torch.equal(w.inputs[1], torch.zeros_like(w.inputs[1]))
    w.goto(w.T)
    with torch.no_grad():
        x = tm.embed(torch.tensor(tm.vocab.encode(["the", "key", "to", "the", "cabinets"])))
    x[1] = 0
    trace = tm.rnn(x)
    torch.testing.assert_close(w.trace().alpha[:5, :6], trace.alpha, rtol=0, atol=1e-12)


def test_zero_input_of_vector_inputs_and_no_vocabulary():
    torch.manual_seed(1)
    model = SelfAttentionRNN(3, 5).double()
    x = torch.randn(4, 3, dtype=torch.float64)
    w = AttentionWidget(model, inputs=x)
    w.send = lambda content, buffers=None: None
    assert w.vocabulary == [] and not w.accepts_text and w.editable
    w.zero_input(4)
    w.goto(4)
    x0 = x.clone()
    x0[3] = 0
    # Stepped against batched: two computations, so float64 to 1e-12 (docs/design.md §5).
    torch.testing.assert_close(w.trace().h, model(x0).h, rtol=0, atol=1e-12)
    with pytest.raises(ValueError, match="vocabulary"):
        w.replace(1, "the")
    with pytest.raises(ValueError, match="from_text"):
        w.read_text("the key")
    assert w.undo() and torch.equal(w.inputs, x) and w.tokens == ["x1", "x2", "x3", "x4"]


def test_undo_returns_to_the_original_sentence_step_by_step():
    tm, w = widget()
    original = list(w.tokens)
    w.goto(6)
    first = [s.alpha.clone() for s in w.stepper.steps[:6]]
    w.replace(2, "doors")
    w.zero_input(5)
    assert [e[0] for e in w.edits] == [2, 5]
    assert w.undo() and w.tokens == [*original[:1], "doors", *original[2:]]
    assert w.edits == [[2, "key", "doors"]]
    assert w.undo() and w.tokens == original and w.edits == []
    assert not w.undo()
    w.goto(6)
    for a, b in zip(w.stepper.steps[:6], first, strict=True):
        # bit for bit: the same steps recomputed by the same stepper on the same inputs
        torch.testing.assert_close(a.alpha, b, rtol=0, atol=0)
    assert_steps_equal(w.stepper.steps, core_steps(tm, original)[: w.stepper.frontier])


def test_edits_are_observable():
    _, w = widget()
    seen = []
    w.observe(lambda change: seen.append(change["new"]), names="edits")
    w.replace(1, "old")
    w.undo()
    assert seen == [[[1, "the", "old"]], []]


def test_undo_after_training_moved_the_embedding():
    tm, w = widget()
    w.replace(2, "doors")
    with torch.no_grad():
        tm.embed.weight.add_(0.5)
    w.undo()  # the original words, embedded as the model is now
    w.goto(w.T)
    assert_steps_equal(w.stepper.steps, core_steps(tm, w.tokens))
    w.replace(2, "doors")
    with torch.no_grad():
        tm.embed.weight.mul_(1.5)
    w.goto(0)
    w.goto(w.T)  # a move follows the new embedding, the replaced word included
    assert_steps_equal(w.stepper.steps, core_steps(tm, w.tokens))


def test_replace_refuses_what_it_cannot_do():
    _, w = widget()
    with pytest.raises(ValueError, match="not in the model's vocabulary"):
        w.replace(1, "zebra")
    with pytest.raises(ValueError, match=r"1 … T"):
        w.replace(0, "the")
    with pytest.raises(ValueError, match=r"1 … T"):
        w.replace(w.T + 1, "the")
    with pytest.raises(TypeError):
        w.replace(1.0, "the")
    with pytest.raises(TypeError):
        w.replace(1, 3)
    assert w.edits == [] and w.version == 0


def test_read_text_marks_unknown_words_and_matches_the_core():
    tm, w = widget()
    w.goto(3)
    w.replace(1, "old")
    w.read_text("The zebra near the <img src=x onerror=alert(1)> table")
    typed = word_tokenize("The zebra near the <img src=x onerror=alert(1)> table")
    assert w.t == 0 and w.edits == [] and len(typed) == w.T
    assert w.tokens == [t if t in tm.vocab else UNK for t in typed]
    assert w.unknown == [[i + 1, t] for i, t in enumerate(typed) if t not in tm.vocab]
    assert w.unknown[0] == [2, "zebra"]
    w.goto(w.T)
    assert_steps_equal(w.stepper.steps, core_steps(tm, typed))
    w.replace(2, "key")  # an unknown word replaced is no longer unknown
    assert [i for i, _ in w.unknown] == [i for i, _ in w.unknown if i != 2]
    assert 2 not in [i for i, _ in w.unknown]


def test_from_text_shows_unknown_words_as_unk():
    tm = text_model()
    w = AttentionWidget.from_text(tm, "the zebra is here")
    assert w.tokens == ["the", UNK, "is", UNK]
    assert w.unknown == [[2, "zebra"], [4, "here"]]
    assert w.accepts_text and "the" in w.vocabulary and "<pad>" not in w.vocabulary


def test_read_text_refuses_empty_text_and_leaves_the_widget_as_it_was():
    _, w = widget()
    tokens, version = list(w.tokens), w.version
    with pytest.raises(ValueError, match="no tokens"):
        w.read_text("   ")
    with pytest.raises(ValueError, match="surrogate"):
        w.read_text("the \ud800 key")
    with pytest.raises(TypeError):
        w.read_text(42)
    assert w.tokens == tokens and w.version == version


def test_view_messages_answer_with_errors_never_exceptions():
    _, w = widget()
    replies = []
    w.send = lambda content, buffers=None: replies.append(content)
    tokens = list(w.tokens)
    bad = [
        {"type": "edit", "version": w.version + 1, "i": 1, "token": "old"},  # stale
        {"type": "edit", "version": w.version, "i": 99, "token": "old"},
        {"type": "edit", "version": w.version, "i": 1, "token": 7},
        {"type": "edit", "version": w.version, "i": 1, "token": "zebra"},
        {"type": "edit", "version": "0", "i": 1, "token": "old"},
        {"type": "undo", "version": w.version},  # nothing to undo
        {"type": "text", "text": None},
        {"type": "text", "text": "the " * (MAX_TEXT_CHARS // 4 + 1)},
        {"type": "text", "text": ""},
    ]
    for content in bad:
        replies.clear()
        w._answers.answer(content, [])  # noqa: SLF001
        assert [r["type"] for r in replies] == ["error"], content
        assert replies[0]["request"] == content["type"]
        assert w.status.startswith("error: ")
    assert w.tokens == tokens and w.version == 0 and w.edits == []
    w._answers.answer({"type": "edit", "version": 0, "i": 1, "token": None}, [])  # noqa: SLF001
    assert w.tokens[0] == ZERO_INPUT and w.status == ""


def test_a_comparison_offers_no_edits():
    tm = text_model()
    cmp = compare(tm, text_model(seed=1), text="the key is on the table")
    for panel in cmp.panels:
        panel.send = lambda content, buffers=None: None
        assert not panel.editable
        with pytest.raises(ValueError, match="comparison"):
            panel.replace(1, "old")
        with pytest.raises(ValueError, match="comparison"):
            panel.read_text("the key")
        replies = []
        panel.send = lambda content, buffers=None, r=replies: r.append(content)
        panel._answers.answer({"type": "text", "text": "the key"}, [])  # noqa: SLF001
        panel._answers.answer({"type": "edit", "version": panel.version, "i": 1, "token": None}, [])  # noqa: SLF001
        assert [r["type"] for r in replies] == ["error", "error"]
        assert panel.tokens == ["the", "key", "is", "on", "the", "table"]


def test_lstmn_text_model_reads_typed_text():
    tm = text_model("lstmn")
    assert isinstance(tm.rnn, LSTMN)
    w = AttentionWidget.from_text(tm, "the key")
    w.send = lambda content, buffers=None: None
    w.read_text("old doors near the zebra")
    w.goto(w.T)
    assert_steps_equal(w.stepper.steps, core_steps(tm, word_tokenize("old doors near the zebra")))


# -- found by the hostile review ------------------------------------------------------


@pytest.mark.parametrize("change", ["double", "float"])
def test_edits_and_undo_follow_a_change_of_dtype(change):
    tm, w = widget()
    if change == "float":
        tm.double()  # widget() built it in float64 already; make the change a real one
        tm.float()
    w.goto(5)
    w.replace(2, "doors")
    getattr(tm, change)()
    w.zero_input(3)  # built in the model's dtype now, not the old inputs'
    assert w.inputs.dtype == next(tm.parameters()).dtype and w.current is not None
    assert w.undo() and w.undo() and w.edits == []
    assert w.inputs.dtype == next(tm.parameters()).dtype
    w.goto(w.T)
    want = core_steps(tm, w.tokens)
    for a, b in zip(w.stepper.steps, want, strict=True):
        torch.testing.assert_close(a.alpha, b.alpha)


def test_a_failed_edit_leaves_the_widget_consistent():
    tm, w = widget()
    w.goto(5)
    version, tokens, x = w.version, list(w.tokens), w.inputs.clone()
    with torch.no_grad():
        tm.rnn.A.weight[0, 0] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        w.replace(2, "doors")
    assert w.tokens == tokens and torch.equal(w.inputs, x) and w.edits == []
    # the step with NaN weights ran at step 0: the position falls back to the last
    # step that could run, and the stepper stands there too
    assert w.t == w.stepper.k == w.stepper.frontier == 0
    assert w.version > version  # the front end was told to drop what it held


def test_undo_is_refused_on_a_comparisons_panel():
    tm = text_model()
    a = AttentionWidget.from_text(tm, "the key is on the table")
    b = AttentionWidget.from_text(text_model(seed=1), "the key is on the table")
    for panel in (a, b):
        panel.send = lambda content, buffers=None: None
        panel.replace(1, "old")
    from attn_widget.comparison import Compare

    cmp = Compare([a, b])
    with pytest.raises(ValueError, match="comparison"):
        b.undo()
    assert a.tokens == b.tokens and cmp.T == b.T


def test_training_keeps_a_zeroed_input_zero():
    from attn_widget.tasks import language_model
    from attn_widget.train import train

    text = "the key to the cabinets is on the table near old doors . " * 6
    data = language_model(text, tokenizer="word", seq_len=6, stride=3)
    torch.manual_seed(0)
    tm = TextRNN(data.vocab, 4, 6, n_outputs=len(data.vocab))
    w = AttentionWidget.from_text(tm, "the key to the cabinets")
    w.send = lambda content, buffers=None: None
    w.zero_input(3)
    w.edit(5, "custom", torch.ones(4))  # a free vector: no longer the embedding's
    train(tm, data, epochs=1, batch_size=4, every=2, progress=False, widget=w)
    assert torch.equal(w.inputs[2], torch.zeros(4))
    assert torch.equal(w.inputs[4], torch.ones(4))
    w.goto(w.T)
    x = w.inputs.clone()
    torch.testing.assert_close(w.trace().h, tm.rnn(x).h)


def test_a_view_edit_never_rewrites_the_saved_snapshot():
    tm = text_model()
    w = AttentionWidget.from_text(tm, "the key is on the table", precompute=True)
    w.send = lambda content, buffers=None: None
    writes = []
    w.observe(lambda change: writes.append(len(change["new"])), names="_snapshot")
    w._answers.answer({"type": "edit", "version": w.version, "i": 2, "token": "doors"}, [])  # noqa: SLF001
    w._answers.answer({"type": "undo", "version": w.version}, [])  # noqa: SLF001
    w._answers.answer({"type": "text", "text": "the old doors"}, [])  # noqa: SLF001
    assert w.status == "" and w.tokens == ["the", "old", "doors"]
    assert writes == []
    w.replace(1, "key")  # from Python, in a cell: the saved state follows
    assert len(writes) == 1


def test_a_message_whose_type_is_not_a_string_gets_a_clear_reply():
    _, w = widget()
    replies = []
    w.send = lambda content, buffers=None: replies.append(content)
    w._answers.answer({"type": ["edit"]}, [])  # noqa: SLF001
    assert replies[0]["type"] == "error" and "unknown message type" in replies[0]["message"]
