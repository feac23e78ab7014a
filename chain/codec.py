"""Canonical, bounded msgpack encoding.

Every signed type is encoded as a msgpack array of its fields in a fixed order, with float64 floats,
``bin`` for bytes and ``str`` for text. Series of floats travel as little-endian float64 ``bin``.
Decoding is bounded in size and lengths and checks every type; nothing is re-encoded to be checked.
"""

from __future__ import annotations

import math
from typing import Any

import msgpack
import numpy as np
import numpy.typing as npt

from chain.errors import DecodeError

MAX_MESSAGE_BYTES = 16 * 1024 * 1024
"""Largest message any socket or decoder accepts (bytes)."""

MAX_DEPTH = 8
"""Deepest nesting of arrays/maps a decoded payload may have."""

FloatArray = npt.NDArray[np.float64]

FLOAT64 = np.dtype("<f8")
"""How float series travel: little-endian float64."""
_CONTAINERS = frozenset({list, dict})
_FLOAT = frozenset({float})
_BYTES = frozenset({bytes})


def pack(obj: Any) -> bytes:
    """Encode ``obj`` canonically (float64 floats, bin for bytes)."""
    out: bytes = msgpack.packb(obj, use_bin_type=True, use_single_float=False, strict_types=False)
    return out


def unpack(data: bytes, *, max_bytes: int = MAX_MESSAGE_BYTES) -> Any:
    """Decode bounded msgpack; raise ``DecodeError`` on anything malformed."""
    if type(data) is not bytes:
        if not isinstance(data, bytearray | memoryview):
            raise DecodeError(f"expected bytes, got {type(data).__name__}")
        data = bytes(data)
    if len(data) > max_bytes:
        raise DecodeError(f"message of {len(data)} bytes exceeds the limit of {max_bytes}")
    try:
        obj = msgpack.unpackb(
            data,
            raw=False,
            strict_map_key=True,
            max_bin_len=max_bytes,
            max_str_len=1 << 16,
            max_array_len=1 << 20,
            max_map_len=1 << 12,
            max_ext_len=0,
        )
    except (ValueError, TypeError, msgpack.UnpackException) as exc:
        raise DecodeError(f"not valid msgpack: {exc}") from exc
    if type(obj) is not list or not _CONTAINERS.isdisjoint(map(type, obj)):
        _check_depth(obj, 0)  # (a flat array, the common case, is checked by the line above)
    return obj


def _check_depth(obj: Any, depth: int) -> None:
    if depth > MAX_DEPTH:
        raise DecodeError(f"nesting deeper than {MAX_DEPTH}")
    items = obj if type(obj) is list else obj.values() if type(obj) is dict else ()
    if _CONTAINERS.isdisjoint(map(type, items)):
        return  # nothing nested: the common case, checked without a Python-level loop
    for item in items:
        if type(item) in _CONTAINERS:
            _check_depth(item, depth + 1)


def floats_to_bin(values: npt.ArrayLike) -> bytes:
    """Little-endian float64 bytes of a 1-D series."""
    return np.ascontiguousarray(values, dtype=FLOAT64).tobytes()


def bin_to_floats(data: bytes, field: str, *, length: int | None = None) -> FloatArray:
    """Decode a float64 series (a read-only view of ``data``), checking its length and that every value is
    finite."""
    if not isinstance(data, bytes) or len(data) % 8:
        raise DecodeError(f"{field}: expected float64 bytes")
    arr = np.frombuffer(data, dtype=FLOAT64)
    if length is not None and arr.size != length:
        raise DecodeError(f"{field}: expected {length} values, got {arr.size}")
    # a finite sum means every value is finite; a sum that overflowed is settled value by value
    if not (math.isfinite(np.add.reduce(arr)) or np.isfinite(arr).all()):
        raise DecodeError(f"{field}: values must be finite")
    return arr


def fields(obj: Any, count: int, what: str) -> list[Any]:
    """Check that ``obj`` is an array of exactly ``count`` fields."""
    if not isinstance(obj, list) or len(obj) != count:
        raise DecodeError(f"{what}: expected an array of {count} fields")
    return obj


def as_int(value: Any, field: str, *, lo: int = 0, hi: int = 2**62) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not lo <= value <= hi:
        raise DecodeError(f"{field}: expected an integer in [{lo}, {hi}]")
    return value


def as_floats(values: list[Any], names: tuple[str, ...], what: str) -> list[float]:
    """Several finite floats at once (the fast path for records of many numbers): all of type float, and
    their sum finite, which means each one is; a sum that overflowed is settled value by value."""
    if len(values) != len(names):
        raise DecodeError(f"{what}: expected {len(names)} numbers")
    if set(map(type, values)) <= _FLOAT and math.isfinite(sum(values)):
        return values
    for v, name in zip(values, names, strict=True):
        as_float(v, f"{what}.{name}")
    return values


def as_float(value: Any, field: str) -> float:
    if not isinstance(value, float) or not math.isfinite(value):
        raise DecodeError(f"{field}: expected a finite float")
    return value


def as_str(value: Any, field: str, *, min_len: int = 1, max_len: int = 64) -> str:
    if not isinstance(value, str) or not min_len <= len(value) <= max_len:
        raise DecodeError(f"{field}: expected a string of {min_len}..{max_len} characters")
    return value


def as_bytes(value: Any, field: str, *, size: int | None = None, max_len: int = MAX_MESSAGE_BYTES) -> bytes:
    if not isinstance(value, bytes) or len(value) > max_len:
        raise DecodeError(f"{field}: expected bytes")
    if size is not None and len(value) != size:
        raise DecodeError(f"{field}: expected {size} bytes, got {len(value)}")
    return value


def as_list(value: Any, field: str, *, max_len: int = 1 << 20) -> list[Any]:
    if not isinstance(value, list) or len(value) > max_len:
        raise DecodeError(f"{field}: expected an array of at most {max_len} items")
    return value


def as_bytes_tuple(value: Any, field: str, *, max_len: int = 1 << 20) -> tuple[bytes, ...]:
    """An array of at most ``max_len`` byte strings, each checked as ``as_bytes`` checks it."""
    items = as_list(value, field, max_len=max_len)
    if set(map(type, items)) <= _BYTES and max(map(len, items), default=0) <= MAX_MESSAGE_BYTES:
        return tuple(items)
    return tuple(as_bytes(item, f"{field}[]") for item in items)
