"""Update rules: what the cell concatenates into z before h_{t+1} = tanh(A·z + b).

The order inside the concatenation is part of the contract (docs/design.md §1):

- ``eq1``  z = [h_t; x_{t+1}]         plain SimpleRNN, no attention
- ``eq3``  z = [x_{t+1}; c_t]         the context replaces the state
- ``eq4``  z = [h_t; x_{t+1}; c_t]    state, input and context
"""

from __future__ import annotations

import torch
from torch import Tensor

UPDATE_NAMES = ("eq1", "eq3", "eq4")

_PARTS = {"eq1": ("h", "x"), "eq3": ("x", "c"), "eq4": ("h", "x", "c")}


def check_update(update: str) -> None:
    if not isinstance(update, str) or update not in _PARTS:
        raise ValueError(f"update must be one of {UPDATE_NAMES}, got {update!r}")


def z_layout(update: str, input_size: int, hidden_size: int) -> list[tuple[str, int]]:
    """The blocks of z in order, as (name, size); name is "h" (h_t), "x" (x_{t+1}) or "c" (c_t).

    >>> z_layout("eq4", 2, 3)
    [('h', 3), ('x', 2), ('c', 3)]
    """
    check_update(update)
    sizes = {"h": hidden_size, "x": input_size, "c": hidden_size}
    return [(part, sizes[part]) for part in _PARTS[update]]


def uses_attention(update: str) -> bool:
    """eq3 and eq4 read the context c_t; eq1 does not."""
    check_update(update)
    return "c" in _PARTS[update]


def concat(update: str, h_t: Tensor, x_next: Tensor, c_t: Tensor | None) -> Tensor:
    """z for one step.  h_t (B, H), x_next (B, D), c_t (B, H) or None -> z (B, |z|)"""
    parts = {"h": h_t, "x": x_next, "c": c_t}
    return torch.cat([parts[name] for name in _PARTS[update]], dim=-1)
