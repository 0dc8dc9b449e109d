"""Checkers forked from a warm server: the checker's start-up paid once per assignment, not per notebook.

A checker (:mod:`autograder.grading.checker`) starts by importing what the notebook's set-up cells
import (pandas, snorkel, scikit-learn, spaCy's and NLTK's readers) and by reading the held-out split:
seconds of CPU, the same for every notebook of an assignment. :func:`checker_process` asks a fork
server that did that once (``python -m autograder.grading.checker --fork-server``) for a fresh
checker: a child forked from the server's state *before* any notebook was seen, in a session of its
own, speaking on pipes that this process made. Nothing passes from one notebook's checker to the
next: each is a new process, and the server never runs a test cell.

One server per set-up source, per grading process; a server that died is replaced, and when none can
start the grader starts the checker as a plain process (slower, the same verdicts).
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time

__all__ = ["ForkedProcess", "checker_process", "serve_forks", "server_request", "stop_servers"]

#: Fork servers kept per grading process (a checker server and a kernel server per assignment's set-up
#: imports); the oldest goes first.
MAX_SERVERS = 6
#: Seconds a fork server may take to warm up.
SERVER_STARTUP = 120.0

_SERVERS: dict[tuple, _Server] = {}
#: One request at a time on a server's socket (its replies come back in order).
_LOCK = threading.Lock()


class ForkedProcess:
    """The part of :class:`subprocess.Popen` the grader uses, for a process forked by a server (a checker, or
    a warm kernel): not a child of this process, so it cannot be waited for, only watched."""

    def __init__(self, pid: int, stdin, stdout, stderr):
        self.pid = pid
        self.stdin, self.stdout, self.stderr = stdin, stdout, stderr
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None:
            try:
                os.kill(self.pid, 0)
            except ProcessLookupError:
                self.returncode = 0
            except PermissionError:
                pass
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            if deadline is not None and time.monotonic() > deadline:
                raise subprocess.TimeoutExpired(f"process {self.pid}", timeout)
            time.sleep(0.02)
        for stream in (self.stdin, self.stdout):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()
        return self.returncode

    def send_signal(self, signum: int) -> None:
        os.kill(self.pid, signum)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)


class _Server:
    def __init__(self, cmd: list[str], env: dict, setup: str):
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        self.control = ours
        self.proc = subprocess.Popen(
            cmd,
            stdin=theirs.fileno(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=env,
            # not the grader's folder of the moment: nbgrader works in each submission's, which goes away
            cwd="/",
            start_new_session=True,
        )
        theirs.close()
        self.replies = ours.makefile("rb")
        self.control.settimeout(SERVER_STARTUP)
        try:
            self.control.sendall(json.dumps({"setup": setup}).encode() + b"\n")
            answer = self.replies.readline().decode("utf-8", "replace").strip()
        except OSError as error:  # too slow to warm up, or gone: end it, as one that said no
            answer = f"{type(error).__name__}: {error}"
        if answer != "ready":
            self.stop()
            raise OSError(f"the checker's fork server did not start: {answer or 'it stopped'}")
        self.control.settimeout(30.0)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def ask(self, message: dict, fds: list[int]) -> int:
        """Send one request with ``fds`` (the caller's to close); the pid the server forked, or 0."""
        try:
            socket.send_fds(self.control, [json.dumps(message).encode() + b"\n"], fds)
            return int(self.replies.readline().decode().split(" ", 1)[0].strip() or 0)
        except (OSError, ValueError):
            return 0

    def fork(self) -> ForkedProcess:
        """A new checker, with pipes for its stdin, stdout and stderr, working in this process's folder (as a
        checker started here would)."""
        pipes = [os.pipe() for _ in range(3)]
        theirs = [pipes[0][0], pipes[1][1], pipes[2][1]]
        ours = [pipes[0][1], pipes[1][0], pipes[2][0]]
        try:
            pid = self.ask({"cwd": os.getcwd()}, theirs)
        finally:
            for fd in theirs:
                os.close(fd)
        if pid <= 0:
            for fd in ours:
                os.close(fd)
            raise OSError("the checker's fork server did not fork")
        return ForkedProcess(
            pid, os.fdopen(ours[0], "wb"), os.fdopen(ours[1], "rb"), os.fdopen(ours[2], "rb")
        )

    def stop(self) -> None:
        with contextlib.suppress(OSError):
            self.replies.close()  # the socket's descriptor stays open while its reader does
            self.control.close()
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, 9)
        self.proc.wait()


def checker_process(cmd: list[str], env: dict, setup: str) -> ForkedProcess | None:
    """A checker for a notebook whose set-up imports are ``setup``, forked from this process's warm server for
    them (started on first use); None when no server can run here (the caller then starts ``cmd`` itself)."""
    with _LOCK:
        return _with_server([*cmd, "--fork-server"], env, setup, lambda server: server.fork())


def server_request(cmd: list[str], env: dict, setup: str, message: dict, fds: list[int]) -> int:
    """Send ``message`` and ``fds`` (the caller's to close) to this process's warm server ``cmd`` for ``setup``
    (started on first use); the pid of the process it forked, or 0 when it did not (or no server can run)."""
    with _LOCK:
        return _with_server(cmd, env, setup, lambda server: server.ask(message, fds) or None) or 0


def _with_server(cmd: list[str], env: dict, setup: str, use):
    key = (tuple(cmd), tuple(sorted(env.items())), setup)
    server = _SERVERS.get(key)
    if server is not None and not server.alive():
        _SERVERS.pop(key).stop()
        server = None
    try:
        if server is None:
            while len(_SERVERS) >= MAX_SERVERS:
                _SERVERS.pop(next(iter(_SERVERS))).stop()
            server = _SERVERS[key] = _Server(cmd, env, setup)
        result = use(server)
        if result is None:
            raise OSError("the server did not fork")
        return result
    except OSError:
        dead = _SERVERS.pop(key, None)
        if dead is not None:
            dead.stop()
        return None


def serve_forks(control: socket.socket, reader, fds_per_request: int, child) -> int:
    """A fork server's loop, after its warm-up: for each request on ``control`` (a JSON object with
    ``fds_per_request`` descriptors) fork a child that runs ``child(request, fds)`` and exits with its code,
    and answer the child's pid (``0 why`` for a malformed request). Ends when the socket closes (the
    grader is gone). Children are reaped by the kernel (``SIGCHLD`` ignored here, default in them)."""
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)
    while True:
        try:
            message, fds, _flags, _address = socket.recv_fds(control, 1 << 16, fds_per_request)
        except OSError:
            return 0
        if not message:
            return 0
        try:
            request = json.loads(message)
            if len(fds) != fds_per_request or not isinstance(request, dict):
                raise ValueError(f"a request is a JSON object with {fds_per_request} descriptor(s)")
        except ValueError as error:
            for fd in fds:
                os.close(fd)
            control.sendall(f"0 {error}".replace("\n", " ").encode() + b"\n")
            continue
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                signal.signal(signal.SIGCHLD, signal.SIG_DFL)
                reader.close()
                os.close(control.detach())  # a child has no business with the server's requests
                code = child(request, fds)
            except SystemExit as done:
                code = done.code if isinstance(done.code, int) else 0
            finally:
                with contextlib.suppress(Exception):
                    sys.stderr.flush()
                os._exit(code)
        for fd in fds:
            os.close(fd)
        control.sendall(f"{pid}\n".encode())


def stop_servers() -> None:
    """End this process's fork servers (their checkers, in sessions of their own, are the grader's to end)."""
    while _SERVERS:  # no lock: this also runs at exit, when another thread may hold it for good
        _SERVERS.popitem()[1].stop()


atexit.register(stop_servers)
