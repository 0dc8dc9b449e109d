"""Mutants of an answer cell: small, plausible wrong answers made from the solution's own source.

:func:`mutants_of` parses a cell with libcst and applies every mutation operator to every node of
its ``### BEGIN SOLUTION`` blocks, one change per mutant. Two families of operators:

- mutmut's node operators (:mod:`mutmut.mutation.mutators`), the generic ones of a well-kept
  mutation-testing tool: comparison boundaries (``<`` ↔ ``<=``, ``==`` ↔ ``!=``), ``and`` ↔ ``or``,
  arithmetic operators, ``in`` ↔ ``not in``, ``True`` ↔ ``False``, string literals changed,
  call arguments replaced by ``None`` or dropped, assignments of ``None``, ternaries forced down
  one branch, ``not`` dropped, ``lower`` ↔ ``upper``;
- the course's own, for the mistakes learners make in these labs: numeric constants stepped
  (``n`` → ``n ± 1``, ``0.5`` → ``0.4`` / ``0.6``), regex flags added or dropped, ``.lower()``
  dropped, label constants swapped (``SPAM`` / ``HAM`` / ``ABSTAIN``), data splits swapped
  (``train`` / ``dev`` / ``valid`` / ``test`` and names built on them, such as ``L_test``),
  ``.copy()`` dropped, seeds removed or changed (``random_state=``, ``seed=``, ``np.random.seed``),
  loops cut to their first item, return values altered (``None``, or the function's argument).

A mutant's id is ``<grade_id>:<operator>:<n>``: the n-th mutant of that operator in the cell, in
source order. Ids are stable while the solution does not change; each mutant also carries the line
it changes, so that a list of equivalent mutants can tell when an id has come to mean another
mutant.

Mutants that cannot change an answer are not generated: nothing outside the solution blocks, nothing
inside ``print(...)`` or an f-string (messages), and no change to purely cosmetic arguments
(``progress_bar``, ``verbose``, ``log_freq``).
"""

from __future__ import annotations

import ast
import difflib
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

import libcst as cst
import libcst.matchers as m
from libcst.metadata import ExpressionContext, ExpressionContextProvider, MetadataWrapper, PositionProvider
from mutmut.mutation import mutators as mutmut

__all__ = [
    "COSMETIC_ARGUMENTS",
    "LABELS",
    "OPERATORS",
    "SPLITS",
    "Mutant",
    "bound_names",
    "mutants_of",
    "solution_lines",
    "strip_markers",
]

#: Keyword arguments that only change what a call prints or logs, never its result.
COSMETIC_ARGUMENTS = frozenset({"progress_bar", "verbose", "log_freq"})
#: The course's label constants (labeling_labs.constants).
LABELS = ("SPAM", "HAM", "ABSTAIN")
#: The data splits' names, alone or as a part of a name (``L_train``, ``X_test``, ``test_loader``).
SPLITS = ("train", "dev", "valid", "test")
#: Functions of ``re`` that take ``flags``, with the position of ``flags`` among their arguments.
REGEX_FLAGS_POSITION = {
    "search": 2,
    "match": 2,
    "fullmatch": 2,
    "findall": 2,
    "finditer": 2,
    "split": 3,
    "sub": 4,
    "subn": 4,
    "compile": 1,
}
#: Keyword arguments that seed a random generator.
SEED_ARGUMENTS = frozenset({"random_state", "seed", "random_seed"})
#: Calls that seed a random generator as a statement of their own (matched on their last name).
SEED_CALLS = frozenset({"seed", "manual_seed", "seed_everything", "set_seed"})

_MARKER = re.compile(r"^[ \t]*### (BEGIN|END) SOLUTION[ \t]*$")


@dataclass(frozen=True)
class Mutant:
    """One mutant of one answer cell."""

    id: str
    cell: str
    operator: str
    #: The whole cell's source with the change (solution markers removed): what the child runs.
    source: str
    #: Line (1-based, in the cell's marker-less source) where the change starts.
    line: int
    before: str
    after: str

    def describe(self) -> str:
        return f"line {self.line}: {self.before}  ->  {self.after}"


# -- the cell --------------------------------------------------------------------------------------


def strip_markers(source: str) -> str:
    """A cell's source without its ``### BEGIN/END SOLUTION`` lines (the answer kept): what a learner hands in."""
    return "\n".join(line for line in source.split("\n") if not _MARKER.match(line))


def solution_lines(source: str) -> set[int]:
    """Line numbers (1-based) of :func:`strip_markers`' result that lie inside a solution block."""
    inside, kept, number = False, set(), 0
    for line in source.split("\n"):
        marker = _MARKER.match(line)
        if marker:
            inside = marker.group(1) == "BEGIN"
            continue
        number += 1
        if inside:
            kept.add(number)
    return kept


def bound_names(sources: Iterable[str]) -> set[str]:
    """Every name the given cells bind (assign, define, import, loop over): what a mutant may swap a name for."""
    names: set[str] = set()
    for source in sources:
        try:
            tree = ast.parse(source)
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Load):
                names.add(node.id)
            elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                names.add(node.name)
            elif isinstance(node, ast.Import | ast.ImportFrom):
                names.update(alias.asname or alias.name.split(".")[0] for alias in node.names)
    return names


# -- operators ---------------------------------------------------------------------------------------


@dataclass
class Context:
    """What an operator may ask about the node it mutates."""

    parents: dict[cst.CSTNode, cst.CSTNode]
    contexts: dict[cst.CSTNode, ExpressionContext | None]
    known: set[str] = field(default_factory=set)

    def parent(self, node: cst.CSTNode) -> cst.CSTNode | None:
        return self.parents.get(node)

    def ancestors(self, node: cst.CSTNode) -> Iterator[cst.CSTNode]:
        while (node := self.parents.get(node)) is not None:
            yield node

    def is_load(self, node: cst.Name) -> bool:
        """A name read as a value (not assigned, not a keyword argument's name, not an attribute)."""
        parent = self.parents.get(node)
        if isinstance(parent, cst.Arg) and parent.keyword is node:
            return False
        return self.contexts.get(node) == ExpressionContext.LOAD

    def function(self, node: cst.CSTNode) -> cst.FunctionDef | None:
        return next((a for a in self.ancestors(node) if isinstance(a, cst.FunctionDef | cst.Lambda)), None)


@dataclass(frozen=True)
class Operator:
    name: str
    kind: type | tuple[type, ...]
    apply: Callable[[cst.CSTNode, Context], Iterable[cst.CSTNode]]
    #: Where it comes from: "mutmut" (the library's operator) or "course" (this module's).
    origin: str


def _mutmut(
    func: Callable[[cst.CSTNode], Iterable[cst.CSTNode]],
) -> Callable[[cst.CSTNode, Context], Iterable]:
    return lambda node, _context: func(node)


def _swap(*kinds: type) -> Callable[[cst.CSTNode, Context], Iterable[cst.CSTNode]]:
    """mutmut's operator swap, for the given node kinds only (so that each family gets its own name)."""
    return lambda node, _context: mutmut.operator_swap_op(node) if isinstance(node, kinds) else ()


def _arguments(node: cst.Call, context: Context) -> Iterator[cst.Call]:
    """mutmut's argument removal, except for cosmetic arguments."""
    before = list(node.args)
    for mutated in mutmut.operator_arg_removal(node):
        changed = [arg for arg in before if not any(arg.deep_equals(other) for other in mutated.args)]
        if changed and all(
            arg.keyword is not None and arg.keyword.value in COSMETIC_ARGUMENTS for arg in changed
        ):
            continue
        yield mutated.with_changes(args=_tidy(list(mutated.args), before))


def _true_false(node: cst.Name, context: Context) -> Iterable[cst.CSTNode]:
    parent = context.parent(node)
    if (
        isinstance(parent, cst.Arg)
        and parent.keyword is not None
        and parent.keyword.value in COSMETIC_ARGUMENTS
    ):
        return ()
    return mutmut.operator_name(node)


def _number_text(value: float | int) -> str:
    if isinstance(value, int):
        return str(value)
    return repr(round(value, 10))


def _numbers(node: cst.BaseNumber, context: Context) -> Iterator[cst.BaseNumber]:
    """A boundary or a setting moved: an integer up to 10 one up and one down (``n ± 1``), a larger one
    doubled and halved; a float from 0.1 to 1 one tenth up and down (``0.5`` → ``0.4``, ``0.6``), a
    smaller one doubled and halved, a larger one ten times up and down."""
    if not isinstance(node, cst.Integer | cst.Float):
        return
    value = node.evaluated_value
    if isinstance(value, int):
        steps = [value + 1, value - 1] if value <= 10 else [value * 2, value // 2]
    elif 0.1 <= value <= 1:
        steps = [value - 0.1, value + 0.1]
    elif value < 0.1:
        steps = [value / 2, value * 2]
    else:
        steps = [value / 10, value * 10]
    for step in steps:
        if step != value and step >= 0:
            yield node.with_changes(value=_number_text(step))


def _regex_call(node: cst.Call) -> str | None:
    if m.matches(node.func, m.Attribute(value=m.Name("re"))):
        name = node.func.attr.value
        return name if name in REGEX_FLAGS_POSITION else None
    return None


def _regex_flags(node: cst.Call, context: Context) -> Iterator[cst.Call]:
    """A regex that ignored case now minds it, and one that minded it now ignores it."""
    name = _regex_call(node)
    if name is None:
        return
    position = REGEX_FLAGS_POSITION[name]
    flags = [
        i
        for i, arg in enumerate(node.args)
        if (arg.keyword is not None and arg.keyword.value == "flags")
        or (arg.keyword is None and i == position)
    ]
    if flags:
        yield node.with_changes(args=_without(node.args, flags))
    else:
        flag = cst.Arg(
            keyword=cst.Name("flags"),
            value=cst.parse_expression("re.I"),
            equal=cst.AssignEqual(
                whitespace_before=cst.SimpleWhitespace(""), whitespace_after=cst.SimpleWhitespace("")
            ),
        )
        yield node.with_changes(args=[*_with_comma(node.args), flag])


def _without(args: Iterable[cst.Arg], drop: Iterable[int]) -> list[cst.Arg]:
    """The arguments but those at the positions ``drop``, without a trailing comma left behind."""
    args, drop = list(args), set(drop)
    return _tidy([arg for i, arg in enumerate(args) if i not in drop], args)


def _tidy(kept: list[cst.Arg], original: list[cst.Arg]) -> list[cst.Arg]:
    """No trailing comma where the original call had none (``f(a, )`` → ``f(a)``)."""
    if (
        kept
        and original
        and original[-1].comma == cst.MaybeSentinel.DEFAULT
        and isinstance(kept[-1].comma, cst.Comma)
    ):
        kept[-1] = kept[-1].with_changes(comma=cst.MaybeSentinel.DEFAULT)
    return kept


def _with_comma(args: Iterable[cst.Arg]) -> list[cst.Arg]:
    args = list(args)
    if args and args[-1].comma == cst.MaybeSentinel.DEFAULT:
        args[-1] = args[-1].with_changes(comma=cst.Comma(whitespace_after=cst.SimpleWhitespace(" ")))
    return args


def _method(node: cst.Call, name: str) -> bool:
    return m.matches(node.func, m.Attribute(attr=m.Name(name))) and not node.args


def _case_drop(node: cst.Call, context: Context) -> Iterator[cst.BaseExpression]:
    """``text.lower()`` → ``text``: the comparison minds case again."""
    if _method(node, "lower") or _method(node, "casefold"):
        yield node.func.value


def _copy_drop(node: cst.Call, context: Context) -> Iterator[cst.BaseExpression]:
    """``x.copy()`` → ``x`` and ``copy.deepcopy(x)`` → ``x``: the answer works on its input, not on a copy."""
    if _method(node, "copy"):
        yield node.func.value
    elif (
        m.matches(node.func, m.Attribute(value=m.Name("copy"), attr=m.Name("copy") | m.Name("deepcopy")))
        and len(node.args) == 1
    ):
        yield node.args[0].value


def _label_swap(node: cst.Name, context: Context) -> Iterator[cst.Name]:
    """One label constant for another: ``SPAM`` → ``HAM`` and ``ABSTAIN``, and so on."""
    if node.value in LABELS and context.is_load(node):
        for other in LABELS:
            if other != node.value and other in context.known:
                yield node.with_changes(value=other)


def _split_swap(node: cst.Name | cst.SimpleString, context: Context) -> Iterator[cst.CSTNode]:
    """One data split for another: ``test`` → ``dev``, ``L_test`` → ``L_train``, ``"train"`` → ``"test"``."""
    if isinstance(node, cst.SimpleString):
        if node.evaluated_value in SPLITS:
            quote = node.value[-1]
            for other in SPLITS:
                if other != node.evaluated_value:
                    yield node.with_changes(value=f"{quote}{other}{quote}")
        return
    if not context.is_load(node):
        return
    parts = node.value.split("_")
    where = [i for i, part in enumerate(parts) if part in SPLITS]
    if len(where) != 1:
        return
    for other in SPLITS:
        name = "_".join(other if i == where[0] else part for i, part in enumerate(parts))
        if other != parts[where[0]] and name in context.known:
            yield node.with_changes(value=name)


def _seed_arguments(node: cst.Call, context: Context) -> Iterator[cst.Call]:
    """``random_state=SEED`` dropped, or changed to ``SEED + 1``."""
    for i, arg in enumerate(node.args):
        if arg.keyword is not None and arg.keyword.value in SEED_ARGUMENTS:
            yield node.with_changes(args=_without(node.args, [i]))
            changed = cst.BinaryOperation(left=arg.value, operator=cst.Add(), right=cst.Integer("1"))
            yield node.with_changes(
                args=[*node.args[:i], arg.with_changes(value=changed), *node.args[i + 1 :]]
            )


def _seed_calls(node: cst.SimpleStatementLine, context: Context) -> Iterator[cst.SimpleStatementLine]:
    """``np.random.seed(SEED)`` (and ``random.seed``, ``torch.manual_seed``, ``seed_everything()``) removed."""
    if len(node.body) != 1 or not m.matches(node.body[0], m.Expr(value=m.Call())):
        return
    func = node.body[0].value.func
    last = (
        func.attr.value
        if isinstance(func, cst.Attribute)
        else func.value
        if isinstance(func, cst.Name)
        else ""
    )
    if last in SEED_CALLS:
        yield node.with_changes(body=[cst.Pass()])


def _first_item(iterable: cst.BaseExpression) -> cst.BaseExpression:
    return cst.Subscript(
        value=cst.Call(func=cst.Name("list"), args=[cst.Arg(iterable)]),
        slice=[cst.SubscriptElement(cst.Slice(lower=None, upper=cst.Integer("1")))],
    )


def _loop_first(node: cst.For | cst.CompFor, context: Context) -> Iterator[cst.CSTNode]:
    """``for x in xs`` → ``for x in list(xs)[:1]``: the loop stops after its first item."""
    yield node.with_changes(iter=_first_item(node.iter))


def _return_value(node: cst.Return, context: Context) -> Iterator[cst.Return]:
    """``return value`` → ``return None``, and → ``return <the function's first argument>``."""
    if node.value is None or m.matches(node.value, m.Name("None")):
        return
    yield node.with_changes(value=cst.Name("None"))
    function = context.function(node)
    params = function.params.params if isinstance(function, cst.FunctionDef) else ()
    if params and not m.matches(node.value, m.Name(params[0].name.value)):
        yield node.with_changes(value=cst.Name(params[0].name.value))


#: ``in``, ``not in``, ``is``, ``is not``: the comparison operators mutmut swaps for their opposite.
MEMBERSHIP = (cst.In, cst.NotIn, cst.Is, cst.IsNot)  # codespell:ignore

#: Every operator, in the order mutants are made for a node (the course's first: when two operators make
#: the same mutant, the first one names it). Names are part of the mutant ids.
OPERATORS: tuple[Operator, ...] = (
    Operator("number", (cst.Integer, cst.Float), _numbers, "course"),
    Operator("regex-flags", cst.Call, _regex_flags, "course"),
    Operator("case-drop", cst.Call, _case_drop, "course"),
    Operator("label-swap", cst.Name, _label_swap, "course"),
    Operator("split-swap", (cst.Name, cst.SimpleString), _split_swap, "course"),
    Operator("copy-drop", cst.Call, _copy_drop, "course"),
    Operator("seed", cst.Call, _seed_arguments, "course"),
    Operator("seed", cst.SimpleStatementLine, _seed_calls, "course"),
    Operator("loop-first", (cst.For, cst.CompFor), _loop_first, "course"),
    Operator("return-value", cst.Return, _return_value, "course"),
    Operator("compare", cst.ComparisonTarget, _swap(cst.ComparisonTarget), "mutmut"),
    Operator("membership", MEMBERSHIP, _mutmut(mutmut.operator_keywords), "mutmut"),
    Operator("bool-op", cst.BooleanOperation, _swap(cst.BooleanOperation), "mutmut"),
    Operator(
        "arith-op", (cst.BinaryOperation, cst.AugAssign), _swap(cst.BinaryOperation, cst.AugAssign), "mutmut"
    ),
    Operator("not-drop", cst.UnaryOperation, _mutmut(mutmut.operator_remove_unary_ops), "mutmut"),
    Operator("if-branch", cst.IfExp, _mutmut(mutmut.operator_if_exp), "mutmut"),
    Operator("true-false", cst.Name, _true_false, "mutmut"),
    Operator("string", cst.SimpleString, _mutmut(mutmut.operator_string), "mutmut"),
    Operator(
        "string-method",
        cst.Call,
        _mutmut(
            lambda node: [
                *mutmut.operator_symmetric_string_methods_swap(node),
                *mutmut.operator_unsymmetrical_string_methods_swap(node),
            ]
        ),
        "mutmut",
    ),
    Operator("argument", cst.Call, _arguments, "mutmut"),
    Operator("argument-name", cst.Call, _mutmut(mutmut.operator_dict_arguments), "mutmut"),
    Operator("assignment", (cst.Assign, cst.AnnAssign), _mutmut(mutmut.operator_assignment), "mutmut"),
    Operator("lambda", cst.Lambda, _mutmut(mutmut.operator_lambda), "mutmut"),
)


# -- making the mutants ------------------------------------------------------------------------------


def _walk(node: cst.CSTNode, parents: dict) -> Iterator[cst.CSTNode]:
    yield node
    for child in node.children:
        parents[child] = node
        yield from _walk(child, parents)


def _is_message(node: cst.CSTNode, context: Context) -> bool:
    """Inside ``print(...)``, an f-string or a cosmetic argument: for the reader, not part of the answer."""
    for ancestor in (node, *context.ancestors(node)):
        if isinstance(ancestor, cst.FormattedString):
            return True
        if isinstance(ancestor, cst.Call) and m.matches(ancestor.func, m.Name("print")):
            return True
        if (
            isinstance(ancestor, cst.Arg)
            and ancestor.keyword is not None
            and ancestor.keyword.value in COSMETIC_ARGUMENTS
        ):
            return True
    return False


def _changed_lines(before: str, after: str) -> tuple[int, str, str]:
    old, new = before.split("\n"), after.split("\n")
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(a=old, b=new, autojunk=False).get_opcodes():
        if tag != "equal":
            return (
                i1 + 1,
                " / ".join(line.strip() for line in old[i1:i2]) or "(nothing)",
                " / ".join(line.strip() for line in new[j1:j2]) or "(nothing)",
            )
    return 0, "", ""


def mutants_of(
    source: str,
    cell: str,
    *,
    known: Iterable[str] = (),
    lines: set[int] | None = None,
    operators: Iterable[Operator] = OPERATORS,
) -> list[Mutant]:
    """The mutants of one answer cell.

    ``source`` is the cell as the notebook holds it (with its solution markers, whose blocks say
    where mutants may be made; without markers, the whole cell is mutated), ``cell`` its grade id,
    ``known`` the names the notebook binds (a label or split is only swapped for a name that exists).
    """
    code = strip_markers(source)
    if lines is None:
        lines = solution_lines(source) if _has_markers(source) else set(range(1, code.count("\n") + 2))
    wrapper = MetadataWrapper(cst.parse_module(code))
    positions = wrapper.resolve(PositionProvider)
    parents: dict[cst.CSTNode, cst.CSTNode] = {}
    nodes = list(_walk(wrapper.module, parents))
    context = Context(
        parents=parents, contexts=dict(wrapper.resolve(ExpressionContextProvider)), known=set(known)
    )
    seen = {code}
    counts: dict[str, int] = {}
    found: list[Mutant] = []
    operators = tuple(operators)
    for node in nodes:
        where = positions.get(node)
        if where is None or where.start.line not in lines or where.end.line not in lines:
            continue
        if _is_message(node, context):
            continue
        for operator in operators:
            if not isinstance(node, operator.kind):
                continue
            for mutated in operator.apply(node, context):
                new = wrapper.module.deep_replace(node, mutated).code
                if new in seen or not _compiles(new):
                    continue
                seen.add(new)
                counts[operator.name] = counts.get(operator.name, 0) + 1
                line, before, after = _changed_lines(code, new)
                found.append(
                    Mutant(
                        id=f"{cell}:{operator.name}:{counts[operator.name]}",
                        cell=cell,
                        operator=operator.name,
                        source=new,
                        line=line,
                        before=before,
                        after=after,
                    )
                )
    return found


def _has_markers(source: str) -> bool:
    return any(_MARKER.match(line) for line in source.split("\n"))


def _compiles(source: str) -> bool:
    try:
        compile(source, "<mutant>", "exec")
    except (SyntaxError, ValueError):
        return False
    return True
