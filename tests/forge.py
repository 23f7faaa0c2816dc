"""Hostile checkpoint files, written byte by byte for the tests.

A ``torch.save`` file is a zip archive: ``<archive>/data.pkl`` (a pickle whose
tensors are persistent ids naming a storage record, its dtype and its length)
and one record ``<archive>/data/<key>`` of raw bytes per storage.  These helpers
write such archives by hand, so a test can declare a storage of any length,
compress a record, or put a tensor anywhere, and still keep the file small.
"""

from __future__ import annotations

import collections
import io
import pickle
import struct
import zlib
from pathlib import Path

import torch


class Declared:
    """A float32 tensor as a forged file declares it: storage ``key`` of ``numel``
    elements, viewed contiguously as ``shape`` (default: all of it, flat)."""

    def __init__(self, key: str, numel: int, shape: tuple[int, ...] | None = None):
        self.key, self.numel = key, numel
        self.shape = (numel,) if shape is None else tuple(shape)

    def stride(self) -> tuple[int, ...]:
        strides, step = [], 1
        for size in reversed(self.shape):
            strides.insert(0, step)
            step *= size
        return tuple(strides)


class _Storage(Declared):
    pass


class _Pickler(pickle.Pickler):
    """Pickles like torch.save: a tensor is ``_rebuild_tensor_v2`` of a persistent storage."""

    def persistent_id(self, obj):
        if isinstance(obj, _Storage):
            return ("storage", torch.FloatStorage, obj.key, "cpu", obj.numel)
        return None

    def reducer_override(self, obj):
        if isinstance(obj, Declared) and not isinstance(obj, _Storage):
            storage = _Storage(obj.key, obj.numel)
            args = (storage, 0, obj.shape, obj.stride(), False, collections.OrderedDict())
            # torch.save's own rebuild function, named by every tensor in its files
            return torch._utils._rebuild_tensor_v2, args  # noqa: SLF001
        return NotImplemented


def pickled(blob) -> bytes:
    """``blob`` pickled as torch.save would, with each :class:`Declared` as a tensor."""
    out = io.BytesIO()
    _Pickler(out, protocol=2).dump(blob)
    return out.getvalue()


class Zeros:
    """A record of ``n`` zero bytes, DEFLATE-compressed without ever being built: one
    compressed MiB of zeros, flushed to a byte boundary with a fresh window, is
    repeated (its back-references stay inside it), then an empty final block."""

    _MIB = 2**20

    def __init__(self, n: int):
        if n % self._MIB:
            raise ValueError("Zeros takes a whole number of MiB")
        self.n = n
        deflate = zlib.compressobj(9, zlib.DEFLATED, -15)
        block = deflate.compress(bytes(self._MIB)) + deflate.flush(zlib.Z_FULL_FLUSH)
        self.packed = block * (n // self._MIB) + b"\x03\x00"
        crc, chunk = 0, bytes(self._MIB)
        for _ in range(n // self._MIB):
            crc = zlib.crc32(chunk, crc)
        self.crc = crc


def write_zip(path: Path, records: dict[str, bytes | Zeros]) -> Path:
    """A zip archive of ``records`` (name -> bytes stored as they are, or :class:`Zeros`
    deflated), with local headers, a central directory and its end record."""
    body, directory = io.BytesIO(), io.BytesIO()
    for name, data in records.items():
        if isinstance(data, Zeros):
            method, crc, packed, size = 8, data.crc, data.packed, data.n
        else:
            method, crc, packed, size = 0, zlib.crc32(data), data, len(data)
        raw, offset = name.encode(), body.tell()
        common = (20, 0, method, 0, 0x21, crc, len(packed), size, len(raw))
        body.write(struct.pack("<4s5H3L2H", b"PK\x03\x04", *common, 0) + raw + packed)
        directory.write(
            struct.pack("<4sH5H3L5H2L", b"PK\x01\x02", 20, *common, 0, 0, 0, 0, 0, offset) + raw
        )
    end = struct.pack(
        "<4s4H2LH",
        b"PK\x05\x06",
        0,
        0,
        len(records),
        len(records),
        directory.tell(),
        body.tell(),
        0,
    )
    path.write_bytes(body.getvalue() + directory.getvalue() + end)
    return path


def forge_checkpoint(path: Path, blob, records: dict[str, bytes | Zeros]) -> Path:
    """A torch.save-like file: ``blob`` pickled (see :func:`pickled`) and each storage
    record ``records[key]`` as ``archive/data/<key>``."""
    files = {
        "archive/data.pkl": pickled(blob),
        "archive/byteorder": b"little",
        "archive/version": b"3\n",
    }
    files |= {f"archive/data/{key}": data for key, data in records.items()}
    return write_zip(path, files)


def as_declared(state: dict[str, torch.Tensor]) -> tuple[dict, dict]:
    """A real float32 state_dict as (its Declared tensors, their records), so a forged
    file can carry a real model's weights beside whatever else it declares."""
    declared, records = {}, {}
    for i, (name, value) in enumerate(state.items()):
        value = value.detach().to(torch.float32).contiguous()
        declared[name] = Declared(str(i), value.numel(), tuple(value.shape))
        records[str(i)] = value.numpy().tobytes()
    return declared, records
