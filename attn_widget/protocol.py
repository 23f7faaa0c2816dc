"""The contract between the kernel and the front end: message types, the
binary step codec, the snapshot format and the constants both sides share.

``js/src/protocol.ts`` mirrors this module name for name, and
``tests/test_protocol.py`` checks that every shared constant has the same value
on both sides.  docs/design.md §2 tells the story; this is the reference.

Position ``t`` (the k of docs/design.md §1, 0 … T) is one synced trait that both
sides write.  Arrays travel in binary ``buffers``; the JSON ``content`` of a
message holds only their descriptors.

Kernel → front end (``KERNEL_MESSAGES``)
    ``{"type": "steps", "version": v, "frontier": n, "T": T, "reason": r,
    "steps": [step, …]}`` with one buffer of little-endian float32.  Each
    ``step`` is ``{"t": s, "scores": arr, "alpha": arr, "c": arr, "z": arr,
    "pre": arr, "h": arr}`` for step s (it consumed x_{s+1}, produced h_{s+1});
    ``arr`` is ``{"buffer": 0, "dtype": "float32", "shape": [n], "offset": bytes}``
    or null (scores, alpha, c under eq1).  ``reason`` is one of ``STEP_REASONS``:
    "step" (a move), "sync" (an answer to one), "ahead" (computed past the
    position before it was asked for), "reset" (new inputs, weights or an
    edit) or "trace" (a training push).
    ``{"type": "sensitivity", "version": v, "k": k, "values": arr}`` with one
    float32 buffer: ‖∂h_k/∂x_i‖ for i = 1 … k, the gradient shading at
    position k (``values`` is null at k = 0).
    ``{"type": "error", "message": str, "request": str | null}``
    ``{"type": "pong"}``

Front end → kernel (``FRONT_END_MESSAGES``)
    ``{"type": "sync", "version": v, "have": n, "k": k}``: the front end holds
    steps 0 … n-1 of data version v (from the saved snapshot, say); the kernel
    answers with "steps" messages holding the computed steps it lacks that
    position k needs (steps n … k-1), then what fits beyond (one message,
    unless they take more than ``STEP_DATA_LIMIT`` bytes: see ``wire/outbox.py``).
    ``k`` (0 … T) is optional: without it, the kernel's own ``t``.
    ``{"type": "sensitivity", "version": v, "k": k}``: asks for the gradient
    shading at position k (sent while ``shading`` is "gradient").
    ``{"type": "ping"}``
    ``{"type": "edit", "version": v, "i": i, "token": str | null}``: a what-if
    from the widget: x_i (1 … T) becomes the embedding of ``token``, a word of
    the trait ``vocabulary``, or, with ``token`` null, the zero vector (shown as
    ``ZERO_INPUT``).  The kernel recomputes from step i-1 on; earlier steps stay.
    ``{"type": "undo", "version": v}``: take back the last edit.
    ``{"type": "text", "text": str}``: read this sentence instead (a text
    model's widget, trait ``accepts_text``), at most ``MAX_TEXT_CHARS`` long.
    ``{"type": "knockout", "version": v, "slots": [i, …]}``: hide these slots
    (0 … T; slot 0 is ⟨start⟩, h_0) from attention, and show the others, as
    setting the trait ``knockout`` does, with its checks (trait ``can_knockout``
    says whether the view offers it).  Refused when v is not the current version.

Data of an older ``version`` is stale: the front end drops it.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Iterable, Sequence

import numpy as np
import torch
from torch import Tensor

from .core import LSTMNStep, Step

#: Message types the kernel sends, and those it answers.
KERNEL_MESSAGES = ("steps", "sensitivity", "error", "pong")
FRONT_END_MESSAGES = ("sync", "sensitivity", "ping", "edit", "undo", "text", "knockout")
#: Why a "steps" message was sent.
STEP_REASONS = ("step", "sync", "ahead", "reset", "trace")

#: The per-step arrays sent to the front end, in wire order.  A SelfAttentionRNN
#: step has scores, α, c (None for eq1), z, pre and h; an LSTMN step has scores,
#: α, h̃, m̃, the gates i, f, o, ĉ, m and h; either may carry a prediction (below).
#: A field a step lacks is sent as null.
STEP_FIELDS = (
    "scores",
    "alpha",
    "c",
    "z",
    "pre",
    "h",
    "h_tilde",
    "m_tilde",
    "i",
    "f",
    "o",
    "c_hat",
    "m",
    "pred_p",
    "pred_i",
)
#: With an output head, each step also carries what the head predicts from its
#: h: ``pred_p``, the top-k probabilities, largest first, and ``pred_i``, their
#: class indices (as float32, exact up to 2^24); at most this many.
MAX_TOP_K = 20

#: The traits the front end may write; every other synced trait is the kernel's.
FRONT_END_TRAITS = ("t", "speed", "playing", "shading")
#: Play speed bounds, in steps per second.
MIN_SPEED, MAX_SPEED = 0.25, 60.0
#: What the tokens can be shaded by: the weights α, or ‖∂h_k/∂x_i‖.
SHADINGS = ("alpha", "gradient")

#: The token shown for an input a what-if set to the zero vector.
ZERO_INPUT = "⟨0⟩"
#: The longest sentence the text box sends, in characters.
MAX_TEXT_CHARS = 2000

#: Bytes that open a snapshot (the ``_snapshot`` trait), then format version 1.
SNAPSHOT_MAGIC = b"ATW1"

#: The one bound on step data, in bytes of float32: the saved-state snapshot holds
#: the longest run of steps from step 0 that fits, and a message sends no more
#: than fits beyond the steps its position needs.
STEP_DATA_LIMIT = 4_000_000
#: What one array's JSON descriptor takes, at most: {buffer, dtype, shape, offset}.
STEP_JSON_BYTES_PER_ARRAY = 87


def step_arrays(step: Step | LSTMNStep) -> list[Tensor]:
    """The arrays of ``step`` that go on the wire, in STEP_FIELDS order."""
    return [v for v in (getattr(step, name, None) for name in STEP_FIELDS) if v is not None]


def step_bytes(step: Step | LSTMNStep) -> int:
    """One step on the wire: its float32 arrays plus their JSON descriptors (counted
    as STEP_JSON_BYTES_PER_ARRAY each).  A SelfAttentionRNN step is
    4·(2(t+1) + |z| + 3H) bytes of data (eq1 has no scores, α or c: 4·(|z| + 2H));
    an LSTMN step 4·(2(t+1) + 8H)."""
    arrays = step_arrays(step)
    return 4 * sum(a.numel() for a in arrays) + STEP_JSON_BYTES_PER_ARRAY * len(arrays)


def steps_within(steps: Sequence[Step], limit: int) -> int:
    """How many of ``steps``, from the first, fit in ``limit`` bytes."""
    total = 0
    for n, step in enumerate(steps):
        total += step_bytes(step)
        if total > limit:
            return n
    return len(steps)


def encode_steps(steps: Iterable[Step]) -> tuple[list[dict], bytes]:
    """Pack steps into JSON descriptors and one little-endian float32 buffer.

    A step t costs O(t + H) bytes (see :func:`step_bytes`).
    """
    descriptors, chunks, offset = [], [], 0
    for step in steps:
        desc: dict = {"t": int(step.t)}
        for name in STEP_FIELDS:
            value = getattr(step, name, None)
            if value is None:
                desc[name] = None
                continue
            array = value.detach().to("cpu", torch.float32).numpy().astype("<f4", copy=False)
            array = np.ascontiguousarray(array).reshape(-1)
            desc[name] = {
                "buffer": 0,
                "dtype": "float32",
                "shape": [int(array.size)],
                "offset": offset,
            }
            chunks.append(array.tobytes())
            offset += array.nbytes
        descriptors.append(desc)
    return descriptors, b"".join(chunks)


def decode_steps(descriptors: Sequence[dict], buffers: Sequence) -> list[dict]:
    """The inverse of :func:`encode_steps`: ``[{"t": s, name: ndarray | None}, …]``."""
    out = []
    for desc in descriptors:
        step: dict = {"t": desc["t"]}
        for name in STEP_FIELDS:
            arr = desc.get(name)
            if arr is None:
                step[name] = None
                continue
            raw = memoryview(buffers[arr["buffer"]]).cast("B")
            n = int(np.prod(arr["shape"]))
            step[name] = np.frombuffer(raw, dtype="<f4", count=n, offset=arr["offset"]).reshape(
                arr["shape"]
            )
        out.append(step)
    return out


def pack_snapshot(version: int, steps: Sequence[Step], computed: int | None = None) -> bytes:
    """``ATW1`` · uint32 header length · JSON header · padding to 4 · float32 data.

    ``computed``: how many steps the kernel had computed, when ``steps`` holds
    only the first of them (the front end says what was left out)."""
    descriptors, data = encode_steps(steps)
    computed = len(steps) if computed is None else computed
    header = {"version": version, "steps": descriptors, "computed": computed}
    header = json.dumps(header).encode("utf-8")
    start = 8 + len(header)
    pad = (-start) % 4
    return SNAPSHOT_MAGIC + struct.pack("<I", len(header)) + header + b" " * pad + data


def unpack_snapshot(blob: bytes) -> tuple[int, list[dict], int]:
    """The inverse of :func:`pack_snapshot`: (version, decoded steps, steps computed)."""
    blob = bytes(blob)
    if blob[:4] != SNAPSHOT_MAGIC:
        raise ValueError(f"not an attn_widget snapshot (starts with {blob[:4]!r})")
    (n,) = struct.unpack("<I", blob[4:8])
    header = json.loads(blob[8 : 8 + n].decode("utf-8"))
    start = 8 + n
    start += (-start) % 4
    steps = decode_steps(header["steps"], [blob[start:]])
    return header["version"], steps, header.get("computed", len(steps))
