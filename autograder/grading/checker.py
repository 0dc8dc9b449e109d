"""The checker: runs a notebook's test cells outside the learner's kernel, and gives their verdicts.

    python -I -m autograder.grading.checker   < job and commands (JSON lines)  > events (JSON lines)

One checker serves one notebook. The grader (:mod:`autograder.grading.execute`) starts it beside
the sandbox, as the grader's own user, with nothing of the learner's: it reads a
:class:`~autograder.grading.protocol.CheckerJob`, runs the import statements of the notebook's
set-up cells, and then, each time the runner reaches a test cell, runs that cell's source (visible
checks, hidden tests and all) in its own namespace:

- every name the test cell uses but neither defines nor imports is looked up in the learner's
  kernel and arrives as plain data or a handle (:mod:`autograder.checks.remote`); every question
  about a handle becomes an ``rpc`` event that the grader relays to the runner, and its answer a
  ``reply`` command;
- what the cell prints, its final value (partial credit) and the exception that stopped it become
  the test cell's outputs, exactly as nbgrader expects them from an executed cell, in a
  ``verdict`` event. nbgrader then scores those outputs: an error output is 0 points, a final
  number is partial credit.

Held-out data is read here (:func:`autograder.checks.held_out_split`), from the course's public
split or from a private file (``COURSE_HELD_OUT``) that the sandbox never binds.

A verdict carries ``problem`` when the check itself, not the learner's code, went wrong (the
kernel gave an answer that is not plain data, the check raised an unexpected error): the cell
still scores 0, and the grading record says why, so that an instructor can tell a broken hidden
test from a wrong answer.

Each notebook gets a checker of its own, but its start-up (the set-up imports: pandas, snorkel,
scikit-learn; the held-out split; WordNet) is the same for every notebook of an assignment. The
grader therefore starts a *fork server* per assignment (``--fork-server``, :func:`fork_server`),
which does that work once and forks a fresh checker for each notebook: a child that starts where
the server stood, before any notebook was seen, so that nothing of one notebook reaches the next.
"""

from __future__ import annotations

import ast
import builtins
import contextlib
import io
import json
import os
import socket
import sys
import traceback
from typing import Any

from autograder.checks import codec, remote
from autograder.checks.core import CheckFailed, NotAnswered
from autograder.grading.protocol import CheckerJob, loads

__all__ = ["fork_server", "free_names", "main", "setup_imports"]

#: Characters of printed output a test cell keeps (its checks' messages, never more).
MAX_PRINTED = 20_000


def setup_imports(sources: list[str]) -> str:
    """The import statements of the given cells (the notebook's locked set-up cells), as one source."""
    lines = []
    for source in sources:
        try:
            tree = ast.parse(source)
        except SyntaxError:
            continue
        lines += [ast.unparse(node) for node in tree.body if isinstance(node, ast.Import | ast.ImportFrom)]
    return "\n".join(lines)


def free_names(tree: ast.AST) -> list[str]:
    """Names a cell reads without binding them anywhere in the cell (nor being builtins)."""
    loaded: set[str] = set()
    bound: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            (loaded if isinstance(node.ctx, ast.Load) else bound).add(node.id)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            bound.add(node.name)
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
        elif isinstance(node, ast.Import | ast.ImportFrom):
            for alias in node.names:
                bound.add(alias.asname or alias.name.split(".")[0])
        elif isinstance(node, ast.ExceptHandler) and node.name:
            bound.add(node.name)
        elif isinstance(node, ast.Global | ast.Nonlocal):
            bound.update(node.names)
    return sorted(loaded - bound - set(dir(builtins)))


class Checker:
    def __init__(self, job: CheckerJob, out, commands) -> None:
        self.out = out
        self.commands = commands
        self.namespace: dict[str, Any] = {"__name__": "__checker__", "__builtins__": builtins}
        self.setup_names: set[str] = set()
        self.gone: str | None = None
        if job.held_out:
            os.environ["COURSE_HELD_OUT"] = job.held_out
            os.environ["COURSE_HELD_OUT_SHA256"] = job.held_out_sha256
        remote.set_channel(self.ask)
        if job.setup:
            exec(compile(job.setup, "<set-up imports>", "exec"), self.namespace)
        self.setup_names = set(self.namespace)

    def emit(self, event: str, **fields: Any) -> None:
        self.out.write(json.dumps({"event": event, **fields}, allow_nan=True) + "\n")
        self.out.flush()

    def ask(self, request: dict) -> dict:
        """One question to the learner's kernel, through the grader and the runner."""
        if self.gone is not None:
            raise remote.KernelGone(self.gone)
        self.emit("rpc", request=request)
        command = self.commands()
        if command.get("op") == "gone":
            self.gone = str(command.get("reason") or "the kernel stopped")
            raise remote.KernelGone(self.gone)
        if command.get("op") != "reply":
            raise codec.CodecError(f"unexpected command {command.get('op')!r} while waiting for the kernel")
        reply = codec.parse(command.get("text"))
        if type(reply) is not dict:
            raise codec.CodecError("the kernel's reply is not an object")
        return reply

    def _resolve(self, names: list[str]) -> None:
        wanted = [n for n in names if n not in self.setup_names]
        if not wanted:
            return
        reply = self.ask({"op": "names", "names": wanted})
        values = reply.get("values")
        if type(values) is not dict:
            raise codec.CodecError("a malformed answer to a name look-up")
        for name in wanted:
            if name not in values:
                raise codec.CodecError(f"the kernel did not answer for {name!r}")
            value = codec.decode(values[name], remote.make_handle)
            if value is codec.MISSING:
                continue  # a name the notebook does not define: an earlier test cell's, or a NameError
            self.namespace[name] = value

    def run(self, index: int, source: str) -> dict:
        printed = io.StringIO()
        outputs: list[dict] = []
        problem = None
        result = None
        failure: BaseException | None = None
        try:
            tree = ast.parse(source)
        except SyntaxError as error:
            return {
                "outputs": [_error("SyntaxError", str(error))],
                "problem": f"the test cell does not parse: {error}",
            }
        last = tree.body.pop() if tree.body and isinstance(tree.body[-1], ast.Expr) else None
        try:
            with contextlib.redirect_stdout(printed), contextlib.redirect_stderr(io.StringIO()):
                self._resolve(
                    free_names(ast.Module(body=[*tree.body, *([last] if last else [])], type_ignores=[]))
                )
                exec(compile(tree, f"<test cell {index}>", "exec"), self.namespace)
                if last is not None:
                    result = eval(
                        compile(ast.Expression(last.value), f"<test cell {index}>", "eval"), self.namespace
                    )
        except (NotAnswered, CheckFailed, AssertionError) as error:
            failure = error
            outputs.append(_error(type(error).__name__, str(error)))
        except remote.KernelGone as error:
            failure = error
            outputs.append(_error("KernelDied", f"the notebook's kernel stopped during this check: {error}"))
            problem = f"kernel-died: {error}"
        except remote.LearnerError as error:
            failure = error
            outputs.append(
                _error("CheckFailed", f"Your code raised {error.type_name}: {error.message[:300]}")
            )
        except codec.CodecError as error:
            failure = error
            outputs.append(
                _error(
                    "CheckFailed",
                    "The notebook's kernel answered the grader with something other "
                    "than plain data, so this check could not be made.",
                )
            )
            problem = f"the kernel's answer could not be read: {error}"
        except NameError as error:
            failure = error
            outputs.append(
                _error("NameError", f"{error}. Did you delete or rename something the question asks for?")
            )
        except Exception as error:
            failure = error
            outputs.append(
                _error("CheckFailed", f"The check could not be completed ({type(error).__name__}).")
            )
            problem = "the check raised " + "".join(traceback.format_exception_only(error)).strip()[:500]
        finally:
            with contextlib.suppress(Exception):
                if self.gone is None:
                    self.ask({"op": "release"})
        for (
            output
        ) in outputs:  # the check's own traceback, for the instructor (feedback shows the message only)
            if output["output_type"] == "error" and failure is not None:
                output["traceback"] = [line.rstrip("\n") for line in traceback.format_exception(failure)][
                    -40:
                ]
        text = printed.getvalue()
        if len(text) > MAX_PRINTED:
            text = text[:MAX_PRINTED] + "\n[output truncated by the grader]\n"
        if text:
            outputs.insert(0, {"output_type": "stream", "name": "stdout", "text": text})
        if result is not None and not any(o["output_type"] == "error" for o in outputs):
            outputs.append(
                {
                    "output_type": "execute_result",
                    "execution_count": None,
                    "metadata": {},
                    "data": {"text/plain": _plain_repr(result)},
                }
            )
        return {"outputs": outputs, "problem": problem}


def _plain_repr(value: Any) -> str:
    if type(value) in (int, float, bool, str):
        return repr(value)
    return repr(str(value))[:200]


def _error(ename: str, evalue: str) -> dict:
    return {"output_type": "error", "ename": ename, "evalue": evalue, "traceback": [f"{ename}: {evalue}"]}


def main() -> int:
    out = os.fdopen(os.dup(1), "w", encoding="utf-8")
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)  # nothing else may write on the protocol's channel
    os.close(devnull)
    stdin = sys.stdin.buffer

    def commands() -> dict:
        line = stdin.readline()
        if not line:
            raise SystemExit(0)
        return loads(line)

    try:
        job = CheckerJob.from_dict(commands())
        checker = Checker(job, out, commands)
    except Exception as error:
        out.write(json.dumps({"event": "checker-error", "reason": f"{type(error).__name__}: {error}"}) + "\n")
        out.flush()
        return 1
    checker.emit("ready")
    while True:
        command = commands()
        if command.get("op") != "run":
            continue
        verdict = checker.run(int(command["index"]), str(command.get("source", "")))
        checker.emit("verdict", index=int(command["index"]), peak_mb=_peak_mb(), **verdict)


def _peak_mb() -> float:
    import resource

    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def warm_up(setup: str) -> None:
    """Do once what every checker of a notebook with these set-up imports would do first: the imports
    themselves, the check modules, the reading of the public held-out split and of WordNet, a label
    model's first fit, and assignment 3's features, baseline and first training (:func:`sf.warm_up
    <autograder.checks.sf.warm_up>`)."""
    namespace: dict[str, Any] = {"__name__": "__warm_up__", "__builtins__": builtins}
    if setup:
        exec(compile(setup, "<set-up imports>", "exec"), namespace)
    import autograder.checks.lf
    import autograder.checks.sf
    import autograder.checks.tf  # noqa: F401 - what test cells import, loaded once
    from autograder.checks.core import held_out_split

    with contextlib.suppress(Exception):  # a missing file is the child's to report, in its check
        held_out_split()
    if "labeling_labs.nlp" in sys.modules:
        with contextlib.suppress(Exception):
            sys.modules["labeling_labs.nlp"].wordnet()
    if "snorkel.labeling.model" in sys.modules:  # torch's first fit costs most of a second; later ones do not
        with contextlib.suppress(Exception), contextlib.redirect_stderr(io.StringIO()):
            import numpy as np

            model = sys.modules["snorkel.labeling.model"].LabelModel(cardinality=2, verbose=False)
            model.fit(
                L_train=np.array([[0, 1, -1], [1, -1, 1], [-1, 0, 0], [1, 1, 1]]),
                n_epochs=2,
                progress_bar=False,
            )
            model.predict_proba(np.array([[0, 1, 1]]))
    if "snorkel.slicing" in sys.modules:  # assignment 3: its features, its baseline, PyTorch's first training
        with contextlib.suppress(Exception), contextlib.redirect_stderr(io.StringIO()):
            autograder.checks.sf.warm_up()


def fork_server() -> int:
    """``python -m autograder.grading.checker --fork-server``, with a Unix socket on stdin.

    It reads one JSON line ``{"setup": ...}``, warms up (:func:`warm_up`) and answers ``ready``. Then,
    for each request (a JSON line ``{"cwd": folder}`` with three file descriptors: the new checker's
    stdin, stdout and stderr), it forks a checker that runs :func:`main` on them in a session of its
    own, in that folder, and answers its process id. It ends when the socket closes (the grader is
    gone). Children are not waited for: the grader ends them, and the kernel reaps them (``SIGCHLD``
    ignored)."""
    control = socket.socket(fileno=os.dup(0))
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1):
        os.dup2(devnull, fd)
    os.close(devnull)
    reader = control.makefile("rb")
    line = reader.readline()
    try:
        warm_up(str(json.loads(line).get("setup", "")))
        control.sendall(b"ready\n")
    except Exception as error:
        control.sendall(f"error {type(error).__name__}: {error}".replace("\n", " ").encode() + b"\n")
        return 1
    from autograder.grading.forks import serve_forks

    return serve_forks(control, reader, 3, _forked_checker)


def _forked_checker(request: dict, fds: list[int]) -> int:
    """In a checker forked by :func:`fork_server`: its own session, in the grader's folder of the moment,
    speaking on the three descriptors it was sent."""
    os.setsid()
    os.chdir(str(request.get("cwd") or "/"))
    for target, fd in enumerate(fds):
        os.dup2(fd, target)
        os.close(fd)
    return main()


if __name__ == "__main__":
    sys.exit(fork_server() if sys.argv[1:] == ["--fork-server"] else main())
