"""What a user may do to a widget that it is not built for (issue 25, second
hostile pass), each refused clearly or made to work:

- two widgets on one Session show the session's position, and a move from
  either starts where the session stands;
- tokens and a title are bounded in length, as text from Python is;
- a state update from the page that is not a JSON object gets an error reply,
  never an exception in the kernel's comm handler;
- ``close()`` outside a kernel lets go of the widget and its steps;
- a widget cannot be pickled, and says what to save instead.
"""

from __future__ import annotations

import pickle

import pytest
import torch

import attn_widget.widget as widget_module
from attn_widget.comparison import compare
from attn_widget.core import SelfAttentionRNN
from attn_widget.widget import AttentionWidget


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
        return [c for c, _ in self.sent if c.get("type") == kind]


def make(T=5, **kw):
    torch.manual_seed(0)
    model = SelfAttentionRNN(4, 8)
    w = AttentionWidget(model, inputs=torch.randn(T, 4), **kw)
    w.send = Recorder()
    return w


def test_a_widget_cannot_be_pickled_and_says_what_to_save_instead():
    w = make()
    with pytest.raises(TypeError, match=r"AttentionWidget cannot be pickled.*save_checkpoint"
                       r".*save_html"):  # fmt: skip
        pickle.dumps(w)
    torch.manual_seed(0)
    both = compare(SelfAttentionRNN(4, 8), SelfAttentionRNN(4, 8, update="eq1"),
                   inputs=torch.randn(3, 4))  # fmt: skip
    with pytest.raises(TypeError, match=r"Compare cannot be pickled"):
        pickle.dumps(both)


@pytest.mark.parametrize("state", [[1, 2], "t", 3, None])
def test_a_state_update_that_is_not_an_object_gets_an_error_reply(state, caplog):
    # from the page: {method: "update", state: [1, 2], buffer_paths: []} reached
    # set_state([1, 2]), whose dict() raised in ipywidgets' comm handler, with no reply
    w = make()
    w.goto(2)
    w.send.sent.clear()
    message = {"content": {"data": {"method": "update", "state": state, "buffer_paths": []}},
               "buffers": []}  # fmt: skip
    w._handle_msg(message)
    w.set_state(state)  # the same, from Python
    errors = w.send.of_type("error")
    assert len(errors) == 2, w.send.sent
    for error in errors:
        assert error["request"] == "update"
        assert error["message"] == (
            f"a state update must be a JSON object of trait values, got {type(state).__name__}; "
            "ignored"
        )
    assert w.t == 2 and w.status.startswith("error: a state update must be")
    assert not [r for r in caplog.records if "Exception in widget method" in r.getMessage()]
