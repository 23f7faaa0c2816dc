"""The widget's side of the conversation with the front end, one job per module:

- :mod:`.outbox`: what the front end was sent, and the one rule for what a
  "steps" message may carry (``STEP_DATA_LIMIT``), which every path goes through;
- :mod:`.ahead`: computing ahead of the position, between cells;
- :mod:`.snapshot`: when the saved-state snapshot is rebuilt, and what it holds;
- :mod:`.answers`: the answers to the front end's messages and trait writes.

The message formats and the codec are :mod:`attn_widget.protocol`'s.  Nothing
here imports Jupyter: the widget is reached through :class:`.host.Host`.
"""

from .ahead import AHEAD_SECONDS, AHEAD_STEPS, ComputeAhead
from .answers import Answers, screen_state
from .host import Host
from .outbox import Outbox, message_spans, saved_count
from .snapshot import Snapshots

__all__ = [
    "AHEAD_SECONDS",
    "AHEAD_STEPS",
    "Answers",
    "ComputeAhead",
    "Host",
    "Outbox",
    "Snapshots",
    "message_spans",
    "saved_count",
    "screen_state",
]
