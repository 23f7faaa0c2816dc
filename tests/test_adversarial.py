"""Hostile input to the widget's kernel side, fuzzed: whatever the front end sends,
the kernel never raises, and the widget stays consistent and correct.

Property-based (hypothesis): arbitrary custom messages and arbitrary ``set_state``
payloads, one after another on the same widget.  After each, the invariants of
docs/design.md §4 hold: the position is in 0 … T and is the stepper's; the
kernel-owned traits did not move; every message sent is one the protocol
knows; and every step sent carries the numbers ``model(x)`` computes.

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
from hypothesis import HealthCheck, given, settings
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
