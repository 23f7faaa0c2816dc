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
import zipfile
from pathlib import Path

import torch

from .text import TextRNN

FORMAT = "attn_widget.checkpoint/1"
CHECKPOINT_DIR = Path(__file__).parent / "checkpoints"
_KEYS = ("config", "state_dict", "metadata")
_ZIP_MAGIC = b"PK\x03\x04"  # a zip archive's first local header: how torch.load tells one
# What a checkpoint's records besides its tensors may unpack to: the pickled config
# (100,000 words of 11 letters or so take 2.1 MB) and metadata, plus torch's own
# few bytes.  The shipped checkpoints' take about 2 KB.
PICKLE_LIMIT = 16 * 2**20


class CheckpointError(ValueError):
    """A file that is not a usable attn_widget checkpoint (corrupt, foreign or mismatched)."""


def save_checkpoint(model: TextRNN, path: str | os.PathLike, metadata: dict | None = None) -> Path:
    """Write ``model`` to ``path`` as ``{format, config, state_dict, metadata}``; return the path.

    ``metadata`` must hold only plain data that :func:`load_checkpoint` accepts (str,
    int, float, bool, None, lists, tuples, dicts; text UTF-8 can encode; at most
    ``MAX_DEPTH`` levels and ``MAX_VALUES`` values): anything else is refused here,
    before a file is written, by the same check that loading makes.
    """
    if not isinstance(model, TextRNN):
        raise TypeError(f"model must be a TextRNN, got {type(model).__name__}")
    if metadata is not None and not isinstance(metadata, dict):
        raise TypeError(f"metadata must be a dict or None, got {type(metadata).__name__}")
    metadata = dict(metadata or {})
    problem = _plain_data_problem(metadata, "metadata")  # what load_checkpoint refuses
    if problem:
        raise ValueError(f"{problem}; {_plain_data('metadata')}, which a checkpoint can load")
    path = Path(path)
    state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    blob = {"format": FORMAT, "config": model.config(), "state_dict": state, "metadata": metadata}
    path.parent.mkdir(parents=True, exist_ok=True)
    # Written beside the target and moved there only once load_checkpoint's first
    # bound holds, so a save never leaves a file that load refuses (or half a file).
    partial = path.with_name(f".{path.name}.partial")
    try:
        torch.save(blob, partial)
        others = [entry for entry in _archive_entries(partial) if not _is_tensor_record(entry)]
        if _unpacked(others) > PICKLE_LIMIT:
            raise ValueError(
                f"the config and metadata pickle to {_unpacked(others)} bytes; "
                f"a checkpoint may hold at most PICKLE_LIMIT = {PICKLE_LIMIT} bytes of them "
                "(load_checkpoint refuses more)"
            )
        partial.replace(path)
    finally:
        partial.unlink(missing_ok=True)
    return path


def _shape(value) -> str:
    return str(tuple(value.shape)) if isinstance(value, torch.Tensor) else type(value).__name__


def _archive_entries(path: Path) -> list[zipfile.ZipInfo]:
    """The archive's central directory: every record's name and unpacked size, read
    before torch reads any record.

    torch.save writes a zip archive; torch.load reads any other file as its
    legacy stream, which allocates each tensor at the size the stream claims
    before reading it, so only a zip archive (as torch.load tells one: by its
    first four bytes) is accepted.
    """
    with path.open("rb") as file:
        magic = file.read(4)
    if magic != _ZIP_MAGIC:
        raise CheckpointError(
            f"{path} is not a readable checkpoint: it does not start as the zip archive "
            f"torch.save writes (first bytes {magic!r}, expected {_ZIP_MAGIC!r})"
        )
    try:
        with zipfile.ZipFile(path) as archive:
            return archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError) as error:
        raise CheckpointError(
            f"{path} is not a readable checkpoint (a corrupt or truncated zip archive): "
            f"{type(error).__name__}: {error}"
        ) from error


def _is_tensor_record(entry: zipfile.ZipInfo) -> bool:
    """torch.save keeps each tensor's storage in ``<archive>/data/<key>``; the pickle
    (config, metadata, the tensors' shapes) and a few small records sit beside them."""
    return entry.filename.partition("/")[2].startswith("data/")


def _unpacked(entries: list[zipfile.ZipInfo]) -> int:
    return sum(entry.file_size for entry in entries)


# How deep and how large the config and metadata may be: plain data a person wrote
# (the shipped metadata is 3 levels deep; a config's vocabulary of 100,000 words is
# 100,001 values).  A forged file nested 200,000 deep used to load in 19 s and then
# break repr() and save_checkpoint() with RecursionError.
MAX_DEPTH = 64
MAX_VALUES = 2**20
# The types plain data is made of: what torch.load(weights_only=True) rebuilds as
# itself (a numpy float is a float subclass that it refuses: checked by exact type).
_PLAIN = (str, int, float, bool, type(None), list, tuple, dict)


def _where(at) -> str:
    """``metadata['a'][2]`` from the chain of keys on the way down, ``at = (parent,
    key)`` (built only for an error)."""
    keys = []
    while isinstance(at, tuple):
        at, key = at
        keys.append(key)
    text = at
    for key in reversed(keys):
        text = f"a key of {text}" if key is _KEY else f"{text}[{key!r}]"
    return text


_KEY = object()  # a step onto a dict's key, not its value


def _plain_data_problem(value, where: str) -> str | None:
    """What makes ``value`` not plain data, or None: a type other than str, int,
    float, bool, None, list, tuple and dict (a tensor: only the state_dict holds
    tensors), a str that UTF-8 cannot encode (it could never be sent to the
    browser), more than ``MAX_DEPTH`` levels of nesting or more than
    ``MAX_VALUES`` values, a container reached twice counting twice (a list of
    itself 40 times over is 2**40 values to repr or save, though it pickles in
    24 kB).  Walked without recursion, stopping at either bound, so a deep,
    shared or self-referencing structure is refused in time bounded by them.
    save_checkpoint and load_checkpoint both ask this, so a file saved loads."""
    # (value, where it sits: the root's name or (parent, key), its depth)
    stack, count = [(value, where, 0)], 0
    while stack:
        item, at, depth = stack.pop()
        count += 1
        if count > MAX_VALUES:
            return f"{where} holds more than MAX_VALUES = {MAX_VALUES:,} values"
        if depth > MAX_DEPTH:
            return f"{where} is nested more than MAX_DEPTH = {MAX_DEPTH} levels deep"
        if isinstance(item, torch.Tensor):
            return (
                f"{_where(at)} holds a tensor of shape {tuple(item.shape)}; "
                "only state_dict holds tensors"
            )
        if type(item) not in _PLAIN:
            return f"{_where(at)} holds a {type(item).__module__}.{type(item).__qualname__}"
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError as error:
                return (
                    f"{_where(at)} holds the str {item[:40]!r}, whose {item[error.start]!r} "
                    f"at index {error.start} UTF-8 cannot encode (a lone surrogate)"
                )
        elif isinstance(item, dict | list | tuple):
            if isinstance(item, dict):
                for key, inner in item.items():
                    stack += [(key, (at, _KEY), depth + 1), (inner, (at, key), depth + 1)]
            else:
                stack += [(inner, (at, i), depth + 1) for i, inner in enumerate(item)]
    return None


def _plain_data(what: str) -> str:
    return f"{what} must be plain data (str, int, float, bool, None, lists, tuples, dicts)"


def _check_blob(path: Path, blob) -> dict[str, torch.Tensor]:
    """Everything about ``blob`` but its numbers: the layout, the config, and each
    weight's shape, dtype and storage against what the config builds.  Returns the
    config's state_dict on the meta device (shapes, no memory).  Works the same on
    a blob loaded to the meta device, whose tensors have shapes and no values."""
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
    for key in ("config", "metadata"):
        problem = _plain_data_problem(blob[key], key)
        if problem:
            raise CheckpointError(f"{path}: {problem}; {_plain_data(key)}")
    odd_keys = [k for k in state if not isinstance(k, str)]
    if odd_keys:
        raise CheckpointError(f"{path}: state_dict keys must be str, got {odd_keys[:3]!r}")
    try:
        # On the meta device: the shapes the config implies, with no memory
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
    # A tensor is stored as its whole storage: a storage smaller than the shape (a
    # stride-0 view) would make a small file a huge model, and a larger one (a
    # view into a big tensor) would make a big load for a small weight.
    wrong += [
        f"{k}: stored in {state[k].untyped_storage().nbytes()} bytes, but its shape "
        f"{tuple(state[k].shape)} takes {state[k].numel() * state[k].element_size()}"
        for k in sorted(set(expected) & set(state))
        if isinstance(state[k], torch.Tensor)
        and state[k].untyped_storage().nbytes() != state[k].numel() * state[k].element_size()
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
    return expected


def _torch_load(path: Path, map_location):
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as error:  # torch raises several types for a bad archive
        raise CheckpointError(
            f"{path} is not a readable checkpoint (corrupt, truncated, or not written by "
            f"torch.save with plain data): {type(error).__name__}: {error}"
        ) from error


def load_checkpoint(path: str | os.PathLike, *, map_location: str = "cpu") -> TextRNN:
    """Rebuild the :class:`TextRNN` saved at ``path``, in eval mode.

    The checkpoint's metadata is attached as ``model.metadata`` (a dict).

    What the file may ask for is bounded before torch reads any tensor:

    1. its zip archive's central directory gives every record's unpacked size:
       the records besides the tensors (the pickled config and metadata, and a
       few bytes of torch's own) may unpack to at most ``PICKLE_LIMIT`` bytes;
    2. the pickle alone is then loaded, every tensor on the meta device (a
       shape, no memory), and checked: the config builds a model (whose sizes
       :class:`~attn_widget.core.SelfAttentionRNN` bounds) on the meta device,
       each weight has that model's shape, a real floating-point dtype and a
       storage of exactly its own size; tensors anywhere else, and strings that
       UTF-8 cannot encode, are refused;
    3. the tensor records may unpack to at most what the config's weights take
       in float64 (8 bytes a weight).

    Only then are the weights read, and checked for NaN and Inf.

    Raises:
        FileNotFoundError: no file at ``path``.
        CheckpointError: the file is not a readable ``torch.save`` zip archive, is
            not an attn_widget checkpoint, asks for more than the bounds above, or
            its weights do not fit its config (missing or unexpected entries,
            wrong shapes, not tensors, NaN or Inf).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint file at {path}")
    entries = _archive_entries(path)
    others = [entry for entry in entries if not _is_tensor_record(entry)]
    if _unpacked(others) > PICKLE_LIMIT:
        raise CheckpointError(
            f"{path}: its records besides the tensors unpack to {_unpacked(others)} bytes "
            f"(largest: {max(others, key=lambda e: e.file_size).filename}); the config and "
            f"metadata may take at most PICKLE_LIMIT = {PICKLE_LIMIT} bytes"
        )
    expected = _check_blob(path, _torch_load(path, "meta"))
    n_weights = sum(v.numel() for v in expected.values())
    stored = _unpacked([entry for entry in entries if _is_tensor_record(entry)])
    if stored > 8 * n_weights:
        raise CheckpointError(
            f"{path}: its tensor records unpack to {stored} bytes, more than the "
            f"{8 * n_weights} bytes that the config's {n_weights} weights take even in float64"
        )
    blob = _torch_load(path, map_location)
    _check_blob(path, blob)  # the same file read again: refuse it if it changed meanwhile
    state = blob["state_dict"]
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
