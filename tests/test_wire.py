"""The wire's one rule for what a "steps" message may carry (docs/design.md §2,
"One bound on step data"), checked on every path: a move, computing ahead, a
precomputed widget, a sync, an edit; and the outbox driven without Jupyter."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch

from attn_widget.core import SelfAttentionRNN
from attn_widget.protocol import STEP_DATA_LIMIT, decode_steps, step_bytes
from attn_widget.session import Session
from attn_widget.wire import Outbox, message_spans
from attn_widget.wire.outbox import nearest_first_spans


def sizes(*costs):
    """Steps that are their own size, for message_spans(..., size=int)."""
    return list(costs)


@pytest.mark.parametrize(
    ("costs", "need", "limit", "spans"),
    [
        ((3, 3, 3, 3), 0, 10, [(0, 3)]),  # nothing needed: fill one message, no more
        ((3, 3, 3, 3), 4, 10, [(0, 3), (3, 4)]),  # all needed: a second message
        ((3, 3, 3, 3), 2, 10, [(0, 3)]),  # needed 2, a third fits, the fourth would not
        ((11, 3, 3), 1, 10, [(0, 1)]),  # a needed step over the bound goes alone
        ((11, 3, 3), 2, 10, [(0, 1), (1, 3)]),  # …and the next message fills up
        ((11, 3), 0, 10, []),  # an optional step over the bound is never sent
        ((4, 4, 4, 4, 4), 3, 8, [(0, 2), (2, 4)]),  # the last message takes one more
        ((), 0, 10, []),
    ],
)
def test_message_spans_by_hand(costs, need, limit, spans):
    assert message_spans(sizes(*costs), need, limit, size=int) == spans
    for start, end in spans:  # no message over the bound but a lone step
        assert end - start == 1 or sum(costs[start:end]) <= limit
    assert spans == [] or spans[-1][1] >= need


@pytest.mark.parametrize(
    ("costs", "need", "limit", "spans"),
    [
        ((3, 3, 3, 3), 4, 10, [(1, 4), (0, 1)]),  # cut from the last needed step back
        ((3, 3, 3, 3, 3), 2, 10, [(0, 3)]),  # both needed fit: one more rides along
        ((3, 3, 3, 3, 3), 4, 10, [(1, 4), (0, 1)]),  # the first is full: nothing beyond
        ((3, 3, 11, 3), 3, 10, [(2, 3), (0, 2)]),  # a needed step over the bound goes alone
        ((11, 3, 3), 3, 10, [(1, 3), (0, 1)]),
        ((3, 3, 3, 3), 0, 10, [(0, 3)]),  # nothing needed: as message_spans
        ((), 0, 10, []),
    ],
)
def test_nearest_first_spans_by_hand(costs, need, limit, spans):
    assert nearest_first_spans(sizes(*costs), need, limit, size=int) == spans
    covered = sorted(j for start, end in spans for j in range(start, end))
    assert covered == list(range(len(covered))) and len(covered) >= need  # each once, no gap
    for start, end in spans:
        assert end - start == 1 or sum(costs[start:end]) <= limit


class FakeHost:
    """What the wire needs of a widget, without Jupyter: traits and a send."""

    def __init__(self, T):
        self.t, self.T, self.frontier, self.status = 0, T, 0, ""
        self.playing, self.editable, self.accepts_text, self.comm = False, True, False, None
        self.keys = ["t", "speed", "playing", "shading"]
        self.sent: list[tuple[dict, list]] = []

    def send(self, content, buffers=None):
        self.sent.append((content, list(buffers or [])))

    def send_state(self, key=None):
        pass


def test_an_outbox_sends_each_step_once_with_the_cores_numbers():
    torch.manual_seed(0)
    model = SelfAttentionRNN(3, 5).double()
    x = torch.randn(9, 3, dtype=torch.float64)
    session = Session(model, x)
    host = FakeHost(session.T)
    outbox = Outbox(session, host)
    session.goto(4)
    outbox.push(4, reason="step")
    session.goto(2)
    outbox.push(2, reason="step")  # held already: nothing
    session.goto(9)
    outbox.push(9, reason="step")
    got = [
        step for content, buffers in host.sent for step in decode_steps(content["steps"], buffers)
    ]
    assert [s["t"] for s in got] == list(range(9)) and host.frontier == 9
    assert [c["reason"] for c, _ in host.sent] == ["step", "step"]
    trace = model(x)
    for s in got:  # float32 on the wire against the float64 batched run
        torch.testing.assert_close(
            torch.tensor(s["h"], dtype=torch.float64), trace.h[s["t"] + 1], rtol=1e-6, atol=1e-7
        )


def test_a_refill_sends_the_steps_nearest_its_position_first():
    # The front end dropped steps 1 … 8 and, stepping back from 9, asks for them
    # again: in messages of at most three steps, the ones ending at 9 go first.
    torch.manual_seed(0)
    model = SelfAttentionRNN(3, 5).double()
    x = torch.randn(12, 3, dtype=torch.float64)
    session = Session(model, x)
    session.goto(12)
    host = FakeHost(session.T)
    outbox = Outbox(session, host)
    per_step = step_bytes(session.predicted(session.steps[8:9])[0])
    limit = 3 * per_step + per_step // 2  # three steps (the late ones are the largest)
    import attn_widget.wire.outbox as outbox_module

    original = outbox_module.STEP_DATA_LIMIT
    outbox_module.STEP_DATA_LIMIT = limit
    try:
        outbox.refill(session.version, 1, 9)
    finally:
        outbox_module.STEP_DATA_LIMIT = original
    got = [[s["t"] for s in decode_steps(c["steps"], b)] for c, b in host.sent]
    assert [c["reason"] for c, _ in host.sent] == ["sync"] * len(got)
    assert len(got) == 3, got
    sent = sorted(t for message in got for t in message)
    assert sent == list(range(1, sent[-1] + 1)) and sent[-1] >= 8  # 1 … 8, and what fit beyond
    # each message's steps ascend; the messages descend, the nearest to 9 first
    assert all(m == sorted(m) for m in got)
    assert [m[0] for m in got] == sorted((m[0] for m in got), reverse=True)
    assert 8 in got[0] and 1 in got[-1]
    # a push for a move keeps the order of the steps
    host.sent.clear()
    outbox.restart()
    outbox.push(12, reason="step")
    firsts = [decode_steps(c["steps"], b)[0]["t"] for c, b in host.sent]
    assert firsts == sorted(firsts)


# Run in a fresh interpreter with a running loop, as a kernel cell would be, so
# computing ahead is queued and run for real; public API only (and w.send).
_BOUND_SCRIPT = """
import asyncio, json
import torch
import attn_widget.widget as widget_module
from attn_widget import AttentionWidget, SelfAttentionRNN

widget_module._bundle = lambda: ("export default {};", "")
sent, phase = [], ["move"]

async def cell():
    torch.manual_seed(0)
    w = AttentionWidget(SelfAttentionRNN(4, 256), inputs=torch.randn(1000, 4), precompute=True)
    w.send = lambda content, buffers=None: sent.append([phase[0], content, buffers])
    w.goto(1)  # a move; then the loop computes ahead and pushes
    await asyncio.sleep(0.2)
    phase[0] = "goto(T)"
    w.goto(w.T)  # every step it lacks
    await asyncio.sleep(0.2)
    phase[0] = "lazy"
    lazy = AttentionWidget(SelfAttentionRNN(4, 256), inputs=torch.randn(1000, 4))
    lazy.send = w.send
    lazy.goto(lazy.T)  # computed and sent in one move
    await asyncio.sleep(0.2)
    phase[0] = "edit"
    w.edit(3, "new", torch.randn(4))  # a new version of a precomputed widget
    await asyncio.sleep(0.2)

asyncio.run(cell())
out = []
for phase, content, buffers in sent:
    if content["type"] != "steps":
        continue
    ts = [s["t"] for s in content["steps"]]
    out.append([phase, content["reason"], content["version"], ts, [len(b) for b in buffers]])
print(json.dumps(out))
"""


def test_no_message_carries_more_than_the_bound_on_any_path():
    """Computing ahead used to push every computed step in one message (5.7 MB for
    a precomputed T = 1000 after one move); every path now goes through the outbox."""
    result = subprocess.run(
        [sys.executable, "-c", _BOUND_SCRIPT], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    log = json.loads(result.stdout.strip().splitlines()[-1])
    torch.manual_seed(0)
    steps = SelfAttentionRNN(4, 256).stepper(torch.randn(1000, 4))
    steps.goto(1000)
    cost = [step_bytes(s) for s in steps.steps]  # the same shapes as the widget's
    held: dict[tuple[str, int], set[int]] = {}
    for phase, reason, version, ts, _ in log:
        assert sum(cost[t] for t in ts) <= STEP_DATA_LIMIT or len(ts) == 1, (phase, reason)
        widget = "lazy" if phase == "lazy" else "precomputed"
        have = held.setdefault((widget, version), set())
        assert not have & set(ts), "a step sent twice"
        have.update(ts)
    ahead_of_1 = [t for e in log if e[0] == "move" for t in e[3] if t >= 1]
    assert sum(cost[t] for t in ahead_of_1) <= STEP_DATA_LIMIT  # past the position: the bound
    assert {e[1] for e in log if e[0] == "move"} <= {"step", "ahead"}
    assert held[("precomputed", 0)] == set(range(1000))  # goto(T): all of them in the end
    assert held[("lazy", 0)] == set(range(1000))
    assert len([e for e in log if e[0] == "lazy"]) >= 2  # 9 MB the position needs: several
    edit = [e for e in log if e[0] == "edit"]
    assert edit[0][1] == "reset" and {e[2] for e in edit} == {1}
    assert held[("precomputed", 1)] == set(range(1000))  # at position T: all, within the bound
