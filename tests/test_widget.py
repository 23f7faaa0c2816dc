"""The widget's kernel side, with the front end replaced by a recorder of what is sent."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
import traitlets

import attn_widget.kernel as kernel_module
import attn_widget.render.bundle as bundle_module
import attn_widget.widget as widget_module
import attn_widget.wire.ahead as ahead_module
import attn_widget.wire.outbox as outbox_module
from attn_widget.core import LSTMN, SelfAttentionRNN, input_sensitivity
from attn_widget.protocol import (
    STEP_JSON_BYTES_PER_ARRAY,
    decode_steps,
    step_bytes,
    unpack_snapshot,
)
from attn_widget.widget import AttentionWidget

D, H = 3, 5


@pytest.fixture(autouse=True)
def _stub_bundle(monkeypatch):
    # The logic under test does not need the built front end.
    monkeypatch.setattr(widget_module, "_bundle", lambda: ("export default {};", ""))


class Recorder:
    """Stands in for ``widget.send``: keeps every (content, buffers)."""

    def __init__(self):
        self.sent: list[tuple[dict, list]] = []

    def __call__(self, content, buffers=None):
        self.sent.append((content, list(buffers or [])))

    def of_type(self, kind):
        return [(c, b) for c, b in self.sent if c.get("type") == kind]

    def steps_sent(self):
        return [s["t"] for c, _ in self.of_type("steps") for s in c["steps"]]

    def clear(self):
        self.sent.clear()


def make(update="eq4", align="dot", T=6, seed=0, **kw):
    torch.manual_seed(seed)
    model = SelfAttentionRNN(D, H, update=update, align=align)
    x = torch.randn(T, D)
    w = AttentionWidget(model, tokens=[f"w{i}" for i in range(1, T + 1)], inputs=x, **kw)
    rec = Recorder()
    w.send = rec
    return w, model, x, rec


def decoded(rec):
    out = {}
    for content, buffers in rec.of_type("steps"):
        for step in decode_steps(content["steps"], buffers):
            out[step["t"]] = step
    return out


# -- stepping sends exactly the new steps, with the model's numbers ----------


@pytest.mark.parametrize("update", ["eq1", "eq3", "eq4"])
@pytest.mark.parametrize("align", ["dot", "scaled_dot", "additive"])
def test_steps_match_batched_forward(update, align):
    w, model, x, rec = make(update, align)
    for _ in range(w.T):
        w.step()
    assert rec.steps_sent() == list(range(6))
    got = decoded(rec)
    with torch.no_grad():
        trace = model(x)
    for t in range(6):
        np.testing.assert_allclose(got[t]["h"], trace.h[t + 1].numpy(), rtol=1e-6, atol=1e-7)
        if trace.alpha is None:
            assert got[t]["alpha"] is None and got[t]["c"] is None and got[t]["scores"] is None
        else:
            np.testing.assert_allclose(
                got[t]["alpha"], trace.alpha[t, : t + 1].numpy(), rtol=1e-6, atol=1e-7
            )
            np.testing.assert_allclose(got[t]["c"], trace.c[t].numpy(), rtol=1e-6, atol=1e-7)
            assert got[t]["alpha"].sum() == pytest.approx(1.0, abs=1e-6)


def test_goto_past_frontier_sends_only_new_steps_once():
    w, _, _, rec = make(T=8)
    w.goto(3)
    assert rec.steps_sent() == [0, 1, 2]
    assert len(rec.of_type("steps")) == 1  # one message for a jump
    rec.clear()
    w.goto(5)
    assert rec.steps_sent() == [3, 4]
    rec.clear()
    w.back()
    w.back()
    w.goto(1)
    w.goto(5)
    w.reset()
    assert rec.sent == []  # moves within the frontier never reach the front end
    assert w.t == 0 and w.frontier == 5
    w.goto(8)
    assert rec.steps_sent() == [5, 6, 7]


def test_payload_per_step_is_o_t_plus_h():
    w, model, _, rec = make(T=40)
    z_size = sum(size for _, size in model.z_layout)
    for _ in range(40):
        w.step()
    messages = rec.of_type("steps")
    assert len(messages) == 40
    for t, (_content, buffers) in enumerate(messages):
        assert len(buffers) == 1
        # scores and alpha: t+1 each; c, pre, h: H each; z: |z|; all float32
        assert len(buffers[0]) == 4 * (2 * (t + 1) + 3 * H + z_size)


def test_front_end_moves_compute_like_python_moves():
    w, _, _, rec = make(T=6)
    w.set_state({"t": 4})  # what the front end's save_changes does
    assert w.t == 4 and w.frontier == 4
    assert rec.steps_sent() == [0, 1, 2, 3]
    rec.clear()
    w.set_state({"t": 2})
    assert rec.sent == []


def test_fifty_rapid_front_end_clicks_each_step_once():
    w, _, _, rec = make(T=30)
    for k in range(1, 51):
        w.set_state({"t": min(k, 30)})
    assert w.t == 30
    assert rec.steps_sent() == list(range(30))  # no step lost or sent twice


# -- bad input from the front end gets an error reply, the kernel goes on ------


@pytest.mark.parametrize("t", [-3, 99])
def test_out_of_range_t_from_front_end_is_clamped(t):
    w, _, _, rec = make(T=6)
    w.set_state({"t": t})
    assert w.t == (0 if t < 0 else 6)
    errors = rec.of_type("error")
    assert len(errors) == 1 and "clamped" in errors[0][0]["message"]


@pytest.mark.parametrize("bad", ["3", 2.5, None, True, [1]])
def test_non_int_t_from_front_end_is_rejected(bad):
    w, _, _, rec = make(T=6)
    w.goto(2)
    rec.clear()
    w.set_state({"t": bad})
    assert w.t == 2
    assert len(rec.of_type("error")) == 1
    assert rec.of_type("steps") == []


@pytest.mark.parametrize(
    "content",
    [
        "not a dict",
        {"no": "type"},
        {"type": "launch_missiles"},
        {"type": "sync", "version": "x"},
        {"type": "sync", "have": None},
        [1, 2, 3],
    ],
)
def test_malformed_messages_get_error_replies(content):
    w, _, _, rec = make()
    w._handle_custom_msg(content, [])  # noqa: SLF001
    (reply,) = rec.sent
    assert reply[0]["type"] == "error" and reply[0]["message"]
    w.step()  # still works
    assert rec.steps_sent() == [0]


def test_sync_sends_all_computed_steps_in_one_message():
    w, _, _, rec = make(T=6)
    w.goto(4)
    rec.clear()
    w._handle_custom_msg({"type": "sync", "version": w.version, "have": 0}, [])  # noqa: SLF001
    (msg,) = rec.of_type("steps")
    assert msg[0]["reason"] == "sync" and [s["t"] for s in msg[0]["steps"]] == [0, 1, 2, 3]
    rec.clear()
    w._handle_custom_msg({"type": "sync", "version": w.version, "have": 3}, [])  # noqa: SLF001
    assert rec.steps_sent() == [3]
    rec.clear()
    w._handle_custom_msg({"type": "sync", "version": w.version - 1, "have": 3}, [])  # noqa: SLF001
    assert rec.steps_sent() == [0, 1, 2, 3]  # stale version: everything again


def test_sync_up_to_the_front_ends_position(monkeypatch):
    """A sync with k sends the steps have … k-1 the front end lacks, whatever the
    kernel's t (a scrubbing front end's writes of t can lag behind its asks)."""
    import attn_widget.wire.outbox as outbox

    w, _, _, rec = make(T=6)
    w.goto(6)
    # a message holds one step: nothing beyond the needed ones fits
    monkeypatch.setattr(outbox, "STEP_DATA_LIMIT", 1)
    rec.clear()
    w._handle_custom_msg({"type": "sync", "version": w.version, "have": 1, "k": 3}, [])  # noqa: SLF001
    # not 1 … 5, what the kernel's t = 6 needs; one message a step, the nearest k first
    assert rec.steps_sent() == [2, 1]
    rec.clear()
    w.t = 5  # a stale write of t arrives: the front end still holds 3 … 5
    assert rec.steps_sent() == []
    rec.clear()
    w._handle_custom_msg({"type": "sync", "version": w.version, "have": 1}, [])  # noqa: SLF001
    assert rec.steps_sent() == [1, 2, 3, 4]  # without k: up to t = 5
    for bad in (-1, 7, True, "2"):
        rec.clear()
        w._handle_custom_msg({"type": "sync", "version": w.version, "have": 0, "k": bad}, [])  # noqa: SLF001
        ((reply, _),) = rec.sent
        assert reply["type"] == "error" and "sync.k" in reply["message"], reply


def test_ping_pong():
    w, _, _, rec = make()
    w._handle_custom_msg({"type": "ping"}, [])  # noqa: SLF001
    assert rec.sent == [({"type": "pong"}, [])]


def test_a_ping_is_answered_while_another_thread_holds_the_session_lock():
    """The heartbeat asks only whether the kernel is there: a thread training with
    the widget (holding its lock) must not make the front end think it silent."""
    import threading

    w, _, _, rec = make()
    held, release = threading.Event(), threading.Event()

    def hold():
        with w.session.lock:
            held.set()
            release.wait(10)

    holder = threading.Thread(target=hold)
    holder.start()
    assert held.wait(5)
    # Straight to the answers: when the pytest process also drives a browser, Playwright's
    # loop runs on the main thread, and the widget would queue a message from a thread
    # there (as a kernel's messages wait for the running cell), where nothing runs it.
    pinger = threading.Thread(target=w._answers.answer, args=({"type": "ping"}, []))  # noqa: SLF001
    pinger.start()
    pinger.join(5)
    answered = not pinger.is_alive()
    release.set()
    holder.join(5)
    pinger.join(5)
    assert answered, "the ping waited for the session lock"
    assert rec.sent == [({"type": "pong"}, [])]


# -- changes of data bump the version --------------------------------------------


def test_set_inputs_bumps_version_and_resets():
    w, model, _, rec = make(T=6)
    w.goto(5)
    v = w.version
    rec.clear()
    x2 = torch.randn(3, D)
    w.set_inputs(["a", "b", "c"], x2)
    assert (w.version, w.t, w.T, w.frontier, w.tokens) == (v + 1, 0, 3, 0, ["a", "b", "c"])
    (msg,) = rec.of_type("steps")
    assert msg[0]["version"] == v + 1 and msg[0]["steps"] == []
    rec.clear()
    w.goto(3)
    with torch.no_grad():
        trace = model(x2)
    np.testing.assert_allclose(decoded(rec)[2]["h"], trace.h[3].numpy(), rtol=1e-6, atol=1e-7)
    assert all(c["version"] == v + 1 for c, _ in rec.of_type("steps"))


def test_set_inputs_rejects_bad_input_and_keeps_state():
    w, _, x, _ = make(T=6)
    w.goto(2)
    with pytest.raises(ValueError, match="one entry per input"):
        w.set_inputs(["a"], torch.randn(2, D))
    with pytest.raises(ValueError, match="shape"):
        w.set_inputs(["a", "b"], torch.randn(2, D + 1))
    assert (w.t, w.T, w.version) == (2, 6, 0)
    assert torch.equal(w.inputs, x)


def test_refresh_after_weight_change_resends_up_to_t():
    w, model, x, rec = make(T=6)
    w.goto(4)
    rec.clear()
    with torch.no_grad():
        model.A.weight.mul_(-1.5)
    w.push_trace()
    (msg,) = rec.of_type("steps")
    assert msg[0]["reason"] == "trace" and msg[0]["version"] == 1 and w.t == 4
    got = decoded(rec)
    with torch.no_grad():
        trace = model(x)
    for t in range(4):
        np.testing.assert_allclose(got[t]["h"], trace.h[t + 1].numpy(), rtol=1e-6, atol=1e-7)
        np.testing.assert_allclose(
            got[t]["alpha"], trace.alpha[t, : t + 1].numpy(), rtol=1e-6, atol=1e-7
        )
    rec.clear()
    w.refresh()
    assert w.version == 2 and rec.steps_sent() == [0, 1, 2, 3]


def test_a_token_with_a_lone_surrogate_is_refused_by_index():
    torch.manual_seed(0)
    model = SelfAttentionRNN(D, H)
    with pytest.raises(ValueError, match=r"tokens\[1\] = '\\udc00x' holds a lone surrogate"):
        AttentionWidget(model, tokens=["a", "\udc00x", "c"], inputs=torch.randn(3, D))


def test_weights_changed_in_place_are_recomputed_at_the_next_move():
    """An optimiser step or in-place edit outside train(): the next move recomputes
    every step with the new weights and sends them as a new version, never a mix."""
    w, model, x, rec = make(T=6)
    w.goto(3)
    rec.clear()
    with torch.no_grad():
        model.align.W_q.weight.mul_(3.0)  # keys and queries of h_0 … h_3 are now stale
    w.goto(5)
    assert w.version == 1 and w.t == 5 and w.status == ""
    got = decoded(rec)
    with torch.no_grad():
        trace = model(x)
    assert sorted(got) == [0, 1, 2, 3, 4]
    for t in range(5):
        np.testing.assert_allclose(
            got[t]["alpha"], trace.alpha[t, : t + 1].numpy(), rtol=1e-6, atol=1e-7
        )
    torch.testing.assert_close(w.current.h, trace.h[5])


def test_what_if_step_replaces_next_input():
    w, model, x, rec = make(T=6)
    w.goto(4)
    rec.clear()
    x_new = torch.randn(D)
    w.back()
    w.back()  # t = 2
    step = w.step(x_new, token="what")
    assert w.t == 3 and w.version == 1 and w.tokens[2] == "what" and w.frontier == 3
    x2 = x.clone()
    x2[2] = x_new
    with torch.no_grad():
        trace = model(x2)
    torch.testing.assert_close(step.h, trace.h[3])
    (msg,) = rec.of_type("steps")
    assert [s["t"] for s in msg[0]["steps"]] == [0, 1, 2]


def test_edit_appends_at_the_end():
    w, _, _, _ = make(T=3)
    w.goto(3)
    with pytest.raises(ValueError, match="cannot step past the end"):
        w.step()
    w.step(torch.randn(D), token="more")
    assert (w.T, w.t, w.tokens[-1]) == (4, 4, "more")
    with pytest.raises(ValueError, match="token"):
        w.edit(5, None, torch.randn(D))


# -- python-side moves validate ----------------------------------------------------


def test_goto_validates():
    w, _, _, _ = make(T=6)
    with pytest.raises(ValueError, match="0 … T = 6"):
        w.goto(7)
    with pytest.raises(TypeError, match="int"):
        w.goto(2.0)
    assert w.t == 0


def test_play_and_pause():
    w, _, _, _ = make(T=3)
    w.goto(3)
    w.play()
    assert w.playing and w.t == 0  # playing from the end starts over
    w.pause()
    assert not w.playing
    w.play()
    w.goto(3)
    assert not w.playing  # reaching the end stops


# -- constructor checks -------------------------------------------------------------


def test_constructor_validation():
    model = SelfAttentionRNN(D, H)
    x = torch.randn(4, D)
    with pytest.raises(ValueError, match="T = 4 rows, got 3 tokens"):
        AttentionWidget(model, tokens=["a", "b", "c"], inputs=x)
    with pytest.raises(TypeError, match=r"tokens\[1\] must be a str"):
        AttentionWidget(model, tokens=["a", 2, "c", "d"], inputs=x)
    with pytest.raises(TypeError, match="single str"):
        AttentionWidget(model, tokens="abcd", inputs=x)
    with pytest.raises(TypeError, match="SelfAttentionRNN"):
        AttentionWidget(torch.nn.Linear(2, 2), tokens=["a"] * 4, inputs=x)
    with pytest.raises(ValueError, match="inputs is required"):
        AttentionWidget(model, tokens=["a"] * 4)
    with pytest.raises(ValueError, match="NaN"):
        AttentionWidget(model, tokens=["a"] * 4, inputs=torch.full((4, D), float("nan")))
    with pytest.raises(TypeError, match="floating"):
        AttentionWidget(model, tokens=["a"] * 4, inputs=torch.ones(4, D, dtype=torch.long))
    with pytest.raises(ValueError, match="speed"):
        AttentionWidget(model, tokens=["a"] * 4, inputs=x, speed=1000)
    w = AttentionWidget(model, inputs=x)
    assert w.tokens == ["x1", "x2", "x3", "x4"]
    assert w.z_layout == [["h", H], ["x", D], ["c", H]]
    assert (w.update_rule, w.align_name, w.hidden_size, w.input_size) == ("eq4", "dot", H, D)


def test_hostile_tokens_stay_plain_strings():
    hostile = ['<img src=x onerror="alert(1)">', "<script>alert(2)</script>", "&amp;", "a\nb"]
    model = SelfAttentionRNN(D, H)
    w = AttentionWidget(model, tokens=hostile, inputs=torch.randn(4, D))
    assert w.tokens == hostile
    assert w.get_state()["tokens"] == hostile


def test_missing_bundle_says_how_to_build(monkeypatch, tmp_path):
    monkeypatch.undo()  # the real _bundle
    monkeypatch.setattr(bundle_module, "STATIC", tmp_path)
    with pytest.raises(RuntimeError, match=r"pip install -e \.|npm --prefix js run build"):
        AttentionWidget(SelfAttentionRNN(D, H), inputs=torch.randn(2, D))


def test_from_text_with_a_stand_in_text_model():
    class StandIn:
        def __init__(self):
            self.rnn = SelfAttentionRNN(D, H)

        def embed_text(self, text):
            tokens = text.split()
            return tokens, torch.randn(len(tokens), D, requires_grad=True)

    w = AttentionWidget.from_text(StandIn(), "the key is <b>here</b>")
    assert w.tokens == ["the", "key", "is", "<b>here</b>"] and w.T == 4
    with pytest.raises(TypeError, match="TextRNN"):
        AttentionWidget.from_text(object(), "x")


def test_from_text_with_text_rnn():
    text = pytest.importorskip("attn_widget.text")
    vocab = text.Vocab(text.word_tokenize("the key to the cabinets is here"))
    tm = text.TextRNN(vocab, D, H)
    w = AttentionWidget.from_text(tm, "the key is here")
    assert w.tokens == ["the", "key", "is", "here"]
    w.send = Recorder()
    w.goto(4)
    with torch.no_grad():
        trace, _ = tm(torch.tensor(vocab.encode(w.tokens)))
    torch.testing.assert_close(w.current.h, trace.h[4])


# -- saved state ---------------------------------------------------------------------


def test_snapshot_lazy_then_refreshed():
    w, model, x, _ = make(T=6)
    version, steps, _ = unpack_snapshot(w._snapshot)  # noqa: SLF001
    assert version == 0 and steps == []  # lazy by default
    w.goto(3)
    w.snapshot()
    version, steps, _ = unpack_snapshot(w._snapshot)  # noqa: SLF001
    assert [s["t"] for s in steps] == [0, 1, 2]
    with torch.no_grad():
        trace = model(x)
    np.testing.assert_allclose(steps[2]["alpha"], trace.alpha[2, :3].numpy(), rtol=1e-6, atol=1e-7)


def test_snapshot_precompute_holds_whole_trace_and_survives_state_round_trip():
    w, model, x, _ = make(T=6, precompute=True)
    assert w.t == 0 and w.frontier == 6
    # the bytes saved in the notebook's widget state are the trait's value
    state = w.get_state()
    blob = state["_snapshot"]
    version, steps, _ = unpack_snapshot(blob)
    assert version == w.version and len(steps) == 6
    with torch.no_grad():
        trace = model(x)
    for t, s in enumerate(steps):
        np.testing.assert_allclose(s["h"], trace.h[t + 1].numpy(), rtol=1e-6, atol=1e-7)
        np.testing.assert_allclose(s["c"], trace.c[t].numpy(), rtol=1e-6, atol=1e-7)
    # after new inputs the snapshot follows the new version
    w.set_inputs(["a", "b"], torch.randn(2, D))
    version, steps, _ = unpack_snapshot(w._snapshot)  # noqa: SLF001
    assert version == w.version == 1 and len(steps) == 2


def test_snapshot_follows_what_cells_computed_and_only_then(monkeypatch):
    w, model, x, _ = make(T=6)
    w.goto(4)
    sent = []
    monkeypatch.setattr(w, "snapshot", lambda: sent.append(w.frontier) or type(w).snapshot(w))
    kernel_module._after_cell()  # what IPython's post_run_cell runs  # noqa: SLF001
    _, steps, _ = unpack_snapshot(w._snapshot)  # noqa: SLF001
    assert [s["t"] for s in steps] == [0, 1, 2, 3]
    with torch.no_grad():
        trace = model(x)
    np.testing.assert_allclose(steps[3]["alpha"], trace.alpha[3, :4].numpy(), rtol=1e-6, atol=1e-7)
    kernel_module._after_cell()  # nothing new: nothing re-sent  # noqa: SLF001
    w.goto(2)
    kernel_module._after_cell()  # moving back computes nothing: nothing re-sent  # noqa: SLF001
    assert sent == [4]
    w.goto(6)
    five_steps = sum(map(step_bytes, w.stepper.steps[:5]))
    monkeypatch.setattr(outbox_module, "STEP_DATA_LIMIT", five_steps)
    kernel_module._after_cell()  # over the bound: the first steps that fit  # noqa: SLF001
    _, steps, computed = unpack_snapshot(w._snapshot)  # noqa: SLF001
    assert sent == [4, 6] and [s["t"] for s in steps] == [0, 1, 2, 3, 4] and computed == 6


def _limit_to_steps(monkeypatch, w, n):
    """Set the one bound on step data to what the first n steps of w take."""
    limit = sum(map(step_bytes, w.stepper.steps[:n]))
    monkeypatch.setattr(outbox_module, "STEP_DATA_LIMIT", limit)
    return limit


def test_one_bound_holds_for_the_snapshot_in_every_path(monkeypatch):
    w, *_ = make(T=40, precompute=True)
    limit = _limit_to_steps(monkeypatch, w, 12)
    for change in (
        lambda: w.refresh(),  # a new version, precomputed again
        lambda: w.edit(3, "w3", torch.randn(D)),  # an edit of a precomputed widget
        lambda: (w.goto(30), w.snapshot()),  # an explicit snapshot
    ):
        change()
        version, steps, computed = unpack_snapshot(w._snapshot)  # noqa: SLF001
        assert version == w.version and computed == 40
        assert [s["t"] for s in steps] == list(range(12))  # the first steps that fit
        assert sum(4 * sum(v.size for k, v in s.items() if k != "t" and v is not None)
                   for s in steps) <= limit  # fmt: skip


def test_messages_send_what_the_position_needs_and_no_more_than_the_bound_ahead(monkeypatch):
    w, model, _, rec = make(T=40, precompute=True)
    _limit_to_steps(monkeypatch, w, 8)
    rec.clear()
    w.edit(2, "w2", torch.randn(D))  # a new version at position 0: 8 steps ahead, not 40
    assert rec.steps_sent() == list(range(8))
    rec.clear()
    w.goto(5)  # already sent: nothing to send
    assert rec.steps_sent() == []
    w.goto(20)  # needs steps 8 … 19; what fits beyond is not more than the bound
    sent = rec.steps_sent()
    assert sent[:12] == list(range(8, 20)) and len(sent) <= 12 + 8
    rec.clear()
    w.goto(w.T)  # the rest, still each step once
    assert sorted(set(rec.steps_sent()) | set(sent) | set(range(8))) == list(range(40))
    assert len(rec.steps_sent()) == len(set(rec.steps_sent()))
    got = decoded(rec)
    with torch.no_grad():
        trace = model(w.inputs)
    np.testing.assert_allclose(got[39]["alpha"], trace.alpha[39, :40].numpy(), rtol=1e-5, atol=1e-6)


def test_a_sync_request_gets_what_the_position_needs_within_the_bound(monkeypatch):
    w, _, _, rec = make(T=40, precompute=True)
    _limit_to_steps(monkeypatch, w, 6)
    w.goto(3)
    rec.clear()
    sync = {"type": "sync", "version": w.version, "have": 0}  # a view that has nothing yet
    w._answers.answer(sync, [])  # noqa: SLF001
    assert rec.steps_sent() == list(range(6))


def test_repr_names_the_model_and_the_position():
    w, *_ = make(T=6)
    w.goto(2)
    assert repr(w) == "AttentionWidget(eq4/dot, read 2 of 6: 'w1 w2 w3 w4 w5 w6')"


def test_position_is_t_by_a_clearer_name():
    w, *_ = make(T=6)
    w.position = 3
    assert w.t == w.position == 3 and w.current.t == 2  # position 3 shows step 2
    w.t = 5
    assert w.position == 5
    with pytest.raises(ValueError, match="goto position"):
        w.position = 7
    assert w.position == 5


def test_unpack_snapshot_rejects_garbage():
    with pytest.raises(ValueError, match="snapshot"):
        unpack_snapshot(b"nope, not one")


# Run in a fresh interpreter: the main thread here may already have a running
# loop (Playwright's sync API leaves one behind in the end-to-end tests).
_THREAD_SCRIPT = """
import asyncio, json, threading
import torch
import attn_widget.kernel as kernel_module
import attn_widget.widget as widget_module
from attn_widget.core import SelfAttentionRNN
from attn_widget.widget import AttentionWidget

widget_module._bundle = lambda: ("export default {};", "")
sent = []

async def cell():
    torch.manual_seed(0)
    w = AttentionWidget(SelfAttentionRNN(3, 5), inputs=torch.randn(6, 3))
    w.send = lambda content, buffers=None: sent.append(content)
    handled_on = []
    w.observe(lambda change: handled_on.append(threading.current_thread().name), names="t")
    ping = lambda: w._on_custom_msg(w, {"type": "ping"}, [])
    for target in (lambda: w.set_state({"t": 2}), ping):
        other = threading.Thread(target=target, name="subshell")
        other.start()
        other.join()
    before = (w.t, len(sent))  # the "cell" has not yielded yet
    await asyncio.sleep(0.05)  # the cell ends: the loop runs what was queued
    return before, w.t, handled_on

before, t, handled_on = asyncio.run(cell())
steps = [[c["reason"], s["t"]] for c in sent if c["type"] == "steps" for s in c["steps"]]
print(json.dumps({"before": before, "t": t, "on": handled_on, "steps": steps,
                  "types": [c["type"] for c in sent]}))
"""


def test_front_end_messages_from_another_thread_wait_for_the_main_thread():
    # JupyterLab can deliver comm messages on a kernel subshell thread while a
    # cell runs on the main thread; they must run on the main thread, after it.
    import json
    import subprocess
    import sys

    out = subprocess.run(
        [sys.executable, "-c", _THREAD_SCRIPT], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["before"] == [0, 0]
    assert result["t"] == 2 and result["on"] == ["MainThread"]
    # The move sends the steps it needs; then, once it is answered, the kernel
    # computes the rest ahead of the position (T = 6, within AHEAD_STEPS).
    assert result["steps"] == [["step", 0], ["step", 1]] + [["ahead", t] for t in range(2, 6)]
    assert "pong" in result["types"]


def test_computing_ahead_pushes_the_next_steps_once_within_its_bounds(monkeypatch):
    w, model, x, rec = make(T=20)
    monkeypatch.setattr(ahead_module, "AHEAD_STEPS", 5)
    w.goto(3)
    rec.clear()
    w._ahead.run()  # what the kernel's loop runs once a move is answered  # noqa: SLF001
    assert rec.steps_sent() == [3, 4, 5, 6, 7] and w.stepper.frontier == 8 and w.t == 3
    with torch.no_grad():
        trace = model(x)
    np.testing.assert_allclose(decoded(rec)[7]["alpha"], trace.alpha[7, :8], rtol=1e-6, atol=1e-7)
    rec.clear()
    w._ahead.run()  # nothing new: nothing sent  # noqa: SLF001
    w.goto(6)  # already in the browser: the move sends nothing
    assert rec.steps_sent() == []
    monkeypatch.setattr(ahead_module, "AHEAD_SECONDS", 0.0)
    w._ahead.run()  # out of time before the first step  # noqa: SLF001
    assert w.stepper.frontier == 8
    monkeypatch.setattr(ahead_module, "AHEAD_SECONDS", 1.0)
    with torch.no_grad():
        model.A.weight.mul_(2)
    w._ahead.run()  # stale weights: nothing ahead; the next move recomputes everything  # noqa: SLF001
    assert w.stepper.frontier == 8 and rec.steps_sent() == []


def test_a_bad_edit_leaves_the_widget_as_it_was():
    w, _, _, rec = make(T=6)
    with pytest.raises(ValueError, match=r"x_next must have shape \(D,\) = \(3,\), got \(4,\)"):
        w.edit(4, "new", torch.randn(4))
    with pytest.raises(ValueError, match="NaN"):
        w.step(torch.full((3,), float("nan")), token="bad")
    assert (w.t, w.frontier, w.version, w.stepper.k, w.stepper.frontier) == (0, 0, 0, 0, 0)
    rec.clear()
    for _ in range(3):
        w.step()
    assert rec.steps_sent() == [0, 1, 2]  # still sends each new step


def test_front_end_cannot_overwrite_kernel_traits():
    w, _, _, rec = make(T=6)
    w.set_state({"T": 50, "frontier": 40, "version": 7, "tokens": ["a"], "t": 2})
    assert (w.T, w.frontier, w.version, len(w.tokens)) == (6, 2, 0, 6)
    assert w.t == 2 and w.stepper.k == 2  # the allowed part still applies
    (error,) = rec.of_type("error")
    assert "set by the kernel only" in error[0]["message"]
    w.goto(6)
    assert w.t == w.stepper.k == 6


# -- the gradient shading: ‖∂h_k/∂x_i‖ on request ------------------------------


@pytest.mark.parametrize("update", ["eq1", "eq4"])
def test_sensitivity_is_the_core_function_on_the_inputs_read_so_far(update):
    w, model, x, _ = make(update, "additive", T=6)
    w.goto(4)
    # bit for bit: the widget calls this very function on these inputs
    torch.testing.assert_close(w.sensitivity(), input_sensitivity(model, x[:4]), rtol=0, atol=0)
    assert w.sensitivity(2).shape == (2,) and w.sensitivity(0).shape == (0,)
    with pytest.raises(ValueError, match="sensitivity position"):
        w.sensitivity(7)


def test_front_end_asks_for_the_gradient_shading_and_gets_float32_bytes():
    w, model, x, rec = make("eq4", "dot", T=6)
    w._on_custom_msg(w, {"type": "sensitivity", "version": 0, "k": 5}, [])  # noqa: SLF001
    ((content, buffers),) = rec.of_type("sensitivity")
    assert content["k"] == 5 and content["version"] == 0
    assert content["values"] == {"buffer": 0, "dtype": "float32", "shape": [5], "offset": 0}
    got = np.frombuffer(buffers[0], dtype="<f4")
    np.testing.assert_allclose(got, input_sensitivity(model, x[:5]).numpy(), rtol=1e-6)
    rec.clear()
    w._on_custom_msg(w, {"type": "sensitivity", "version": 0, "k": 0}, [])  # noqa: SLF001
    assert rec.of_type("sensitivity")[0][0]["values"] is None
    rec.clear()
    w._on_custom_msg(w, {"type": "sensitivity", "version": 3, "k": 2}, [])  # stale data  # noqa: SLF001
    assert rec.sent == []
    for bad in ({"type": "sensitivity", "version": 0, "k": 9}, {"type": "sensitivity", "k": "2"}):
        w._on_custom_msg(w, bad, [])  # noqa: SLF001
    errors = [c["message"] for c, _ in rec.of_type("error")]
    assert len(errors) == 2 and "sensitivity position" in errors[0] and "int" in errors[1]


def test_shading_is_alpha_or_gradient_from_either_side():
    w, _, _, rec = make(T=4)
    assert w.shading == "alpha"
    w.set_state({"shading": "gradient"})  # the front end's toggle
    assert w.shading == "gradient" and not rec.of_type("error")
    w.set_state({"shading": "<b>bold</b>"})
    assert w.shading == "gradient"
    assert "shading must be one of ('alpha', 'gradient')" in rec.of_type("error")[0][0]["message"]
    with pytest.raises(traitlets.TraitError, match="shading must be one of"):
        w.shading = "heat"
    w.shading = "alpha"
    assert w.shading == "alpha"


def test_unknown_keys_from_the_front_end_get_an_error_reply_not_an_exception():
    w, _, _, rec = make(T=4)
    w.set_state({"foo": 1, "comm": None, "log": 2, "t": 2})  # comm, log: not synced traits
    assert w.t == 2
    (error,) = rec.of_type("error")
    assert "['comm', 'foo', 'log'] are not traits of this widget" in error[0]["message"]


def _fail_from_step(monkeypatch, model, first: int) -> None:
    """Make every step from step ``first`` on raise, as a broken model would."""
    advance = model._advance  # noqa: SLF001

    def failing(t, *args):
        if t >= first:
            raise RuntimeError(f"step {first} cannot run")
        return advance(t, *args)

    monkeypatch.setattr(model, "_advance", failing)


def test_a_move_whose_step_fails_leaves_the_position_as_it_was(monkeypatch):
    w, model, _, rec = make(T=6)
    w.goto(2)
    _fail_from_step(monkeypatch, model, 3)
    w.set_state({"t": 5})  # from the front end: an error reply, never an exception
    assert w.t == 2 and w.stepper.k == 2 and w.current.t == 1
    assert "could not apply ['t']" in rec.of_type("error")[-1][0]["message"]
    w.playing = True
    with pytest.raises(RuntimeError):
        w.goto(5)  # from Python: the error itself
    assert w.t == 2 and w.current.t == 1
    assert not w.playing  # Play would otherwise ask for the failing step at every tick


def test_a_new_version_whose_steps_fail_falls_back_to_what_did_run(monkeypatch):
    w, model, _, rec = make(T=6)
    w.goto(4)
    _fail_from_step(monkeypatch, model, 2)
    rec.clear()
    with pytest.raises(RuntimeError, match="step 2"):
        w.refresh()  # every step is recomputed, and the third fails
    assert w.version == 1 and w.t == w.frontier == w.stepper.frontier == 2
    ((reset, _),) = rec.of_type("steps")
    assert reset["version"] == 1 and [s["t"] for s in reset["steps"]] == [0, 1]
    assert reset["reason"] == "reset"


def test_a_model_moved_to_float64_is_followed_by_its_widget():
    w, model, x, _rec = make(T=6)
    w.goto(3)
    model.double()
    w.goto(5)  # the weights changed: the inputs follow the model, every step is redone
    assert w.version == 1 and w.current.h.dtype == torch.float64
    with torch.no_grad():
        trace = model(x.double())
    torch.testing.assert_close(w.trace().h, trace.h[:6], rtol=1e-12, atol=1e-12)


def test_an_edit_after_a_weight_change_recomputes_with_the_new_weights():
    w, model, x, _rec = make(T=6)
    w.goto(4)
    with torch.no_grad():
        model.A.weight.mul_(1.5)
    new_x3 = torch.ones(D)
    w.edit(3, "new", new_x3)
    assert w.tokens[2] == "new" and w.version == 1
    assert (w.t, w.stepper.k, w.frontier) == (4, 4, w.stepper.frontier)
    x = x.clone()
    x[2] = new_x3
    w.goto(6)
    with torch.no_grad():
        trace = model(x)
    torch.testing.assert_close(w.trace().h, trace.h, rtol=1e-6, atol=1e-6)


def test_moves_from_several_threads_take_turns():
    """Outside a kernel nothing hands messages to a main loop; the widget's lock
    still keeps its stepper and traits whole when threads move it at once."""
    import threading

    w, model, x, _ = make(T=30)

    def spam(values):
        for v in values:
            w.set_state({"t": v})

    orders = (list(range(31)) * 3, list(range(30, -1, -1)) * 3)
    threads = [threading.Thread(target=spam, args=(order,)) for order in orders]
    for t in threads:
        t.start()
    for i in range(120):
        w.goto(i % 31)
    for t in threads:
        t.join()
    steps = [s.t for s in w.stepper.steps]
    assert steps == list(range(len(steps))) and w.t == w.stepper.k
    with torch.no_grad():
        torch.testing.assert_close(w.trace().h, model(x).h[: len(steps) + 1])


# -- an LSTMN in the widget ---------------------------------------------------


def test_an_lstmn_steps_in_the_widget_with_the_batched_numbers_and_its_own_fields():
    torch.manual_seed(4)
    model = LSTMN(D, H, attn_size=5)
    x = torch.randn(6, D)
    w = AttentionWidget(model, tokens=[f"w{i}" for i in range(1, 7)], inputs=x)
    rec = Recorder()
    w.send = rec
    assert (w.update_rule, w.align_name, w.z_layout) == ("lstmn", "additive", [])
    for _ in range(6):
        w.step()
    assert w.t == 6 and rec.steps_sent() == list(range(6))
    got = decoded(rec)
    with torch.no_grad():
        trace = model(x)
    for t in range(6):
        s = got[t]
        assert s["c"] is None and s["z"] is None and s["pre"] is None
        np.testing.assert_allclose(
            s["alpha"], trace.alpha[t, : t + 1].numpy(), rtol=1e-5, atol=1e-6
        )
        np.testing.assert_allclose(s["h"], trace.h[t + 1].numpy(), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(s["m"], trace.m[t + 1].numpy(), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(s["h_tilde"], trace.h_tilde[t].numpy(), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(s["m_tilde"], trace.m_tilde[t].numpy(), rtol=1e-5, atol=1e-6)
        record = w.stepper.steps[t]
        for gate in ("i", "f", "o", "c_hat"):  # the record through the codec: exact
            np.testing.assert_array_equal(s[gate], getattr(record, gate).numpy())
    # the bytes on the wire: scores and α (t+1 each), 8 H-vectors, 10 descriptors
    step = w.stepper.steps[3]
    assert step_bytes(step) == 4 * (2 * 4 + 8 * H) + 10 * STEP_JSON_BYTES_PER_ARRAY
    w.goto(2)  # moving back is served from what was sent
    assert w.current is w.stepper.steps[1]


def test_the_widget_says_whether_attention_reads_slot_0():
    """``zero_slot`` tells the front end where the equations' sums start: i = 0 for the
    SimpleRNN models and the default LSTMN, i = 1 for the paper's cell, whose steps
    never weight slot 0."""
    x = torch.randn(4, D)
    assert AttentionWidget(SelfAttentionRNN(D, H), inputs=x).zero_slot is True
    assert AttentionWidget(LSTMN(D, H), inputs=x).zero_slot is True
    paper = AttentionWidget(LSTMN(D, H, zero_slot=False), inputs=x)
    assert paper.zero_slot is False and paper.get_state()["zero_slot"] is False
    assert all(float(paper.goto(k).alpha[0]) == 0.0 for k in range(1, 5))
    with pytest.raises(TypeError, match="set by the widget"):
        AttentionWidget(LSTMN(D, H), inputs=x, zero_slot=False)


def test_an_lstmn_widget_saves_its_steps_in_the_snapshot_and_follows_weight_changes():
    torch.manual_seed(5)
    model = LSTMN(D, H)
    x = torch.randn(5, D)
    w = AttentionWidget(model, inputs=x, precompute=True)
    w.send = Recorder()
    _, steps, computed = unpack_snapshot(w._snapshot)  # noqa: SLF001
    assert computed == 5 and [s["t"] for s in steps] == list(range(5))
    with torch.no_grad():
        np.testing.assert_allclose(steps[4]["m"], model(x).m[5].numpy(), rtol=1e-5, atol=1e-6)
        model.W.bias.add_(0.5)
    w.refresh()
    with torch.no_grad():
        torch.testing.assert_close(w.stepper.trace().m, model(x).m)


# -- what the head predicts -----------------------------------------------------


def test_each_step_carries_the_heads_top_k_from_its_h():
    from attn_widget.demo import demo_model

    text_model = demo_model("agreement", "eq4")
    w = AttentionWidget.from_text(text_model, "the keys near the cabinet are lost .")
    rec = Recorder()
    w.send = rec
    assert w.prediction_labels == ["sg", "pl"]
    w.goto(w.T)
    got = decoded(rec)
    for t in range(w.T):
        h = w.stepper.steps[t].h
        with torch.no_grad():
            probs = torch.softmax(text_model.out(h), -1)
        order = torch.argsort(probs, descending=True)
        # The head applied again here rounds differently from the widget's run; the
        # order is still exact while no two classes lie within rounding of each other.
        assert (probs[order[:-1]] - probs[order[1:]]).min() > 1e-5
        np.testing.assert_array_equal(got[t]["pred_i"], order.numpy().astype("float32"))
        np.testing.assert_allclose(got[t]["pred_p"], probs[order].numpy(), rtol=1e-6, atol=1e-7)
    verb = 5  # position k = 5 has read "the keys near the cabinet": the state that decides
    answer = w.prediction(verb)
    assert list(answer) == ["pl", "sg"] and answer["pl"] > 0.9
    assert sum(answer.values()) == pytest.approx(1.0, abs=1e-6)
    assert w.prediction(0) == {}


def test_a_language_model_head_sends_its_top_k_tokens_and_bad_heads_are_refused():
    torch.manual_seed(0)
    model = SelfAttentionRNN(D, H)
    head = torch.nn.Linear(H, 30)
    labels = [f"w{i}" for i in range(30)]
    x = torch.randn(4, D)
    w = AttentionWidget(model, inputs=x, head=head, labels=labels, top_k=3)
    rec = Recorder()
    w.send = rec
    w.step()
    (step,) = decoded(rec).values()
    with torch.no_grad():
        top = torch.softmax(head(w.stepper.steps[0].h), -1).topk(3)
    np.testing.assert_allclose(step["pred_p"], top.values.numpy(), rtol=1e-6)
    assert list(w.prediction()) == [labels[i] for i in top.indices.tolist()]
    # without a head: no prediction fields, no labels
    plain = AttentionWidget(model, inputs=x)
    plain.send = rec
    rec.clear()
    plain.step()
    (bare,) = decoded(rec).values()
    assert bare["pred_p"] is None and plain.prediction_labels == [] and plain.prediction() == {}
    with pytest.raises(ValueError, match=r"states h of size H = 5"):
        AttentionWidget(model, inputs=x, head=torch.nn.Linear(4, 3))
    with pytest.raises(ValueError, match=r"name each of the head's C = 30 classes, got 2"):
        AttentionWidget(model, inputs=x, head=head, labels=["a", "b"])
    with pytest.raises(ValueError, match=r"top_k must be an int in 1 … 20"):
        AttentionWidget(model, inputs=x, head=head, top_k=0)
    with pytest.raises(ValueError, match="give head= too"):
        AttentionWidget(model, inputs=x, labels=["a"])
    with pytest.raises(TypeError, match=r"head must be an nn\.Module"):
        AttentionWidget(model, inputs=x, head=lambda h: h)


def test_a_text_widget_follows_its_embedding_and_head_when_trained_by_hand():
    text = pytest.importorskip("attn_widget.text")
    torch.manual_seed(0)
    vocab = text.Vocab(text.word_tokenize("the key to the cabinets is here"))
    tm = text.TextRNN(vocab, D, H, update="lstmn", n_outputs=3)
    w = AttentionWidget.from_text(tm, "the key is here")
    w.send = Recorder()
    w.goto(4)
    ids = torch.tensor(vocab.encode(["the", "key", "is", "here"]))
    opt = torch.optim.SGD(tm.parameters(), lr=1.0)
    tm(ids)[1].sum().backward()
    opt.step()  # embedding, LSTMN and head all change, outside train()
    before = w.version
    w.goto(2)
    w.goto(4)
    assert w.version > before
    with torch.no_grad():
        trace, logits = tm(ids)
    torch.testing.assert_close(w.trace().h, trace.h)
    want = torch.softmax(logits[3], -1)
    got = w.prediction(4, top=3)
    for label, p in got.items():
        assert p == pytest.approx(float(want[w.prediction_labels.index(label)]), abs=1e-6)
    with torch.no_grad():  # the head alone changes: the prediction follows at once
        tm.out.bias.add_(torch.tensor([5.0, 0.0, 0.0]))
    assert next(iter(w.prediction(4))) == "class 0"


def test_a_training_mode_head_predicts_in_eval_mode_and_a_failing_head_never_blocks_a_move():
    torch.manual_seed(0)
    model = SelfAttentionRNN(D, H)
    x = torch.randn(4, D)
    head = torch.nn.Sequential(torch.nn.Linear(H, 8), torch.nn.Dropout(0.5), torch.nn.Linear(8, 3))
    w = AttentionWidget(model, inputs=x, head=head)
    assert head.training  # put back as it was
    assert w.prediction(3) == w.prediction(3)  # no dropout noise
    calls = {"n": 0}

    class Flaky(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = torch.nn.Linear(H, 2)

        def forward(self, h):
            calls["n"] += 1
            if calls["n"] > 1:
                raise RuntimeError("broken head")
            return self.lin(h)

    flaky = AttentionWidget(model, inputs=x, head=Flaky())
    rec = Recorder()
    flaky.send = rec
    flaky.step()  # the move completes; its step goes out without a prediction
    assert flaky.t == 1 and "broken head" in flaky.status
    (sent,) = decoded(rec).values()
    assert sent["pred_p"] is None and sent["h"] is not None
    with pytest.raises(ValueError, match="labels must be distinct"):
        AttentionWidget(model, inputs=x, head=torch.nn.Linear(H, 2), labels=["a", "a"])
    with warnings.catch_warnings():  # torch warns that a 0-wide layer has nothing to initialise
        warnings.simplefilter("ignore", UserWarning)
        empty = torch.nn.Linear(H, 0)
    with pytest.raises(ValueError, match=r"C ≥ 1"):
        AttentionWidget(model, inputs=x, head=empty)
    with pytest.raises(ValueError, match="top_k must be an int"):
        AttentionWidget(model, inputs=x, top_k=-5)
    assert len(w.prediction(2, top=np.int64(2))) == 2
