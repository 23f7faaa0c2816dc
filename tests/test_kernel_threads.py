"""Front-end messages never race a running cell, wherever the widget was built (a real kernel).

A widget built on a background thread (as in a subshell cell or a script's
worker) still hands the front end's messages to the loop the kernel runs cells
on: a message that arrives on another thread during a cell is applied after it.
"""

from __future__ import annotations

import pytest

jupyter_client = pytest.importorskip("jupyter_client")


@pytest.fixture(scope="module")
def kernel():
    manager, client = jupyter_client.manager.start_new_kernel(kernel_name="python3")
    try:
        yield client
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)


def run(client, code: str) -> str:
    """Execute ``code`` in the kernel; return its stdout, failing on an error."""
    out: list[str] = []
    error: list[str] = []

    def on_output(msg):
        content = msg["content"]
        if msg["msg_type"] == "stream":
            out.append(content["text"])
        elif msg["msg_type"] == "error":
            error.append("\n".join(content["traceback"]))

    client.execute_interactive(code, output_hook=on_output, timeout=120)
    assert not error, error[0]
    return "".join(out)


BUILD_ON_A_THREAD = """
import asyncio, threading, torch
from attn_widget import AttentionWidget, SelfAttentionRNN
torch.manual_seed(0)
model = SelfAttentionRNN(3, 4)
built = {}
x = torch.randn(6, 3)
thread = threading.Thread(target=lambda: built.update(w=AttentionWidget(model, inputs=x)))
thread.start(); thread.join()
w = built["w"]
print(w._main_loop is asyncio.get_running_loop())
"""

MESSAGE_FROM_ANOTHER_THREAD_DURING_A_CELL = """
sender = threading.Thread(target=w.set_state, args=({"t": 4},))
sender.start(); sender.join()
print(w.t, w.stepper.k)  # still as it was: the message waits for this cell to end
"""


def test_a_widget_built_on_a_thread_defers_front_end_messages_to_the_cells_loop(kernel):
    assert run(kernel, BUILD_ON_A_THREAD).split() == ["True"]
    assert run(kernel, MESSAGE_FROM_ANOTHER_THREAD_DURING_A_CELL).split() == ["0", "0"]
    assert run(kernel, "print(w.t, w.stepper.k)").split() == ["4", "4"]  # after the cell
    # Once the move is answered, the kernel's loop computes ahead, here to T = 6.
    wait = "await asyncio.sleep(0.3)\nprint(w.stepper.frontier, w.t)"
    assert run(kernel, wait).split() == ["6", "4"]
