"""The checks that learners' test cells call: contract, stubs, safe calls, equality and messages.

These helpers hold logic, never answers: expected values and held-out cases live
in the notebooks' hidden test blocks. Every failure is an ``AssertionError``
(so nbgrader gives the cell no credit) whose message speaks to the learner
about *their* object:

- :class:`NotAnswered` -- the answer is still the stub (``...``), so the
  learner reads "Not answered yet", never a ``NameError`` cascade;
- :class:`CheckFailed` -- observation, then expectation, then at most one hint.

Test cells must write nothing to stderr (nbgrader gives 0 points to a cell with
stderr output): use ``progress_bar=False`` and :func:`quietly`.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import io
import math
import warnings
from collections.abc import Callable
from typing import Any

__all__ = [
    "CheckFailed",
    "NotAnswered",
    "call_each",
    "call_each_of",
    "call_safely",
    "expect",
    "held_out_split",
    "is_stub",
    "passed",
    "quietly",
    "require_answer",
    "require_function",
    "same",
    "show",
    "unchanged_after",
    "unwrap",
]

#: How many characters of a learner's value a message shows.
SHOW_LIMIT = 80


class CheckFailed(AssertionError):
    """The learner's answer is there but does not do what the question asks."""


class NotAnswered(AssertionError):
    """The learner has not replaced the stub yet."""


def _stub():  # the body nbgrader's stub leaves in place: `...`
    ...


_STUB_CODE = _stub.__code__.co_code


def show(value: Any, limit: int = SHOW_LIMIT) -> str:
    """A short, safe ``repr`` of a learner's value for a message."""
    try:
        text = repr(value)
    except Exception as error:  # a hostile or broken __repr__ must not break the check
        text = f"<{type(value).__name__} whose repr raised {type(error).__name__}>"
    return text if len(text) <= limit else text[: limit - 1] + "…"


def unwrap(func: Any) -> Any:
    """The plain Python function inside a snorkel LF, TF or SF (or ``func`` itself)."""
    from autograder.checks.remote import is_handle

    if is_handle(func):
        return func
    return getattr(func, "_f", func)


def is_stub(value: Any) -> bool:
    """True for the stubs a released notebook holds: ``...``, or a function whose body is only ``...``."""
    from autograder.checks.remote import describe, is_handle

    if value is Ellipsis:
        return True
    if is_handle(value):
        return describe(value).get("stub") is True
    inner = unwrap(value)
    code = getattr(inner, "__code__", None)
    return code is not None and code.co_code == _STUB_CODE


def require_answer(value: Any, name: str) -> Any:
    """Return ``value``, or raise :class:`NotAnswered` if it is still the stub."""
    if is_stub(value):
        raise NotAnswered(
            f"Not answered yet: `{name}` is still the placeholder. Write your answer in the cell above."
        )
    return value


def require_function(func: Any, name: str, *, kind: type | tuple[type, ...] | None = None) -> Any:
    """Check that ``func`` is answered and callable (and an instance of ``kind``, e.g. ``LabelingFunction``)."""
    from autograder.checks.remote import is_a, is_handle, type_name

    require_answer(func, name)
    if kind is not None and not is_a(func, kind):
        kinds = kind if isinstance(kind, tuple) else (kind,)
        wanted = " or ".join(k.__name__ for k in kinds)
        raise CheckFailed(
            f"`{name}` is a {type_name(func)}, not a {wanted}. "
            f"Did you forget the decorator, or return the wrong object?"
        )
    if not callable(func) or (is_handle(func) and not func._course_info.get("callable")):
        raise CheckFailed(f"`{name}` is {show(func)}, which cannot be called. It should be a function.")
    return func


def expect(condition: bool, message: str) -> None:
    """Raise :class:`CheckFailed` with ``message`` unless ``condition`` holds.

    ``condition`` must be a real ``bool``: a learner's object whose ``__eq__``
    is always true cannot make a check pass.
    """
    if condition is not True and condition is not False:
        condition = _strict_bool(condition)
    if not condition:
        raise CheckFailed(message)


def _strict_bool(value: Any) -> bool:
    import numpy as np

    if isinstance(value, np.bool_):
        return bool(value)
    raise CheckFailed(f"A check expected True or False and got {show(value)} of type {type(value).__name__}.")


def call_safely(func: Callable, *args: Any, name: str, about: str = "") -> Any:
    """Call a learner's function; turn an exception into a :class:`CheckFailed` that says where.

    ``about`` describes the input for the message, e.g. ``"the comment 'Check out my…'"``.
    """
    from autograder.checks.codec import CodecError
    from autograder.checks.remote import LearnerError

    try:
        with quietly():
            return func(*args)
    except (NotAnswered, CheckFailed, CodecError):
        raise
    except Exception as error:
        where = f" on {about}" if about else ""
        kind, message = (
            (error.type_name, error.message)
            if isinstance(error, LearnerError)
            else (type(error).__name__, str(error))
        )
        if kind == "KeyboardInterrupt":
            raise CheckFailed(
                f"`{name}` ran too long{where} and was stopped. Does it loop forever?"
            ) from None
        raise CheckFailed(f"`{name}` raised {kind}: {show(message)}{where}.") from None


def call_each(func: Callable, items: list, *, name: str, about: Callable[[Any], str] | None = None) -> list:
    """``[func(item) for item in items]`` with :func:`call_safely`'s messages; a learner's function behind
    a handle is called over all items in one request to the kernel."""
    (results,) = call_each_of([func], items, names=[name], about=about)
    if isinstance(results, CheckFailed):
        raise results
    return results


def call_each_of(
    funcs: list, items: list, *, names: list[str], about: Callable[[Any], str] | None = None
) -> list[list | CheckFailed]:
    """:func:`call_each` of every function in ``funcs`` over the same ``items``: for each function its
    results, or the :class:`CheckFailed` of its first failing call (returned, not raised, so that the
    caller reports failures in its own order). Functions behind handles go to the kernel in one request."""
    from autograder.checks.remote import is_handle, map_many

    if not items or not all(is_handle(func) for func in funcs):
        table: list[list | CheckFailed] = []
        for func, name in zip(funcs, names, strict=True):
            try:
                table.append(
                    [call_safely(func, item, name=name, about=about(item) if about else "") for item in items]
                )
            except CheckFailed as failure:
                table.append(failure)
        return table
    table = []
    for name, outcomes in zip(names, map_many(list(funcs), list(items)), strict=True):
        results: list | CheckFailed = []
        for item, (ok, value) in zip(items, outcomes, strict=True):
            if not ok:
                where = f" on {about(item)}" if about else ""
                if value.type_name == "KeyboardInterrupt":
                    results = CheckFailed(
                        f"`{name}` ran too long{where} and was stopped. Does it loop forever?"
                    )
                else:
                    results = CheckFailed(f"`{name}` raised {value.type_name}: {show(value.message)}{where}.")
                break
            results.append(value)
        table.append(results)
    return table


def unchanged_after(func: Callable, point: Any, *, name: str) -> Any:
    """Call ``func(point)`` on a copy and check the learner's function did not modify its input."""
    before = copy.deepcopy(point)
    result = call_safely(func, point, name=name, about=f"the data point {show(point)}")
    expect(
        same(before, point),
        f"`{name}` changed the data point it was given. Work on a copy instead, "
        "for example `x = x.copy()` or build a new point.",
    )
    return result


def same(a: Any, b: Any) -> bool:
    """Whether ``a`` and ``b`` are the same value for a check, as a plain ``bool``.

    The one equality of the checks, for values a learner's code made or may have changed:

    - a missing value (``None``, NaN, ``pd.NA``, ``NaT``) is the same as any other missing value;
    - numbers compare by value (``1`` is ``1.0`` and ``np.int64(1)``), but a ``bool`` is not a number;
    - a ``Series``, ``DataFrame`` or NumPy array is the same as one of its kind with the same index
      (columns, shape) and the same values, by this rule;
    - a spaCy ``Doc`` is the same only as itself (comparing two parses says nothing);
    - anything else by ``==``; when that raises or gives something other than a bool, not the same.
    """
    import numpy as np
    import pandas as pd

    if _missing(a) or _missing(b):
        return _missing(a) and _missing(b)
    if _is_doc(a) or _is_doc(b):
        return a is b
    if isinstance(a, pd.Series | pd.DataFrame | np.ndarray) or isinstance(
        b, pd.Series | pd.DataFrame | np.ndarray
    ):
        return _same_container(a, b)
    if isinstance(a, bool | np.bool_) or isinstance(b, bool | np.bool_):
        return isinstance(a, bool | np.bool_) and isinstance(b, bool | np.bool_) and bool(a) == bool(b)
    if _is_number(a) and _is_number(b):
        return bool(a == b)
    try:
        result = a == b
    except Exception:
        return False
    return result if type(result) is bool else isinstance(result, np.bool_) and bool(result)


def _missing(value: Any) -> bool:
    import numpy as np
    import pandas as pd

    if value is None or value is pd.NA or value is pd.NaT:
        return True
    return isinstance(value, float | np.floating) and math.isnan(value)


def _is_number(value: Any) -> bool:
    import numbers

    import numpy as np

    return isinstance(value, numbers.Number | np.number) and not isinstance(value, bool | np.bool_)


def _is_doc(value: Any) -> bool:
    return type(value).__name__ == "Doc" and type(value).__module__.startswith("spacy")


def _same_container(a: Any, b: Any) -> bool:
    import numpy as np
    import pandas as pd

    if type(a) is not type(b):
        return False
    try:
        if isinstance(a, np.ndarray):
            if a.shape != b.shape:
                return False
            if a.dtype.kind in "biuf" and b.dtype.kind in "biuf":
                return bool(np.array_equal(a, b, equal_nan=a.dtype.kind == "f" or b.dtype.kind == "f"))
            return all(same(x, y) for x, y in zip(a.ravel().tolist(), b.ravel().tolist(), strict=True))
        if list(a.index) != list(b.index):
            return False
        if isinstance(a, pd.Series):
            return all(same(x, y) for x, y in zip(a.tolist(), b.tolist(), strict=True))
        return list(a.columns) == list(b.columns) and all(
            same(a.iloc[:, i], b.iloc[:, i]) for i in range(a.shape[1])
        )
    except Exception:  # a learner's object whose index or values cannot be read is not the same
        return False


@functools.lru_cache(maxsize=4)
def _held_out(path: str, sha256: str):
    from labeling_labs.data import load_held_out_file, load_spam_splits

    return load_held_out_file(path, sha256) if path else load_spam_splits().valid


def held_out_split():
    """A fresh copy of the held-out data the hidden tests grade on, read from disk once per process.

    In the grader's checker this is the instructor's private held-out set when one is configured
    (``COURSE_HELD_OUT``, with ``COURSE_HELD_OUT_SHA256``: a file that never enters the sandbox), and
    otherwise the course's public ``valid`` split. Hidden tests read it from here, never from the
    notebook's variables, which a learner may have changed.
    """
    import os

    return _held_out(
        os.environ.get("COURSE_HELD_OUT", ""), os.environ.get("COURSE_HELD_OUT_SHA256", "")
    ).copy()


@contextlib.contextmanager
def quietly():
    """Silence warnings and stderr from library code inside a check (stderr costs a cell its points)."""
    with warnings.catch_warnings(), contextlib.redirect_stderr(io.StringIO()):
        warnings.simplefilter("ignore")
        yield


def passed(message: str) -> None:
    """Print the one line a passing check shows: something worth knowing."""
    print(f"Passed: {message}")
