"""The checker's side of the protocol: the learner's objects as seen from outside their kernel.

A test cell runs in one of two places, and the checks read the same either way:

- in the learner's own kernel (JupyterLab, the book): names are the learner's objects;
- in the *checker* (grading, ``course-check``): every name the test cell uses but does not define
  or import is looked up in the learner's kernel and arrives as plain data (numbers, strings,
  lists, dicts, numpy arrays, pandas frames, rebuilt here by :mod:`autograder.checks.codec`) or as
  a :class:`Remote` handle. Calling a handle, reading one of its attributes, ``len``, ``[]`` or
  iterating it sends a request to the kernel (:mod:`autograder.checks.bridge`); what comes back
  is plain data again. Snorkel's labeling, transformation and slicing functions and
  preprocessors arrive as genuine snorkel objects of this process whose function asks the
  kernel, so snorkel's appliers, ``isinstance`` and the checks work on them unchanged.

No learner object ever exists in the checker, so no ``__eq__``, ``__float__``, ``__bool__`` or
``__repr__`` of the learner's runs here. :func:`kernel_side` marks the few check helpers that must
run next to the learner's objects (retraining the learner's own recipe, say); their results are
then the learner's own answers, trusted as such and no further.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from autograder.checks import codec

__all__ = [
    "KernelGone",
    "LearnerError",
    "Remote",
    "channel",
    "in_checker",
    "is_a",
    "kernel_side",
    "make_handle",
    "set_channel",
]

#: ``request(dict) -> dict``: set by the checker process; None in the learner's own kernel.
_CHANNEL: Callable[[dict], dict] | None = None


class KernelGone(BaseException):
    """The learner's kernel stopped (or stopped answering) while a check asked it something.

    A ``BaseException``, so that no check's ``except Exception`` turns it into a wrong answer."""


class LearnerError(Exception):
    """The learner's code raised; ``type_name`` and ``message`` say what (the exception stays in the kernel)."""

    def __init__(self, type_name: str, message: str):
        super().__init__(f"{type_name}: {message}" if message else type_name)
        self.type_name = type_name
        self.message = message


def set_channel(request: Callable[[dict], dict] | None) -> None:
    global _CHANNEL
    _CHANNEL = request


def channel() -> Callable[[dict], dict] | None:
    return _CHANNEL


def in_checker() -> bool:
    """True when this code runs in the checker (grading), False in the learner's own kernel."""
    return _CHANNEL is not None


def _ask(request: dict) -> dict:
    if _CHANNEL is None:
        raise RuntimeError("no kernel to ask: this is not the checker")
    reply = _CHANNEL(request)
    if type(reply) is not dict:
        raise codec.CodecError("a reply is a JSON object")
    if reply.get("ok") is not True:
        error = reply.get("error")
        raise codec.CodecError(f"the kernel could not answer: {error if type(error) is str else 'no reason'}")
    return reply


def _value(reply: dict, args: tuple = (), kwargs: dict | None = None) -> Any:
    """The value of a call's reply; raises :class:`LearnerError` for the learner's exception."""
    raised = reply.get("raised")
    if raised is not None:
        if type(raised) is not dict:
            raise codec.CodecError("a malformed exception")
        raise LearnerError(str(raised.get("type", "Exception"))[:100], str(raised.get("message", ""))[:2000])
    changed = reply.get("changed")
    if type(changed) is dict:
        for key, data in changed.items():
            target = args[int(key)] if key.isdigit() and int(key) < len(args) else (kwargs or {}).get(key)
            if target is not None:
                _apply_change(target, codec.decode(data, make_handle))
    return codec.decode(reply.get("value"), make_handle)


def _apply_change(target: Any, new: Any) -> None:
    """Mirror a change the learner's code made to the kernel's copy of an argument onto ours."""
    import numpy as np
    import pandas as pd

    if isinstance(target, pd.Series) and isinstance(new, pd.Series):
        for key in [k for k in target.index if k not in new.index]:
            del target[key]
        for key, value in new.items():
            target[key] = value
    elif isinstance(target, pd.DataFrame) and isinstance(new, pd.DataFrame):
        target.drop(columns=[c for c in target.columns if c not in new.columns], inplace=True)
        target.drop(index=[i for i in target.index if i not in new.index], inplace=True)
        for column in new.columns:
            target[column] = new[column].reindex(target.index)
        target.attrs["changed_by_learner"] = True
    elif isinstance(target, list) and isinstance(new, list):
        target[:] = new
    elif isinstance(target, dict) and isinstance(new, dict):
        target.clear()
        target.update(new)
    elif isinstance(target, np.ndarray) and isinstance(new, np.ndarray) and target.shape == new.shape:
        target[...] = new


def _arg(value: Any) -> Any:
    """An argument for the kernel: plain data, or one of our handles."""
    return codec.encode(value, _handle_number)


def _handle_number(value: Any) -> int:
    number = getattr(value, "_course_handle", None) if isinstance(value, _Handle) else None
    if number is None:
        raise codec.CodecError(f"a {type(value).__name__} of the checker cannot be sent to the kernel")
    return number


class _Handle:
    """Marks an object of this process that stands for a kernel object (``_course_handle``)."""

    _course_handle: int
    _course_info: dict


def _call_remote(number: int, args: tuple, kwargs: dict) -> Any:
    return _ask_call({"op": "call", "ref": number}, args, kwargs)


def _ask_call(request: dict, args: tuple, kwargs: dict) -> Any:
    """Send a call (``request`` plus the arguments as plain data or handles); the value it returns."""
    reply = _ask(
        {**request, "args": [_arg(a) for a in args], "kwargs": {k: _arg(v) for k, v in kwargs.items()}}
    )
    return _value(reply, args, kwargs)


def map_remote(func: Any, items: list) -> list[tuple[bool, Any]]:
    """``[(True, func(item)) or (False, LearnerError)]`` for each item, in one request to the kernel."""
    return map_many([func], items)[0]


def map_many(funcs: list, items: list) -> list[list[tuple[bool, Any]]]:
    """:func:`map_remote` of each of ``funcs`` over the same ``items``, sent to the kernel once, in one
    request: the functions run in order, each over every item, as one request per function would."""
    sent = [_arg(i) for i in items]
    per_request = max(1, codec.MAX_CALLS // max(1, len(items)))
    table = []
    for start in range(0, len(funcs), per_request):
        chunk = funcs[start : start + per_request]
        values = _ask({"op": "map", "refs": [f._course_handle for f in chunk], "items": sent}).get("values")
        if type(values) is not list or len(values) != len(chunk):
            raise codec.CodecError("a map reply of the wrong length")
        table += values
    out = []
    for values in table:
        if type(values) is not list or len(values) != len(items):
            raise codec.CodecError("a map reply of the wrong length")
        row = []
        for item, one in zip(items, values, strict=True):
            if type(one) is not dict:
                raise codec.CodecError("a malformed map reply")
            try:
                row.append((True, _value(one, (item,))))
            except LearnerError as error:
                row.append((False, error))
        out.append(row)
    return out


def describe(value: Any) -> dict:
    """``{"stub", "source", "type", "mro", "callable", "repr"}`` of a handle, asked of the kernel."""
    reply = _ask({"op": "describe", "ref": value._course_handle})
    info = codec.decode(reply.get("value"))
    if type(info) is not dict:
        raise codec.CodecError("a malformed description")
    return info


class Remote(_Handle):
    """A kernel object seen from the checker. Its ``repr`` is the kernel's (short, plain text)."""

    def __init__(self, info: dict):
        object.__setattr__(self, "_course_handle", info["id"])
        object.__setattr__(self, "_course_info", info)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_course_") or name.startswith("__"):
            raise AttributeError(name)
        reply = _ask({"op": "getattr", "ref": self._course_handle, "name": name})
        value = _value(reply)
        if value is codec.MISSING:
            raise AttributeError(f"{self._course_info['type']} has no attribute {name!r}")
        return value

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("the checker does not change the learner's objects")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return _call_remote(self._course_handle, args, kwargs)

    def _dunder(self, name: str, *args: Any) -> Any:
        return _value(
            _ask({"op": "dunder", "ref": self._course_handle, "name": name, "args": [_arg(a) for a in args]})
        )

    def __len__(self) -> int:
        value = self._dunder("len")
        if type(value) is not int:
            raise TypeError("len() of the learner's object is not an int")
        return value

    def __getitem__(self, key: Any) -> Any:
        return self._dunder("getitem", key)

    def __contains__(self, item: Any) -> bool:
        return self._dunder("contains", item) is True

    def __iter__(self):
        value = self._dunder("iter")
        if type(value) is not list:
            raise TypeError("the learner's object did not iterate to a list")
        return iter(value)

    def __bool__(self) -> bool:
        return self._dunder("bool") is True

    def __repr__(self) -> str:
        return self._course_info.get("repr", "<object>")

    @property
    def __class__(self):
        """The checker's own class of the same name, where the checker has imported it (so ``isinstance(model,
        LabelModel)`` holds for the learner's LabelModel); no method of it ever runs on the handle."""
        return _known_class(self._course_info) or Remote


# --------------------------------------------------------------------------- snorkel's objects

_SNORKEL_KINDS = {
    "snorkel.slicing.sf.core.SlicingFunction": "sf",
    "snorkel.labeling.lf.core.LabelingFunction": "lf",
    "snorkel.augmentation.tf.TransformationFunction": "tf",
    "snorkel.map.core.BaseMapper": "mapper",
}


def _known_class(info: dict) -> type | None:
    import sys

    for qualname in info.get("mro", []):
        module_name, _, name = qualname.rpartition(".")
        module = sys.modules.get(module_name)
        if module is not None and module_name.split(".")[0] not in {"builtins", "__main__"}:
            cls = getattr(module, name, None)
            if isinstance(cls, type):
                return cls
    return None


def _kind(info: dict) -> str | None:
    for name, kind in _SNORKEL_KINDS.items():  # SlicingFunction before LabelingFunction: it is one
        if name in info["mro"]:
            return kind
    return None


def _remote_attr(number: int, name: str, default: Any = None) -> Any:
    value = _value(_ask({"op": "getattr", "ref": number, "name": name}))
    return default if value is codec.MISSING else value


def _snorkel_proxy(info: dict, kind: str) -> Any:
    number = info["id"]
    name = _remote_attr(number, "name")
    name = name if type(name) is str else f"<{info['type']}>"

    def remote(x, *args, **kwargs):
        return _call_remote(number, (x, *args), kwargs)

    if kind in ("lf", "sf"):
        from snorkel.labeling import LabelingFunction
        from snorkel.slicing import SlicingFunction

        base = SlicingFunction if kind == "sf" else LabelingFunction

        class RemoteFunction(base, _Handle):
            def __call__(self, x):
                return remote(x)

            @property
            def _resources(self):
                value = _remote_attr(number, "_resources", {})
                return value if isinstance(value, dict) else {}

            @_resources.setter
            def _resources(self, value):
                pass

            @property
            def _f(self):
                return _remote_attr(number, "_f")

            @_f.setter
            def _f(self, value):
                pass

        proxy = RemoteFunction(name=name, f=remote)
    else:
        from snorkel.map.core import LambdaMapper

        class RemoteMapper(LambdaMapper, _Handle):
            def __call__(self, x):
                return remote(x)

            @property
            def _f(self):
                return _remote_attr(number, "_f")

            @_f.setter
            def _f(self, value):
                pass

        if kind == "tf":
            from snorkel.augmentation import TransformationFunction

            class RemoteTF(TransformationFunction, _Handle):
                __call__ = RemoteMapper.__call__
                _f = RemoteMapper._f

            proxy = RemoteTF(name=name, f=remote)
        else:
            proxy = RemoteMapper(name=name, f=remote)
        memoize = _remote_attr(number, "memoize", False)
        object.__setattr__(proxy, "memoize", memoize is True)
    object.__setattr__(proxy, "_course_handle", number)
    object.__setattr__(proxy, "_course_info", info)
    return proxy


def make_handle(info: dict) -> Any:
    """The checker's stand-in for a kernel object described by ``info`` (see :func:`codec.ref_info`)."""
    kind = _kind(info)
    if kind is not None:
        return _snorkel_proxy(info, kind)
    return Remote(info)


# --------------------------------------------------------------------------- helpers for the checks


def is_handle(value: Any) -> bool:
    return isinstance(value, _Handle)


def is_a(value: Any, cls: type | tuple[type, ...]) -> bool:
    """``isinstance`` that also knows the class names of a kernel object behind a handle."""
    if isinstance(value, _Handle):
        classes = cls if isinstance(cls, tuple) else (cls,)
        names = {f"{c.__module__}.{c.__qualname__}" for c in classes}
        return bool(names & set(value._course_info.get("mro", []))) or isinstance(value, classes)
    return isinstance(value, cls)


def type_name(value: Any) -> str:
    """The learner's type name of ``value`` (``DataFrame``, ``LabelModel``, ``function``)."""
    if isinstance(value, _Handle):
        return value._course_info.get("type", "object").rsplit(".", 1)[-1]
    return type(value).__name__


def kernel_side(func: Callable) -> Callable:
    """Run ``func`` in the learner's kernel when called from the checker (its arguments sent as plain
    data or handles, its result returned as plain data); call it directly anywhere else. Only for
    checks about the learner's own objects, whose answer the learner controls anyway."""
    path = f"{func.__module__}:{func.__qualname__}"

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if _CHANNEL is None:
            return func(*args, **kwargs)
        return _ask_call({"op": "kernel", "path": path}, args, kwargs)

    wrapper.__kernel_side__ = func
    return wrapper
