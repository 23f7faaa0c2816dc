"""Save and load a :class:`~attn_widget.text.TextRNN` as ``{config, state_dict, metadata}``.

A checkpoint is a plain dict written by ``torch.save``:

- ``format``: ``"attn_widget.checkpoint/1"``;
- ``config``: ``TextRNN.config()`` (vocabulary, sizes, update rule, align, …);
- ``state_dict``: the weights;
- ``metadata``: plain Python data (str, int, float, bool, None, lists, dicts):
  the task, its settings, the measured accuracy, a demo sentence, ….

It is read back with ``torch.load(path, weights_only=True)`` (docs/design.md §4), so
loading a checkpoint never runs code from the file.  The demo models shipped
in ``attn_widget/checkpoints/`` are made by ``scripts/make_checkpoints.py``.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from .text import TextRNN

FORMAT = "attn_widget.checkpoint/1"
CHECKPOINT_DIR = Path(__file__).parent / "checkpoints"
_KEYS = ("config", "state_dict", "metadata")


class CheckpointError(ValueError):
    """A file that is not a usable attn_widget checkpoint (corrupt, foreign or mismatched)."""


def save_checkpoint(model: TextRNN, path: str | os.PathLike, metadata: dict | None = None) -> Path:
    """Write ``model`` to ``path`` as ``{format, config, state_dict, metadata}``; return the path.

    ``metadata`` must hold only plain data, so that ``weights_only`` loading accepts it.
    """
    if not isinstance(model, TextRNN):
        raise TypeError(f"model must be a TextRNN, got {type(model).__name__}")
    path = Path(path)
    state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    blob = {
        "format": FORMAT,
        "config": model.config(),
        "state_dict": state,
        "metadata": dict(metadata or {}),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(blob, path)
    return path


def _shape(value) -> str:
    return str(tuple(value.shape)) if isinstance(value, torch.Tensor) else type(value).__name__


def load_checkpoint(path: str | os.PathLike, *, map_location: str = "cpu") -> TextRNN:
    """Rebuild the :class:`TextRNN` saved at ``path``, in eval mode.

    The checkpoint's metadata is attached as ``model.metadata`` (a dict).

    Raises:
        FileNotFoundError: no file at ``path``.
        CheckpointError: the file is not a readable ``torch.save`` archive, is
            not an attn_widget checkpoint, or its weights do not fit its config
            (missing or unexpected entries, wrong shapes, not tensors, NaN or
            Inf).  The shapes are checked before any model is built, so a small
            file whose config asks for a huge model fails at once.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint file at {path}")
    try:
        blob = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as error:  # torch raises several types for a bad archive
        raise CheckpointError(
            f"{path} is not a readable checkpoint (corrupt, truncated, or not written by "
            f"torch.save with plain data): {type(error).__name__}: {error}"
        ) from error
    if not isinstance(blob, dict) or any(key not in blob for key in _KEYS):
        found = sorted(blob) if isinstance(blob, dict) else type(blob).__name__
        raise CheckpointError(
            f"{path} is not an attn_widget checkpoint: expected a dict with keys "
            f"{list(_KEYS)}, found {found}"
        )
    if blob.get("format", FORMAT) != FORMAT:
        raise CheckpointError(
            f"{path} has format {blob['format']!r}; this version reads {FORMAT!r}"
        )
    if not isinstance(blob["metadata"], dict):
        raise CheckpointError(
            f"{path}: metadata must be a dict, got {type(blob['metadata']).__name__}"
        )
    state = blob["state_dict"]
    if not isinstance(state, dict):
        raise CheckpointError(f"{path}: state_dict must be a dict, got {type(state).__name__}")
    if not isinstance(blob["config"], dict):
        raise CheckpointError(f"{path}: config must be a dict, got {type(blob['config']).__name__}")
    odd_keys = [k for k in state if not isinstance(k, str)]
    if odd_keys:
        raise CheckpointError(f"{path}: state_dict keys must be str, got {odd_keys[:3]!r}")
    try:
        # On the meta device first: the shapes the config implies, with no memory
        # allocated, so a small file asking for a huge model is refused at once.
        with torch.device("meta"):
            expected = TextRNN.from_config(blob["config"]).state_dict()
    except Exception as error:
        raise CheckpointError(
            f"{path} has a config that cannot build a TextRNN: {type(error).__name__}: {error}"
        ) from error
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong = [
        f"{k}: file {_shape(state[k])} vs model {tuple(expected[k].shape)}"
        for k in sorted(set(expected) & set(state))
        if not isinstance(state[k], torch.Tensor) or state[k].shape != expected[k].shape
    ]
    wrong += [
        f"{k}: {state[k].dtype}, not a real floating-point tensor"
        for k in sorted(set(expected) & set(state))
        if isinstance(state[k], torch.Tensor)
        and (not state[k].is_floating_point() or state[k].is_complex())
    ]
    # A tensor is stored as its storage: one whose shape claims more elements than
    # its storage holds (a stride-0 view) would make a small file a huge model.
    wrong += [
        f"{k}: stored in {state[k].untyped_storage().nbytes()} bytes, which cannot hold "
        f"its shape {tuple(state[k].shape)}"
        for k in sorted(set(expected) & set(state))
        if isinstance(state[k], torch.Tensor)
        and state[k].untyped_storage().nbytes() < state[k].numel() * state[k].element_size()
    ]
    if missing or unexpected or wrong:
        problems = []
        if missing:
            problems.append(f"missing weights {missing}")
        if unexpected:
            problems.append(f"unexpected weights {unexpected}")
        if wrong:
            problems.append("wrong weights " + "; ".join(wrong))
        raise CheckpointError(
            f"{path}: the weights do not match the config ({blob['config'].get('update')}, "
            f"hidden_size={blob['config'].get('hidden_size')}): " + ", ".join(problems)
        )
    broken = sorted(
        k for k, v in state.items() if v.is_floating_point() and not torch.isfinite(v).all()
    )
    if broken:
        raise CheckpointError(f"{path}: the weights {broken} hold NaN or Inf")
    model = TextRNN.from_config(blob["config"])
    model.load_state_dict(state)
    model.eval()
    model.metadata = dict(blob["metadata"])
    return model


# The shipped demo models: for each task, the updates it ships.  ``lookup`` is the
# headline demo (a task eq1 fails); the LSTMN is shipped where it learns the task.
SHIPPED = {
    "lookup": ("eq1", "eq3", "eq4"),
    "recall": ("eq1", "eq3", "eq4", "lstmn"),
    "agreement": ("eq1", "eq3", "eq4", "lstmn"),
}
# The file of a shipped model is CHECKPOINT_DIR / f"{task}-{STEMS[update]}.pt".
STEMS = {"eq4": "eq4-dot", "eq3": "eq3-additive", "eq1": "eq1", "lstmn": "lstmn"}


def builtin_checkpoint(task: str, update: str = "eq4") -> Path:
    """Path of a shipped demo model: ``task`` one of :data:`SHIPPED` (lookup, recall,
    agreement), ``update`` eq1, eq3 (additive align), eq4 (dot align) or, where
    shipped, ``"lstmn"``, the LSTMN of Cheng et al. (2016)."""
    if task not in SHIPPED:
        raise ValueError(f"task must be one of {tuple(SHIPPED)}, got {task!r}")
    if update not in SHIPPED[task]:
        raise ValueError(f"update must be one of {SHIPPED[task]} for {task}, got {update!r}")
    path = CHECKPOINT_DIR / f"{task}-{STEMS[update]}.pt"
    if not path.is_file():
        raise FileNotFoundError(
            f"the shipped checkpoint {path.name} is missing from {CHECKPOINT_DIR}; "
            "regenerate it with `python scripts/make_checkpoints.py`"
        )
    return path
