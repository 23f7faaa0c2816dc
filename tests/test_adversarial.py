"""Hostile input to the widget's kernel side, fuzzed: whatever the front end sends,
the kernel never raises, and the widget stays consistent and correct.

Property-based (hypothesis): arbitrary custom messages and arbitrary ``set_state``
payloads, one after another on the same widget.  After each, the invariants of
docs/design.md §4 hold: the position is in 0 … T and is the stepper's; the
kernel-owned traits did not move; every message sent is one the protocol
knows; and every step sent carries the numbers ``model(x)`` computes.

Then the same for every widget kind of issue 25 (vector, text, eq1, LSTMN, a
comparison and its Box), with requests as the view sends them made hostile one
field at a time, delivered through ipywidgets' own message handling; a
KeyboardInterrupt at a chosen point of a change; and moves and messages while
``train(widget=w)`` runs in a thread (the last section).

Below the widget's, the same for what reaches the library from files and code:
hostile checkpoint files (forged archives, wrong vocabularies, tensors in the
metadata), hostile training data, and the core's sizes, replaced weights and the
meta device.  Each gives the right result or a clear TypeError/ValueError.
"""

from __future__ import annotations

import dataclasses
import json
import math
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from forge import Declared, Zeros, as_declared, forge_checkpoint
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import attn_widget.core.checks as core_checks
import attn_widget.widget as widget_module
from attn_widget.checkpoint import FORMAT, CheckpointError, load_checkpoint
from attn_widget.core import LSTMN, SelfAttentionRNN
from attn_widget.protocol import decode_steps
from attn_widget.tasks import language_model, recall
from attn_widget.text import TextRNN
from attn_widget.train import evaluate, train
from attn_widget.widget import AttentionWidget

T, D, H = 7, 3, 4

# JSON values the browser could send, hostile ones included.
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.sampled_from(["<img src=x onerror=alert(1)>", "\ud800", "t", "sync", "1e309"]),
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=8,
)
message_types = st.sampled_from(["sync", "sensitivity", "ping", "steps", "", "__proto__"])
custom_messages = st.one_of(
    json_values,
    st.fixed_dictionaries(
        {"type": message_types},
        optional={
            "version": st.one_of(st.integers(-2, 3), json_values),
            "have": st.one_of(st.integers(-3, T + 3), json_values),
            "k": st.one_of(st.integers(-3, T + 3), json_values),
        },
    ),
)
state_keys = st.sampled_from(
    ["t", "speed", "playing", "shading", "T", "tokens", "version", "frontier", "_snapshot",
     "comm", "foo", "__class__"]
)  # fmt: skip
state_values = st.one_of(
    st.integers(-3, T + 3),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(["alpha", "gradient", "heat", True, False]),
    json_values,
)
set_states = st.dictionaries(state_keys, state_values, max_size=4)
actions = st.lists(
    st.one_of(
        custom_messages.map(lambda m: ("msg", m)),
        set_states.map(lambda s: ("state", s)),
    ),
    min_size=1,
    max_size=6,
)


@pytest.fixture(scope="module", autouse=True)
def _no_built_front_end():
    """The kernel side under test does not need the built bundle."""
    real = widget_module._bundle  # noqa: SLF001
    widget_module._bundle = lambda: ("export default {};", "")  # noqa: SLF001
    yield
    widget_module._bundle = real  # noqa: SLF001


def _widget():
    torch.manual_seed(0)
    model = SelfAttentionRNN(D, H)
    x = torch.randn(T, D)
    w = AttentionWidget(model, tokens=[f"w{i}" for i in range(1, T + 1)], inputs=x)
    sent = []
    w.send = lambda content, buffers=None: sent.append((content, list(buffers or [])))
    return w, model, x, sent


def _check_invariants(w, model, x, sent, owned_before):
    assert 0 <= w.t <= w.T == T
    assert w.stepper.k == w.t and w.frontier == w.stepper.frontier >= w.t
    assert {name: getattr(w, name) for name in owned_before} == owned_before
    assert w.speed == w.speed and w.MIN_SPEED <= w.speed <= w.MAX_SPEED  # never NaN
    assert w.shading in w.SHADINGS
    with torch.no_grad():
        trace = model(x)
    for content, buffers in sent:
        assert isinstance(content, dict)
        assert content.get("type") in {"steps", "error", "pong", "sensitivity"}, content
        if content["type"] == "error":
            assert isinstance(content["message"], str) and content["message"]
        if content["type"] == "steps":
            for step in decode_steps(content["steps"], buffers):
                t = step["t"]
                assert 0 <= t < T
                np.testing.assert_allclose(step["h"], trace.h[t + 1].numpy(), rtol=1e-5, atol=1e-6)
                np.testing.assert_allclose(
                    step["alpha"], trace.alpha[t, : t + 1].numpy(), rtol=1e-5, atol=1e-6
                )


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(actions)
def test_no_front_end_message_raises_or_leaves_the_widget_inconsistent(sequence):
    w, model, x, sent = _widget()
    owned = ("T", "tokens", "version", "update_rule", "align_name", "hidden_size", "input_size")
    owned_before = {name: getattr(w, name) for name in owned}
    for kind, payload in sequence:
        if kind == "msg":
            w._on_custom_msg(w, payload, [])  # noqa: SLF001
        else:
            w.set_state(payload)
        _check_invariants(w, model, x, sent, owned_before)


# -- hostile checkpoint files, training data, and core sizes, shapes and devices ----
#
# The same property for each: whatever comes in, the answer is the right result or a
# clear TypeError/ValueError (a CheckpointError is one), raised before anything
# changes or anything large is allocated; never an exception from deep in torch.

_CKPT_VOCAB = ["<pad>", "<unk>", "the", "key", "is", "are"]
_SIZE = {"embed_size": 3, "hidden_size": 4, "n_outputs": 2}
_SURROGATES = st.sampled_from(["\ud800", "a\udfffb", "\ud83d"])
_sizes = st.one_of(
    st.integers(1, 6), st.integers(-2, 6), st.integers(2**20, 2**62),
    st.sampled_from([True, 2.0, "4", None]),
)  # fmt: skip
_config_changes = st.one_of(
    st.just({}),
    st.dictionaries(st.sampled_from(["embed_size", "hidden_size", "attn_size", "n_outputs"]),
                    _sizes, max_size=2),
    st.dictionaries(st.sampled_from(["update", "align", "tokenizer"]),
                    st.sampled_from(["eq1", "eq4", "lstmn", "additive", "char", "bogus", 3]),
                    max_size=2),
    st.builds(lambda words: {"vocab": words}, st.one_of(
        st.permutations(_CKPT_VOCAB).map(list),
        st.lists(st.one_of(st.sampled_from(_CKPT_VOCAB), _SURROGATES, st.integers()),
                 min_size=0, max_size=8),
        st.just("<pad><unk>the"),
    )),
)  # fmt: skip
_weight_changes = st.one_of(
    st.none(),
    st.none(),
    st.sampled_from(["drop", "extra", "int", "nan", "huge_view", "declared_huge", "wide"]),
)
_metadata = st.one_of(
    st.dictionaries(st.text(max_size=4), json_values, max_size=3),
    json_values,
    st.dictionaries(st.text(max_size=4), st.one_of(json_values, _SURROGATES), max_size=3),
    st.just({"blob": "TENSOR"}),
)


def _tiny_text_model(config: dict | None = None) -> TextRNN:
    torch.manual_seed(0)
    config = dict(config or {"vocab": _CKPT_VOCAB, **_SIZE, "update": "eq4", "align": "dot",
                             "attn_size": None, "tokenizer": "word"})  # fmt: skip
    return TextRNN.from_config(config)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(config_change=_config_changes, weight_change=_weight_changes, metadata=_metadata,
       forged=st.booleans())  # fmt: skip
def test_no_checkpoint_file_loads_wrong_or_fails_from_deep_inside(
    config_change, weight_change, metadata, forged
):
    model = _tiny_text_model()
    config = {**model.config(), **config_change}
    state = {k: v.clone() for k, v in model.state_dict().items()}
    declared, records = as_declared(state)
    if weight_change == "drop":
        del state["rnn.A.bias"], declared["rnn.A.bias"]
    elif weight_change == "extra":
        state["stray"] = torch.zeros(2)
        declared["stray"], records["s"] = Declared("s", 2), bytes(8)
    elif weight_change == "int":
        state["out.bias"] = torch.zeros(2, dtype=torch.long)
    elif weight_change == "nan":
        state["out.bias"] = torch.full((2,), float("nan"))
    elif weight_change == "huge_view":
        state["out.bias"] = torch.zeros(2**20)[:2]
    elif weight_change == "declared_huge":
        declared["out.bias"], records["h"] = Declared("h", 2**40, (2,)), bytes(8)
    elif weight_change == "wide":
        state["rnn.A.weight"] = torch.zeros(4, 12)
    if metadata == {"blob": "TENSOR"}:
        metadata = {"blob": Declared("m", 2**28) if forged else torch.zeros(3)}
        records["m"] = Zeros(2**20)
    blob = {"format": FORMAT, "config": config, "metadata": metadata}
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "hostile.pt"
        if forged:
            forge_checkpoint(path, {**blob, "state_dict": declared}, records)
        else:
            torch.save({**blob, "state_dict": state}, path)
        start = time.perf_counter()
        try:
            loaded = load_checkpoint(path)
        except CheckpointError as error:
            assert str(error) and str(path) in str(error)
            assert time.perf_counter() - start < 5
            return
    # It loaded: then it is exactly what the file holds, and every word can be sent.
    assert loaded.vocab.to_list() == config["vocab"]
    assert loaded.config() == {**config, "attn_size": loaded.rnn.attn_size}
    # A forged file carries the model's own weights (as_declared), less or more by name.
    expected = {k: v for k, v in model.state_dict().items() if k in declared} if forged else state
    for name, value in loaded.state_dict().items():
        assert torch.equal(value, expected[name].to(value.dtype)), name
    json.dumps(loaded.config(), ensure_ascii=False).encode("utf-8")
    json.dumps(loaded.metadata, ensure_ascii=False).encode("utf-8")


_TRAIN_BASE = recall(12, distance=1, n_keys=4, seed=0)  # N = 12, T = 5, 15 words, 4 classes
_LM_BASE = language_model(text="the key to the door . " * 4, seq_len=6)
_int_dtypes = st.sampled_from([torch.int64, torch.int32, torch.int16, torch.uint8,
                               torch.bool, torch.float32, torch.float64])  # fmt: skip


@st.composite
def _hostile_data(draw):
    data = draw(st.sampled_from([_TRAIN_BASE, _LM_BASE]))
    fields = {}
    names = st.sampled_from(["ids", "lengths", "targets", "positions", "tokens"])
    for name in draw(st.sets(names, max_size=2)):
        value = getattr(data, name)
        if name == "tokens":
            fields[name] = value[: draw(st.integers(0, len(value)))]
            continue
        if value is None:
            fields[name] = draw(st.one_of(st.none(), st.just(data.lengths - 1)))
            continue
        kind = draw(st.sampled_from(["dtype", "shift", "shift", "trim", "reshape", "list",
                                     "meta"]))  # fmt: skip
        if kind == "dtype":
            value = value.to(draw(_int_dtypes))
        elif kind == "shift":
            value = value + draw(st.sampled_from([-101, -1, 1, 4, 100, 2**40]))
        elif kind == "trim":
            dim = draw(st.integers(0, value.dim() - 1))
            value = value.narrow(dim, 0, draw(st.integers(0, value.shape[dim])))
        elif kind == "reshape":
            value = value.reshape(-1)[None] if value.dim() == 1 else value.reshape(-1)
        elif kind == "list":
            value = value.tolist()
        else:
            value = torch.empty(value.shape, dtype=value.dtype, device="meta")
        fields[name] = value
    return dataclasses.replace(data, **fields)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_hostile_data())
def test_no_training_data_fails_from_deep_inside_or_moves_a_weight_first(data):
    base = _LM_BASE if data.name == "lm" else _TRAIN_BASE
    torch.manual_seed(0)
    model = TextRNN(base.vocab, 3, 4, n_outputs=base.n_outputs)
    before = [p.detach().clone() for p in model.parameters()]
    try:
        history = train(model, data, epochs=1, max_steps=2, progress=False)
    except (TypeError, ValueError) as error:
        assert str(error)
        for p, q in zip(model.parameters(), before, strict=True):
            assert torch.equal(p, q)  # the same tensor read twice: bit for bit
    else:
        assert history.steps >= 1 and history.loss and math.isfinite(history.loss[-1])
    try:
        accuracy = evaluate(model, data)
    except (TypeError, ValueError) as error:
        assert str(error)
    else:
        assert 0 <= accuracy <= 1


_CORE_MODELS = st.sampled_from(
    [("eq1", "dot"), ("eq3", "additive"), ("eq4", "dot"), ("eq4", "scaled_dot"), ("lstmn", None)]
)


@settings(max_examples=150, deadline=None)
@given(
    kind=_CORE_MODELS,
    sizes=st.tuples(_sizes, _sizes, st.one_of(st.none(), _sizes)),
)
def test_any_sizes_build_a_model_within_the_bound_or_are_refused_at_once(kind, sizes):
    (update, align), (D, H, d) = kind, sizes
    start = time.perf_counter()
    try:
        model = (LSTMN(D, H, d) if update == "lstmn"
                 else SelfAttentionRNN(D, H, update=update, align=align, attn_size=d))  # fmt: skip
    except (TypeError, ValueError) as error:
        assert str(error) and time.perf_counter() - start < 1
        return
    assert sum(p.numel() for p in model.parameters()) <= core_checks.MAX_WEIGHTS


@settings(max_examples=150, deadline=None)
@given(
    kind=_CORE_MODELS,
    which=st.integers(0, 10),
    extra_rows=st.sampled_from([0, 0, -1, 1, 2]),
    extra_columns=st.sampled_from([0, 0, -1, 1, 2]),
    bias=st.booleans(),
    meta=st.sampled_from([None, "model", "x"]),
)
def test_a_replaced_weight_or_the_meta_device_is_named_or_runs_right(
    kind, which, extra_rows, extra_columns, bias, meta
):
    update, align = kind
    torch.manual_seed(0)
    model = (LSTMN(3, 4) if update == "lstmn"
             else SelfAttentionRNN(3, 4, update=update, align=align)).double()  # fmt: skip
    x = torch.randn(5, 3, dtype=torch.float64)
    linears = [(n, m) for n, m in model.named_modules() if isinstance(m, torch.nn.Linear)]
    name, old = linears[which % len(linears)]
    rows, columns = old.out_features + extra_rows, old.in_features + extra_columns
    new = torch.nn.Linear(max(columns, 1), max(rows, 1), bias=bias).double()
    parent = model.get_submodule(name.rpartition(".")[0]) if "." in name else model
    setattr(parent, name.rpartition(".")[2], new)
    unchanged = new.weight.shape == old.weight.shape and bias == (old.bias is not None)
    if meta == "model":
        model = model.to("meta")
    elif meta == "x":
        x = x.to("meta")
    for run in (lambda: model(x).h, lambda: model.stepper(x).goto(5)):
        try:
            run()
        except ValueError as error:
            message = str(error)
            assert ("meta device" in message) if meta else (name in message), message
        else:
            assert unchanged and meta is None
    if unchanged and meta is None:  # the weight is new but well shaped: it runs, exactly
        stepper = model.stepper(x)
        stepper.goto(5)
        torch.testing.assert_close(stepper.trace().h, model(x).h, rtol=0, atol=1e-12)


# -- the widget classes of issue 25: forged messages, interrupts, threads ---------
#
# Every message is delivered as the comm delivers it, through ipywidgets'
# ``Widget._handle_msg`` (a "custom" or an "update" message), to the widget kinds a
# notebook shows: a vector widget with a head, a text widget (edits, undo, typed
# text), eq1 (no attention), an LSTMN, and a comparison (its panels and its Box).
# After each one (docs/design.md §2 and §4): either a clear refusal (an error reply
# or an exception naming what was wrong, bounded in size) or a consistent state:
# 0 ≤ t ≤ frontier = the steps computed, ``w.current`` is the stepper's record, the
# steps are what the model computes from the data shown, the version never goes
# back, and every message obeys the one step-data bound (wire/outbox.py), here made
# small (a few steps) so that it binds on these small models.

import contextlib  # noqa: E402 - this section's own imports
import functools  # noqa: E402
import logging  # noqa: E402
import threading  # noqa: E402
from unittest import mock  # noqa: E402

import traitlets  # noqa: E402

import attn_widget.wire.outbox as outbox_module  # noqa: E402
import attn_widget.wire.snapshot as snapshot_module  # noqa: E402
from attn_widget.comparison import compare  # noqa: E402
from attn_widget.protocol import (  # noqa: E402
    STEP_FIELDS,
    STEP_JSON_BYTES_PER_ARRAY,
    unpack_snapshot,
)
from attn_widget.wire.answers import ERROR_CHARS  # noqa: E402

#: The step-data bound under test: two or three steps of these models per message.
SMALL_LIMIT = 1500
CURRENT = object()  # stands for the widget's version at the time a message is sent
_WORDS = ["the", "key", "is", "are", "nonsense", "<unk>", "<pad>", "\ud800", ""]


@contextlib.contextmanager
def _small_step_data_limit():
    with (
        mock.patch.object(outbox_module, "STEP_DATA_LIMIT", SMALL_LIMIT),
        mock.patch.object(snapshot_module, "STEP_DATA_LIMIT", SMALL_LIMIT),
    ):
        yield


def _versions():
    return st.one_of(st.just(CURRENT), st.just(CURRENT), st.integers(-2, 4), json_values)


_positions = st.one_of(st.integers(-3, T + 3), st.sampled_from([2**31, -(2**63), 10**30]))
_huge_slots = st.sampled_from([list(range(100_000)), [2**62] * 3, [-1] * 50_000])
_slot_lists = st.one_of(
    st.lists(st.integers(-2, T + 3), max_size=5),
    st.lists(st.one_of(st.integers(0, T), st.floats(), st.booleans(), st.text(max_size=2)),
             max_size=4),
    _huge_slots,
)  # fmt: skip


# Each request as the view sends it (version CURRENT, fields in range), then the same
# with one field left out or replaced by a hostile value, and free-form ones.
_VALID = {
    "sync": {"version": st.just(CURRENT), "have": st.integers(0, T)},
    "sensitivity": {"version": st.just(CURRENT), "k": st.integers(0, T)},
    "edit": {"version": st.just(CURRENT), "i": st.integers(1, T),
             "token": st.one_of(st.none(), st.sampled_from(_WORDS[:4]))},
    "undo": {"version": st.just(CURRENT)},
    "text": {"text": st.lists(st.sampled_from(_WORDS[:5]), min_size=1, max_size=9).map(" ".join)},
    "knockout": {"version": st.just(CURRENT), "slots": st.lists(st.integers(0, T), max_size=4)},
    "ping": {},
}  # fmt: skip
_HOSTILE = {
    "version": st.one_of(st.integers(-2, 4), json_values),
    "have": st.one_of(_positions, json_values),
    "k": st.one_of(_positions, json_values),
    "i": st.one_of(_positions, json_values),
    "token": st.one_of(st.sampled_from(_WORDS), json_values),
    "text": st.one_of(st.sampled_from(["", "the " * 1000, "the key " * 300, "\ud800 key"]),
                      json_values),
    "slots": st.one_of(_slot_lists, json_values),
}  # fmt: skip


@st.composite
def _request(draw, kind: str):
    fields = {name: draw(value) for name, value in _VALID[kind].items()}
    how = draw(st.sampled_from(["valid", "drop", "replace", "replace"])) if fields else "valid"
    name = draw(st.sampled_from(sorted(fields))) if fields else None
    if how == "drop":
        del fields[name]
    elif how == "replace":
        fields[name] = draw(_HOSTILE[name])
    return {"type": kind, **fields}


widget_messages = st.one_of(
    *[_request(kind) for kind in _VALID],
    st.fixed_dictionaries({"type": st.sampled_from(["steps", "pong", "", "__proto__"])},
                          optional={"version": _versions()}),  # a kernel's, forged
    st.fixed_dictionaries({"type": st.one_of(st.text(max_size=8), json_values)}),
    json_values,
)  # fmt: skip
widget_states = st.dictionaries(
    state_keys,
    st.one_of(_positions, st.floats(), st.sampled_from([True, "gradient", "alpha"]), json_values),
    max_size=3,
)
box_states = st.dictionaries(
    st.sampled_from(["children", "box_style", "layout", "t", "knockout"]),
    st.one_of(st.just([]), st.just(["IPY_MODEL_0"] * 3), json_values),
    min_size=1,
    max_size=2,
)
_custom = st.tuples(st.just("msg"), st.integers(0, 1), widget_messages)
widget_actions = st.lists(
    st.one_of(
        _custom,
        _custom,
        _custom,
        st.tuples(st.just("state"), st.integers(0, 1), widget_states),
        st.tuples(st.just("box"), st.just(0), box_states),  # to a panel unless a comparison
    ),
    min_size=1,
    max_size=8,
)
WIDGET_KINDS = ("vector", "text", "eq1", "lstmn", "compare")


def _make(kind: str):
    """A widget of ``kind``, its panels (itself alone but for a comparison), and the
    messages each panel sends (its ``send``, as the comm would carry them)."""
    torch.manual_seed(0)
    if kind == "text":
        model = _tiny_text_model({"vocab": _CKPT_VOCAB, **_SIZE, "update": "eq4",
                                  "align": "additive", "attn_size": None,
                                  "tokenizer": "word"})  # fmt: skip
        w = AttentionWidget.from_text(model, "the key is the key are the", precompute=True)
    elif kind == "compare":
        x = torch.randn(T, D)
        w = compare(SelfAttentionRNN(D, H), SelfAttentionRNN(D, H, update="eq1"), inputs=x)
    else:
        model = {"vector": lambda: SelfAttentionRNN(D, H, update="eq4", align="dot"),
                 "eq1": lambda: SelfAttentionRNN(D, H, update="eq1"),
                 "lstmn": lambda: LSTMN(D, H)}[kind]()  # fmt: skip
        head = torch.nn.Linear(H, 3) if kind == "vector" else None
        w = AttentionWidget(model, inputs=torch.randn(T, D), head=head)
    panels = w.panels if kind == "compare" else [w]
    sent = {id(p): [] for p in panels}
    for p in panels:
        p.send = _recorder(sent[id(p)])
    return w, panels, sent


def _recorder(out: list):
    return lambda content, buffers=None: out.append((content, list(buffers or [])))


class _Raised(logging.Handler):
    """What ipywidgets caught and logged (outside IPython; inside, it would print a
    traceback in the notebook): an exception out of a handler."""

    def __init__(self):
        super().__init__()
        self.errors: list[BaseException] = []

    def emit(self, record):
        if record.exc_info:
            self.errors.append(record.exc_info[1])


def _listen(widget) -> _Raised:
    handler = _Raised()
    logger = logging.getLogger(f"attn_widget.tests.{id(widget)}")
    logger.addHandler(handler)
    logger.propagate = False
    widget.log = logger  # what _handle_msg catches
    widget._msg_callbacks.log = logger  # noqa: SLF001 - what a custom message's handler raises
    return handler


def _deliver(widget, method: str, payload) -> None:
    """As the comm delivers a message from the front end to the widget."""
    data = {"method": method, ("content" if method == "custom" else "state"): payload}
    widget._handle_msg({"content": {"data": data}, "buffers": []})  # noqa: SLF001


def _expected_trace(session):
    """What the model computes from the data the session shows, with its knockout."""
    mask = torch.zeros(session.T + 1, dtype=torch.bool)
    mask[[i for i in session.knockout if i <= session.T]] = True
    with torch.no_grad():
        return session.model(session.inputs, knockout=mask)


def _data_bytes(step: dict) -> int:
    """A decoded step's size on the wire, as protocol.step_bytes counts it."""
    arrays = [step[name] for name in STEP_FIELDS if step.get(name) is not None]
    return 4 * sum(a.size for a in arrays) + STEP_JSON_BYTES_PER_ARRAY * len(arrays)


def _check_panel(w, sent, seen, raised):
    """The invariants above, for one panel after one message."""
    s = w.session
    assert not raised.errors, raised.errors  # nothing out of the handler into the kernel
    assert torch.is_grad_enabled()
    assert 0 <= w.t == s.position <= w.frontier == s.frontier == len(s.steps) <= w.T == s.T
    current = w.current
    assert (current is None) if w.t == 0 else (current is s.stepper.steps[w.t - 1])
    assert w.version >= seen["version"], "the version went back"
    seen["version"] = w.version
    assert len(w.status) <= 600
    blob = w._snapshot  # noqa: SLF001
    if blob:
        _, saved, _ = unpack_snapshot(blob)
        assert sum(_data_bytes(step) for step in saved) <= SMALL_LIMIT
    expected = _expected_trace(s)
    if s.frontier:
        atol = 1e-5  # float32, stepped against batched, H = 4: rounding only
        torch.testing.assert_close(s.trace().h, expected.h[: s.frontier + 1], rtol=1e-4, atol=atol)
    for content, buffers in sent[seen["read"] :]:
        assert isinstance(content, dict) and content.get("type") in KERNEL_TYPES, content
        if content["type"] == "error":
            assert 0 < len(content["message"]) <= ERROR_CHARS
        if content["type"] != "steps":
            continue
        assert content["version"] >= seen["sent_version"], "a message of an older version"
        seen["sent_version"] = content["version"]
        steps = decode_steps(content["steps"], buffers)
        # one bound for every path: at most SMALL_LIMIT bytes, or one step alone
        assert len(steps) <= 1 or sum(map(_data_bytes, steps)) <= SMALL_LIMIT, content["reason"]
        ts = [step["t"] for step in steps]
        assert ts == list(range(ts[0], ts[0] + len(ts))) if ts else True
        if content["version"] == w.version:  # of the data shown now: the model's numbers
            for step in steps:
                t = step["t"]
                np.testing.assert_allclose(step["h"], expected.h[t + 1].numpy(), rtol=1e-4,
                                           atol=1e-5)  # fmt: skip
    seen["read"] = len(sent)


KERNEL_TYPES = {"steps", "error", "pong", "sensitivity"}
# The fields each request must carry (a sync may leave them out: it then asks for all).
REQUIRED = {"sensitivity": ("version", "k"), "edit": ("version", "i", "token"),
            "undo": ("version",), "text": ("text",), "knockout": ("version", "slots")}  # fmt: skip


def _missing_fields(message) -> list[str]:
    kind = message.get("type") if isinstance(message, dict) else None
    if not isinstance(kind, str) or kind not in REQUIRED:
        return []
    return [name for name in REQUIRED[message["type"]] if name not in message]


def _data_of(w) -> tuple:
    """What a refused request must leave as it was."""
    return (w.version, tuple(w.tokens), tuple(w.knockout), w.T, len(w.edits))


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(kind=st.sampled_from(WIDGET_KINDS), sequence=widget_actions)
def test_forged_messages_to_every_widget_kind_are_refused_or_leave_it_consistent(kind, sequence):
    with _small_step_data_limit():
        w, panels, sent = _make(kind)
        raised = {id(p): _listen(p) for p in panels}
        box_raised = _listen(w) if kind == "compare" else None
        seen = {id(p): {"version": p.version, "sent_version": -1, "read": 0} for p in panels}
        for what, which, payload in sequence:
            panel = panels[which % len(panels)]
            if what == "msg":
                if isinstance(payload, dict) and payload.get("version", None) is CURRENT:
                    payload = {**payload, "version": panel.version}
                before = _data_of(panel)
                n_sent = len(sent[id(panel)])
                _deliver(panel, "custom", payload)
                replies = [c for c, _ in sent[id(panel)][n_sent:] if c["type"] == "error"]
                missing = _missing_fields(payload)
                if missing:  # an edit without token is not a zero edit, and so on
                    assert replies and replies[-1]["request"] == payload["type"], missing
                if replies:  # a refusal changes nothing
                    assert _data_of(panel) == before, replies
            elif what == "state" or kind != "compare":
                _deliver(panel, "update", payload)
            elif kind == "compare":  # a forged update of the comparison's Box
                children = list(w.children)
                _deliver(w, "update", payload)
                # a forged children list is refused, naming what came; the Box keeps
                # its panels and every step goes through all of them
                assert list(w.children) == children
                for error in box_raised.errors:
                    assert isinstance(error, (ValueError, TypeError, traitlets.TraitError))
                    assert 0 < len(str(error)) <= 600
                box_raised.errors.clear()
            for p in panels:
                _check_panel(p, sent[id(p)], seen[id(p)], raised[id(p)])
            if kind == "compare":
                assert len({p.t for p in panels}) == 1 and w.t == panels[0].t
                assert len({tuple(p.knockout) for p in panels}) == 1
        for p in panels:  # and it still works: every step, with the model's numbers
            p.goto(p.T)
            _check_panel(p, sent[id(p)], seen[id(p)], raised[id(p)])


# Interrupts: a KeyboardInterrupt (Ctrl-C in a notebook) raised at the n-th call of a
# function a change runs: the model's step, the step encoder of the outbox, the
# session telling its widget, the head's predictions, or the widget setting its
# traits.  test_interrupts.py interrupts every line; here hypothesis chooses the
# change, the function and n, several changes in a row, messages among them.
_INTERRUPT_AT = ("step_record", "encode_steps", "_tell", "predicted", "_show_session")
_changes = st.one_of(
    st.tuples(st.just("goto"), st.integers(0, T)),
    st.tuples(st.just("knockout"), st.lists(st.integers(0, T), max_size=3)),
    st.tuples(st.just("edit message"), st.integers(1, T),
              st.one_of(st.none(), st.sampled_from(_WORDS[:4]))),
    st.tuples(st.just("zero_input"), st.integers(1, T)),
    st.tuples(st.just("undo")),
    st.tuples(st.just("read_text"),
              st.lists(st.sampled_from(_WORDS[:5]), min_size=1, max_size=T).map(" ".join)),
    st.tuples(st.just("push_trace")),  # after a training update, as train(widget=w) does
    st.tuples(st.just("refresh")),
    st.tuples(st.just("sync message")),  # a new view: it holds nothing (have = 0)
)  # fmt: skip


def _run_change(w, change) -> None:
    name, *args = change
    if name == "goto":
        w.goto(args[0])
    elif name == "knockout":
        w.knockout = args[0]
    elif name == "edit message":
        _deliver(w, "custom", {"type": "edit", "version": w.version, "i": args[0],
                               "token": args[1]})  # fmt: skip
    elif name == "zero_input":
        w.zero_input(args[0])
    elif name == "undo":
        w.undo()
    elif name == "read_text":
        w.read_text(args[0])
    elif name == "sync message":
        _deliver(w, "custom", {"type": "sync", "version": w.version, "have": 0})
    else:
        with torch.no_grad():  # a training update: every weight moves a little
            for p in w.session.text_model.parameters():
                p.mul_(1.01)
        w.push_trace() if name == "push_trace" else w.refresh()


class _InterruptAt:
    """Calls ``function`` and raises KeyboardInterrupt on its n-th call (1-based),
    before or after it ran, as Ctrl-C may land on either side."""

    def __init__(self, function, n: int, after: bool):
        self.function, self.n, self.after, self.calls = function, n, after, 0
        functools.update_wrapper(self, function)  # the signature stays (supports_knockout)

    def __call__(self, *args, **kwargs):
        self.calls += 1
        if self.calls == self.n and not self.after:
            raise KeyboardInterrupt
        result = self.function(*args, **kwargs)
        if self.calls == self.n:
            raise KeyboardInterrupt
        return result


@contextlib.contextmanager
def _interrupting(w, where: str, n: int, after: bool):
    s = w.session
    owner = {"step_record": s.model, "encode_steps": outbox_module, "_tell": s,
             "predicted": s.head, "_show_session": w}[where]  # fmt: skip
    with mock.patch.object(owner, where, _InterruptAt(getattr(owner, where), n, after)):
        yield


@settings(max_examples=35, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.tuples(_changes, st.sampled_from(_INTERRUPT_AT), st.integers(1, 4), st.booleans()),
        min_size=1,
        max_size=3,
    )
)
def test_an_interrupt_anywhere_in_a_change_leaves_the_widget_consistent(changes):
    with _small_step_data_limit():
        w, _, sent = _make("text")
        raised = _listen(w)
        seen = {"version": w.version, "sent_version": -1, "read": 0}
        heard = []  # (messages sent before it, version): the trait as the view hears it
        w.observe(lambda change: heard.append((len(sent[id(w)]), change["new"])), "version")
        for change, where, n, after in changes:
            try:
                with _interrupting(w, where, n, after):
                    _run_change(w, change)
            except KeyboardInterrupt:
                event(f"interrupted in {change[0]} at {where}")
            except (ValueError, TypeError) as error:  # a refused change (undo of nothing, …)
                assert str(error)
            _check_panel(w, sent[id(w)], seen, raised)
            described = w.session.describe()
            for name in ("version", "T", "tokens", "edits", "unknown", "knockout", "frontier"):
                assert getattr(w, name) == described[name], name
        w.goto(w.T)  # and every later move works, with the model's numbers
        _check_panel(w, sent[id(w)], seen, raised)
        # and the front end holds every step of the version it was told of last
        store = _front_end_store(sent[id(w)], heard)
        assert store["version"] == w.version and sorted(store["steps"]) == list(range(w.T))
        expected = _expected_trace(w.session)
        for t, step in store["steps"].items():
            np.testing.assert_allclose(step["h"], expected.h[t + 1].numpy(), rtol=1e-4, atol=1e-5)


def _front_end_store(sent: list, heard: list) -> dict:
    """What the browser's store holds after the kernel's messages and trait changes,
    in the order they went (js/src/store.ts): a newer version drops every step, a
    steps message of an older version is dropped."""
    store: dict = {"version": 0, "steps": {}}

    def told(version):
        if version > store["version"]:
            store.update(version=version, steps={})

    events = [(at, 0, version) for at, version in heard]
    events += [(at, 1, message) for at, message in enumerate(sent)]
    for _, kind, item in sorted(events, key=lambda e: (e[0], e[1])):
        if kind == 0:
            told(item)
            continue
        content, buffers = item
        if content.get("type") != "steps" or content["version"] < store["version"]:
            continue
        told(content["version"])
        for step in decode_steps(content["steps"], buffers):
            store["steps"][step["t"]] = step
    return store


# Threads: train(widget=w) pushes from a thread while the main thread moves and the
# front end's messages arrive (outside a kernel they run where they arrive).  Each
# read takes the session's lock; a move never raises, and the steps stay whole.
_TRAIN_DATA = recall(160, distance=2, n_keys=4, seed=0)
_main_thread_actions = st.lists(
    st.one_of(
        st.tuples(st.just("goto"), st.integers(0, 6)),
        st.tuples(st.just("msg"), _request("sync")),
        st.tuples(st.just("msg"), _request("sensitivity")),
        st.tuples(st.just("msg"), _request("knockout")),
    ),
    min_size=1,
    max_size=6,
)


@settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_main_thread_actions)
def test_moves_and_messages_while_training_in_a_thread_stay_consistent(actions):
    torch.manual_seed(0)
    data = _TRAIN_DATA
    model = TextRNN(data.vocab, 3, 6, update="eq4", align="dot", n_outputs=data.n_outputs)
    w = AttentionWidget.from_text(model, data.tokens[0])
    sent: list = []
    w.send = _recorder(sent)
    raised = _listen(w)
    failures: list[BaseException] = []

    def training():
        try:
            train(model, data, epochs=1, batch_size=4, max_steps=40, every=1, progress=False,
                  widget=w)  # fmt: skip
        except BaseException as error:  # reported below
            failures.append(error)

    thread = threading.Thread(target=training)
    thread.start()
    rounds = 0
    while thread.is_alive() and rounds < 200:
        for what, payload in actions:
            try:
                if what == "goto":
                    step = w.goto(min(payload, w.T))
                    assert (step is None) == (w.t == 0) or step.t == payload - 1
                else:
                    if payload.get("version", None) is CURRENT:
                        payload = {**payload, "version": w.version}
                    _deliver(w, "custom", payload)
                with w.session.lock:  # a consistent state, read as one
                    s = w.session
                    assert w.t == s.position <= s.frontier == len(s.stepper.steps)
                    assert [step.t for step in s.stepper.steps] == list(range(s.frontier))
                    current = w.current
                    assert current is None if w.t == 0 else current is s.stepper.steps[w.t - 1]
            except BaseException as error:  # every one is a failure
                failures.append(error)
        rounds += 1
    thread.join()
    assert not failures, [f"{type(e).__name__}: {e}" for e in failures[:3]]
    assert not raised.errors, raised.errors
    w.goto(w.T)  # with the weights training left (and the knockout): stepped against batched
    with torch.no_grad():  # the inputs follow the trained embedding (the same lookup)
        assert torch.equal(w.inputs, model.embed_text(data.tokens[0])[1])
    torch.testing.assert_close(w.trace().h, _expected_trace(w.session).h, rtol=1e-4, atol=1e-5)
