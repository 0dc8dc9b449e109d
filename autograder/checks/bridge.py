"""The kernel's side of the checker protocol: answers the checker's requests about the learner's objects.

When a notebook is graded, its test cells run in the *checker*, a process outside the learner's
sandbox (see :mod:`autograder.grading.checker`). The checker reaches the learner's objects only
through requests that the grader's runner evaluates in the kernel as
``autograder.checks.bridge.serve(<request JSON>)``, which returns the reply as JSON text:

- ``names``: the values of top-level names of the notebook (plain data, or handles);
- ``getattr``, ``call``, ``map``, ``dunder``: an attribute of a handle, a call of it with plain
  arguments (handles allowed), calls of one or more handles over the same arguments, ``len``/``[]``/``in``/``iter``;
- ``describe``: what a function is (its source, whether it is still the stub) -- for checks
  whose verdict is the learner's own business anyway;
- ``kernel``: a check helper marked :func:`autograder.checks.remote.kernel_side`, run here;
- ``release``: forget the handles.

Everything here runs inside the learner's kernel, so the learner's code can change it: that can
only change the answers the kernel gives, never the checker's verdict about them, because every
reply is plain data that the checker decodes strictly (:mod:`autograder.checks.codec`). A call's
arguments are rebuilt here from plain data, so learner code works on the kernel's copies; when
it changes one (a data point, a frame), the reply says so, and the checker applies the change to
its own copy, so that "do not change the data point you are given" is checked in both places.
"""

from __future__ import annotations

import copy
import importlib
import json
from typing import Any

from autograder.checks import codec
from autograder.checks.core import same

__all__ = ["learner_namespace", "serve", "use_namespace"]

#: Handles the checker holds: number -> object. Cleared by ``release`` (after each test cell).
_REFS: dict[int, Any] = {}
#: At most this many calls in one ``map`` request, and items in one ``iter`` reply.
MAX_ITEMS = codec.MAX_CALLS
#: The learner's namespace in a process that runs a notebook without IPython (see :func:`use_namespace`).
_LOCAL_NAMESPACE: dict | None = None


def _ref(value: Any) -> int:
    number = len(_REFS) + 1
    while number in _REFS:
        number += 1
    _REFS[number] = value
    return number


def _encode(value: Any) -> Any:
    return codec.encode(value, _ref)


def _decode(data: Any) -> Any:
    def make_ref(info: dict) -> Any:
        if info["id"] not in _REFS:
            raise codec.CodecError(f"no kernel object {info['id']}")
        return _REFS[info["id"]]

    return codec.decode(data, make_ref)


def use_namespace(namespace: dict | None) -> None:
    """Make ``namespace`` the learner's in a process that runs a notebook's cells without IPython (``make
    mutants`` does): it then holds ``In``, the sources of the cells run so far, as an IPython kernel's does."""
    global _LOCAL_NAMESPACE
    _LOCAL_NAMESPACE = namespace


def learner_namespace() -> dict:
    """The notebook's top-level names: the namespace given to :func:`use_namespace`, else the IPython shell's (in the
    learner's kernel), else an empty dict."""
    if _LOCAL_NAMESPACE is not None:
        return _LOCAL_NAMESPACE
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - the kernel always has IPython
        return {}
    shell = get_ipython()
    return shell.user_ns if shell is not None else {}


def _target(request: dict) -> Any:
    number = request.get("ref")
    if type(number) is not int or number not in _REFS:
        raise codec.CodecError(f"no kernel object {number!r}")
    return _REFS[number]


def _raised(error: BaseException) -> dict:
    try:
        message = str(error)
    except Exception:
        message = ""
    return {"raised": {"type": type(error).__name__, "message": message[:2000]}}


#: Values a data point's fields may hold for the quick comparison of :class:`_Fields` (immutable ones).
_SCALARS = (str, int, float, bool, type(None))


class _Fields:
    """A data point (a ``Series``) of immutable scalars, as the checks send comments: its labels and values,
    enough to tell whether a call changed it without a deep copy (a map calls thousands of times)."""

    def __init__(self, index: list, values: list):
        self.index, self.values = index, values

    def unchanged(self, after: Any) -> bool:
        """True when ``after`` is the same by :func:`same`; compared quickly when nothing changed."""
        import pandas as pd

        if type(after) is pd.Series:
            if after.index.tolist() != self.index:  # a field added or removed: not the same, as same() says
                return False
            values = after.tolist()
            if len(values) == len(self.values) and all(
                a is b or (type(a) is type(b) and a == b) for a, b in zip(self.values, values, strict=True)
            ):
                return True
        return same(pd.Series(self.values, index=self.index, dtype=object), after)


def _snapshot(value: Any) -> Any:
    import pandas as pd

    if type(value) is pd.Series:
        index, values = value.index.tolist(), value.tolist()
        if all(type(v) in _SCALARS for v in index + values):
            return _Fields(index, values)
    try:
        return copy.deepcopy(value)
    except Exception:
        return None


def _unchanged(before: Any, after: Any) -> bool:
    return before.unchanged(after) if isinstance(before, _Fields) else same(before, after)


def _is_mutable(value: Any) -> bool:
    import numpy as np
    import pandas as pd

    return isinstance(value, (list, dict, pd.Series, pd.DataFrame, np.ndarray))


def _call(func: Any, args: list, kwargs: dict) -> dict:
    watched = {i: _snapshot(a) for i, a in enumerate(args) if _is_mutable(a)}
    watched.update({k: _snapshot(v) for k, v in kwargs.items() if _is_mutable(v)})
    try:
        value = func(*args, **kwargs)
    except BaseException as error:  # the learner's code raised (or was interrupted): an answer, not a crash
        return _raised(error)
    reply: dict = {"value": _encode(value)}
    changed = {}
    for key, before in watched.items():
        after = args[key] if isinstance(key, int) else kwargs[key]
        if before is not None and not _unchanged(before, after):
            changed[str(key)] = _encode(after)
    if changed:
        reply["changed"] = changed
    return reply


def _describe(value: Any) -> dict:
    import inspect
    import textwrap

    from autograder.checks.core import is_stub, unwrap

    inner = unwrap(value)
    try:
        source = textwrap.dedent(inspect.getsource(inner))
    except (OSError, TypeError):
        source = None
    return {"value": {"stub": is_stub(value), "source": source, **codec.ref_info(value)}}


def _kernel_helper(path: Any):
    if type(path) is not str or ":" not in path or not path.startswith("autograder.checks."):
        raise codec.CodecError(f"not a check helper: {path!r}")
    module_name, _, attr = path.partition(":")
    helper = getattr(importlib.import_module(module_name), attr, None)
    inner = getattr(helper, "__kernel_side__", None)
    if inner is None:
        raise codec.CodecError(f"{path} is not marked to run in the kernel")
    return inner


def _dispatch(request: dict) -> dict:
    op = request.get("op")
    if op == "names":
        names = request.get("names")
        if type(names) is not list or not all(type(n) is str for n in names):
            raise codec.CodecError("names must be a list of strings")
        space = learner_namespace()
        return {"values": {n: (_encode(space[n]) if n in space else {"$": "missing"}) for n in names}}
    if op == "release":
        _REFS.clear()
        return {"value": None}
    if op == "kernel":
        helper = _kernel_helper(request.get("path"))
        return _call(helper, _decode(request.get("args", [])), _decode(request.get("kwargs", {})))
    target = _target(request) if op != "map" else None
    if op == "getattr":
        name = request.get("name")
        if type(name) is not str:
            raise codec.CodecError("getattr needs a name")
        try:
            value = getattr(target, name)
        except AttributeError:
            return {"value": {"$": "missing"}}
        except BaseException as error:
            return _raised(error)
        return {"value": _encode(value)}
    if op == "call":
        args, kwargs = _decode(request.get("args", [])), _decode(request.get("kwargs", {}))
        if type(args) is not list or type(kwargs) is not dict:
            raise codec.CodecError("call needs a list of arguments and a dict of keywords")
        return _call(target, args, kwargs)
    if op == "map":
        refs = request.get("refs")
        if type(refs) is not list or not refs:
            raise codec.CodecError("map needs a list of functions")
        functions = [_target({"ref": ref}) for ref in refs]
        items = _decode(request.get("items", []))
        if type(items) is not list or len(items) * len(refs) > MAX_ITEMS:
            raise codec.CodecError("map needs a list of at most 100000 calls")
        # every function over the same items, in order (as the checker would send them one by one)
        return {"values": [[_call(func, [item], {}) for item in items] for func in functions]}
    if op == "describe":
        return _describe(target)
    if op == "dunder":
        name = request.get("name")
        args = _decode(request.get("args", []))
        try:
            if name == "len":
                value = len(target)
            elif name == "getitem":
                value = target[args[0]]
            elif name == "contains":
                value = args[0] in target
            elif name == "iter":
                value = []
                for item in target:
                    value.append(item)
                    if len(value) > MAX_ITEMS:
                        raise codec.CodecError("more than 100000 items")
            elif name == "bool":
                value = bool(target)
            else:
                raise codec.CodecError(f"unknown operation {name!r}")
        except codec.CodecError:
            raise
        except BaseException as error:
            return _raised(error)
        return {"value": _encode(value)}
    raise codec.CodecError(f"unknown request {op!r}")


def serve(request_text: str) -> str:
    """Answer one request (JSON text) with one reply (JSON text); never raises."""
    try:
        request = json.loads(request_text)
        if type(request) is not dict:
            raise codec.CodecError("a request is a JSON object")
        reply = {"ok": True, **_dispatch(request)}
    except BaseException as error:  # a broken request or an unencodable answer: say so, keep serving
        reply = {"ok": False, "error": f"{type(error).__name__}: {str(error)[:500]}"}
    try:
        return json.dumps(reply, allow_nan=True, separators=(",", ":"))
    except (TypeError, ValueError) as error:
        return json.dumps({"ok": False, "error": f"the answer could not be encoded: {error}"})
