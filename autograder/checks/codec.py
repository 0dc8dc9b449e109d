"""Plain data across the grader's process boundary: the one encoding the learner's kernel and the
checker speak.

The checker (the process that runs the test cells when a notebook is graded) never receives a
live object from the learner's kernel: no pickle, no proxy that runs the learner's ``__eq__``,
``__float__`` or ``__bool__``. Values cross as JSON, built from these shapes only:

- ``None``, ``bool``, ``int``, ``float`` (``NaN`` and infinities included), ``str``;
- lists, and objects with string keys (plain dicts);
- tagged objects (``{"$": tag, ...}``): ``tuple``, ``set``, ``dict`` (other keys), ``bytes``,
  ``ndarray`` (numbers, booleans, strings, records or plain objects), ``series`` and ``frame``
  (pandas, with their index), ``missing`` (no such name or attribute), and ``ref``: a handle
  to an object that stays in the kernel (its type's name, the names of its classes, whether it
  is callable), which the checker may only ask the kernel to call or to describe.

:func:`decode` rebuilds numpy and pandas values *from the plain data* (so the objects the
checker holds are its own), checks every shape it reads, and rejects anything else with
:class:`CodecError`. Subclasses of the plain types are sent as their base value (a ``str``
subclass that claims to equal everything arrives as a plain ``str``).
"""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Callable
from typing import Any

__all__ = ["MAX_BYTES", "MAX_CALLS", "MISSING", "CodecError", "decode", "dumps", "encode", "loads", "parse"]

#: The largest message either side accepts (a reply larger than this is the learner's problem).
MAX_BYTES = 64 * 2**20
#: At most this many calls in one ``map`` request, and items in one ``map`` or ``iter`` reply.
MAX_CALLS = 100_000
#: How deep plain data may nest (deeper is refused, not followed).
MAX_DEPTH = 32
#: The numpy dtype kinds an array may have on the wire: booleans, integers, floats, strings.
ARRAY_KINDS = set("biufU")
#: Characters of a ref's ``repr`` kept for messages.
REPR_LIMIT = 120


class CodecError(ValueError):
    """A message that is not the plain data this protocol allows."""


# --------------------------------------------------------------------------- encoding


def _qualname(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def _short_repr(value: Any) -> str:
    try:
        text = repr(value)
    except Exception as error:  # a broken __repr__ must not break the protocol
        text = f"<{type(value).__name__} whose repr raised {type(error).__name__}>"
    return text if len(text) <= REPR_LIMIT else text[: REPR_LIMIT - 1] + "…"


def ref_info(value: Any) -> dict:
    """What the checker learns about an object that stays in the kernel."""
    cls = type(value)
    return {
        "type": _qualname(cls),
        "mro": [_qualname(c) for c in cls.__mro__ if c is not object],
        "callable": callable(value),
        "repr": _short_repr(value),
    }


def encode(value: Any, ref: Callable[[Any], int] | None = None, _depth: int = 0) -> Any:
    """``value`` as plain JSON data; objects that are not plain become refs through ``ref(value)``
    (which returns the handle's number), or raise :class:`CodecError` when ``ref`` is None."""
    if _depth > MAX_DEPTH:
        raise CodecError(f"data nested more than {MAX_DEPTH} levels deep")
    if value is None or value is True or value is False:
        return value
    if value is Ellipsis:  # the stub of a released notebook: "not answered yet", not an object
        return {"$": "ellipsis"}
    # exact plain types first; subclasses are sent as their base value, never as themselves
    if isinstance(value, int):
        return int.__int__(value)
    if isinstance(value, float):
        return float.__float__(value)
    if isinstance(value, str):
        return str.__str__(value)
    np, pd = _numpy_pandas()
    if np is not None:
        if isinstance(value, np.bool_):
            return bool(value)
        if isinstance(value, np.integer):
            return int(value)
        if isinstance(value, np.floating):
            return float(value)
        if isinstance(value, np.str_):
            return str.__str__(value)
        if isinstance(value, np.ndarray):
            return _encode_array(value, ref, _depth)
    if pd is not None:
        if isinstance(value, pd.Series):
            # a data point may also carry fields set as attributes (`x.polarity = ...` on a Series sets an
            # attribute, not an index label): they travel too
            fields = {
                k: encode(v, ref, _depth + 1)
                for k, v in vars(value).items()
                if type(k) is str and not k.startswith("_")
            }
            return {
                "$": "series",
                "name": _encode_key(value.name, ref, _depth),
                "index": [encode(v, ref, _depth + 1) for v in value.index.tolist()],
                "values": [encode(v, ref, _depth + 1) for v in value.tolist()],
                "dtype": str(value.dtype),
                "fields": fields,
            }
        if isinstance(value, pd.DataFrame):
            columns = list(value.columns)
            return {
                "$": "frame",
                "columns": [encode(c, ref, _depth + 1) for c in columns],
                "index": [encode(v, ref, _depth + 1) for v in value.index.tolist()],
                "index_name": _encode_key(value.index.name, ref, _depth),
                "data": [
                    [encode(v, ref, _depth + 1) for v in value.iloc[:, i].tolist()]
                    for i in range(len(columns))
                ],
                "dtypes": [str(t) for t in value.dtypes],
            }
    if type(value) is list:
        return [encode(v, ref, _depth + 1) for v in value]
    if type(value) is tuple:
        return {"$": "tuple", "items": [encode(v, ref, _depth + 1) for v in value]}
    if type(value) in (set, frozenset):
        return {"$": "set", "items": [encode(v, ref, _depth + 1) for v in value]}
    if type(value) is dict:
        if all(type(k) is str and not k.startswith("$") for k in value):
            return {k: encode(v, ref, _depth + 1) for k, v in value.items()}
        return {
            "$": "dict",
            "items": [[encode(k, ref, _depth + 1), encode(v, ref, _depth + 1)] for k, v in value.items()],
        }
    if type(value) is bytes:
        return {"$": "bytes", "b64": base64.b64encode(value).decode()}
    if ref is None:
        raise CodecError(f"a {type(value).__name__} cannot be sent as plain data")
    return {"$": "ref", "id": ref(value), **ref_info(value)}


def _encode_key(value: Any, ref, depth: int) -> Any:
    try:
        return encode(value, None, depth + 1)
    except CodecError:
        return _short_repr(value)


def _encode_array(array, ref, depth: int) -> dict:
    np, _ = _numpy_pandas()
    if array.dtype.names:  # a record array (snorkel's slice matrix)
        fields = [[name, array.dtype.fields[name][0].str] for name in array.dtype.names]
        return {
            "$": "records",
            "fields": fields,
            "shape": list(array.shape),
            "data": [
                [encode(row[name], ref, depth + 1) for name in array.dtype.names] for row in array.reshape(-1)
            ],
        }
    if array.dtype.kind in ARRAY_KINDS:
        return {
            "$": "ndarray",
            "dtype": array.dtype.str,
            "shape": list(array.shape),
            "data": [encode(v, ref, depth + 1) for v in array.reshape(-1).tolist()],
        }
    return {
        "$": "ndarray",
        "dtype": "object",
        "shape": list(array.shape),
        "data": [encode(v, ref, depth + 1) for v in array.reshape(-1).tolist()],
    }


def dumps(value: Any, ref: Callable[[Any], int] | None = None) -> str:
    """``encode`` then JSON text."""
    return json.dumps(encode(value, ref), allow_nan=True, separators=(",", ":"))


# --------------------------------------------------------------------------- decoding


def parse(text: Any) -> Any:
    """JSON ``text`` (a ``str`` of at most :data:`MAX_BYTES`) as JSON data, not yet decoded."""
    if type(text) is not str:
        raise CodecError(f"expected JSON text, got {type(text).__name__}")
    if len(text) > MAX_BYTES:
        raise CodecError(f"a message of {len(text)} characters is larger than {MAX_BYTES}")
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as error:
        raise CodecError(f"not JSON: {error}") from None


def loads(text: Any, make_ref: Callable[[dict], Any] | None = None) -> Any:
    """:func:`parse` JSON ``text``, then :func:`decode` it."""
    return decode(parse(text), make_ref)


def decode(data: Any, make_ref: Callable[[dict], Any] | None = None, _depth: int = 0) -> Any:
    """Rebuild a value from plain data; refs become ``make_ref(info)`` (or are refused)."""
    if _depth > MAX_DEPTH:
        raise CodecError(f"data nested more than {MAX_DEPTH} levels deep")
    if data is None or type(data) in (bool, int, str):
        return data
    if type(data) is float:
        return data
    if type(data) is list:
        return [decode(v, make_ref, _depth + 1) for v in data]
    if type(data) is not dict:
        raise CodecError(f"unexpected {type(data).__name__} in a message")
    tag = data.get("$")
    if tag is None:
        return {k: decode(v, make_ref, _depth + 1) for k, v in data.items()}

    def items(key: str) -> list:
        value = data.get(key)
        if type(value) is not list:
            raise CodecError(f"a {tag} without its {key}")
        return [decode(v, make_ref, _depth + 1) for v in value]

    if tag == "tuple":
        return tuple(items("items"))
    if tag == "set":
        values = items("items")
        try:
            return set(values)
        except TypeError:
            raise CodecError("a set of unhashable values") from None
    if tag == "dict":
        pairs = items("items")
        if not all(type(p) is list and len(p) == 2 for p in pairs):
            raise CodecError("a dict whose items are not pairs")
        try:
            return {k: v for k, v in pairs}
        except TypeError:
            raise CodecError("a dict with unhashable keys") from None
    if tag == "bytes":
        try:
            return base64.b64decode(_expect_str(data.get("b64"), "bytes"), validate=True)
        except ValueError:
            raise CodecError("bytes that are not base64") from None
    if tag == "missing":
        return MISSING
    if tag == "ellipsis":
        return Ellipsis
    if tag == "ndarray":
        return _decode_array(data, items("data"))
    if tag == "records":
        return _decode_records(data, make_ref, _depth)
    if tag == "series":
        return _decode_series(data, make_ref, _depth)
    if tag == "frame":
        return _decode_frame(data, make_ref, _depth)
    if tag == "ref":
        if make_ref is None:
            raise CodecError("a handle to a kernel object where plain data was expected")
        info = {
            "id": data.get("id"),
            "type": data.get("type"),
            "mro": data.get("mro"),
            "callable": data.get("callable"),
            "repr": data.get("repr"),
        }
        if type(info["id"]) is not int or type(info["type"]) is not str or type(info["callable"]) is not bool:
            raise CodecError("a malformed handle")
        if type(info["mro"]) is not list or not all(type(m) is str for m in info["mro"]):
            raise CodecError("a malformed handle")
        info["repr"] = str(info["repr"])[:REPR_LIMIT] if type(info["repr"]) is str else "?"
        return make_ref(info)
    raise CodecError(f"unknown tag {tag!r}")


class _Missing:
    """No such name or attribute in the kernel."""

    def __repr__(self) -> str:
        return "MISSING"

    def __bool__(self) -> bool:
        return False


MISSING = _Missing()


def _expect_str(value: Any, what: str) -> str:
    if type(value) is not str:
        raise CodecError(f"a {what} without its text")
    return value


def _shape(data: dict) -> tuple[int, ...]:
    shape = data.get("shape")
    if type(shape) is not list or not all(type(n) is int and n >= 0 for n in shape) or len(shape) > 8:
        raise CodecError("an array with a malformed shape")
    return tuple(shape)


def _decode_array(data: dict, values: list):
    np, _ = _numpy_pandas()
    shape = _shape(data)
    if math.prod(shape) != len(values):
        raise CodecError("an array whose data does not fill its shape")
    dtype = _expect_str(data.get("dtype"), "array dtype")
    if dtype == "object":
        if any(isinstance(v, (list, dict)) for v in values):
            array = np.empty(len(values), dtype=object)
            array[:] = values
        else:
            array = np.array(values, dtype=object)
        return array.reshape(shape)
    try:
        kind = np.dtype(dtype)
    except TypeError:
        raise CodecError(f"an array of unknown dtype {dtype!r}") from None
    if kind.kind not in ARRAY_KINDS:
        raise CodecError(f"an array of dtype {dtype!r}")
    want = {"b": (bool,), "i": (int,), "u": (int,), "f": (int, float), "U": (str,)}[kind.kind]
    if not all(type(v) in want for v in values):
        raise CodecError(f"an array of dtype {dtype!r} holding other values")
    return np.array(values, dtype=kind).reshape(shape)


def _decode_records(data: dict, make_ref, depth: int):
    np, _ = _numpy_pandas()
    shape = _shape(data)
    fields = data.get("fields")
    if type(fields) is not list or not all(
        type(f) is list and len(f) == 2 and all(type(x) is str for x in f) for f in fields
    ):
        raise CodecError("a record array with malformed fields")
    try:
        dtype = np.dtype([(name, fmt) for name, fmt in fields])
    except (TypeError, ValueError):
        raise CodecError("a record array with unknown field types") from None
    if any(dtype.fields[name][0].kind not in ARRAY_KINDS for name in dtype.names):
        raise CodecError("a record array whose fields are not numbers or strings")
    rows = data.get("data")
    if type(rows) is not list or len(rows) != math.prod(shape):
        raise CodecError("a record array whose data does not fill its shape")
    decoded = []
    for row in rows:
        if type(row) is not list or len(row) != len(fields):
            raise CodecError("a record array with a malformed row")
        values = [decode(v, None, depth + 1) for v in row]
        if not all(type(v) in (bool, int, float, str) for v in values):
            raise CodecError("a record array holding other values")
        decoded.append(tuple(values))
    return np.array(decoded, dtype=dtype).reshape(shape)


_PANDAS_DTYPES = {"object", "bool", "boolean", "int64", "int32", "float64", "float32", "str", "string"}


def _pandas_dtype(name: Any) -> str | None:
    """The dtype to rebuild a column with: a plain one the learner's data had, or pandas' own choice."""
    return name if type(name) is str and name in _PANDAS_DTYPES else None


def _decode_series(data: dict, make_ref, depth: int):
    _, pd = _numpy_pandas()
    index = _decode_list(data.get("index"), make_ref, depth, "series index")
    values = _decode_list(data.get("values"), make_ref, depth, "series values")
    if len(index) != len(values):
        raise CodecError("a series whose index and values differ in length")
    name = decode(data.get("name"), None, depth + 1)
    series = pd.Series(values, index=_object_index(index) if index else None, name=name, dtype=object)
    if not (data.get("dtype") == "object" and all(type(v) is str for v in values)):  # strings stay objects
        series = _with_dtype(series, data.get("dtype"))
    fields = data.get("fields") or {}
    if type(fields) is not dict:
        raise CodecError("a series with malformed fields")
    for key, value in fields.items():
        if not key.isidentifier() or key.startswith("_") or hasattr(pd.Series, key):
            raise CodecError(f"a series field named {key!r}")
        object.__setattr__(series, key, decode(value, make_ref, depth + 1))
    return series


#: The indexes of decoded series whose labels are all strings, by their labels: a batch of data points
#: (every row of a split) shares one index, as the rows of ``DataFrame.iterrows`` do. An Index is immutable.
_INDEXES: dict[tuple[str, ...], Any] = {}


def _object_index(labels: list):
    _, pd = _numpy_pandas()
    if not all(type(label) is str for label in labels):
        return pd.Index(labels, dtype=object)
    key = tuple(labels)
    found = _INDEXES.get(key)
    if found is None:
        if len(_INDEXES) >= 64:
            _INDEXES.clear()
        found = _INDEXES[key] = pd.Index(labels, dtype=object)
    return found


def _decode_frame(data: dict, make_ref, depth: int):
    _, pd = _numpy_pandas()
    columns = _decode_list(data.get("columns"), None, depth, "frame columns")
    index = _decode_list(data.get("index"), make_ref, depth, "frame index")
    raw = data.get("data")
    if type(raw) is not list or len(raw) != len(columns):
        raise CodecError("a frame whose data does not match its columns")
    dtypes = data.get("dtypes") if type(data.get("dtypes")) is list else [None] * len(columns)
    series = []
    for position, column in enumerate(raw):
        values = _decode_list(column, make_ref, depth, "frame column")
        if len(values) != len(index):
            raise CodecError("a frame column whose length differs from the index")
        series.append(
            _with_dtype(pd.Series(values, dtype=object), dtypes[position] if position < len(dtypes) else None)
        )
    frame = pd.concat(series, axis=1) if series else pd.DataFrame(index=range(len(index)))
    frame.columns = pd.Index(columns, dtype=object) if columns else frame.columns
    frame.index = pd.Index(index)
    index_name = decode(data.get("index_name"), None, depth + 1)
    if type(index_name) in (str, int) or index_name is None:
        frame.index.name = index_name
    return frame


def _with_dtype(series, dtype_name):
    dtype = _pandas_dtype(dtype_name)
    if dtype in (None, "object"):
        inferred = series.infer_objects()
        return inferred if dtype is None or inferred.dtype == object else series
    try:
        return series.astype(dtype)
    except (TypeError, ValueError):
        return series


def _decode_list(value: Any, make_ref, depth: int, what: str) -> list:
    if type(value) is not list:
        raise CodecError(f"a malformed {what}")
    return [decode(v, make_ref, depth + 1) for v in value]


def _numpy_pandas():
    try:
        import numpy as np
    except ImportError:  # pragma: no cover - the course always has numpy
        np = None
    try:
        import pandas as pd
    except ImportError:  # pragma: no cover
        pd = None
    return np, pd
