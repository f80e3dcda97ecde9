"""The dbt child process of :func:`pipelines.warehouse.dbt.run_dbt`, started in one of two ways.

- **Forked** (POSIX): the first dbt call of a process starts a small server
  (``python -m pipelines.warehouse.dbt_child``) that imports dbt and dbt-duckdb once and then
  forks one child per dbt invocation. Importing dbt costs 1.5-2.5 CPU seconds per child on
  the project machines; a process that runs dbt several times (the demo's seven days in one
  Airflow process, ``pipelines run`` over a range, a test session) pays it once. The server
  never runs dbt itself, holds no warehouse, gets the caller's environment without the key
  ring variables, waits for its children, and ends when the process that started it ends
  (which waits for it at exit, so dbt's CPU time is counted as an executed child's is).
- **Executed** (``python -m dbt.cli.main``): when the server cannot be reached.

Either way dbt runs in a process of its own, as :mod:`pipelines.warehouse.dbt` requires, with
exactly the environment given, in the folder given, its standard output and error on one pipe
the caller reads line by line; when it exits, dbt-duckdb's exit handler has closed the
warehouse and the operating system releases the file. The exit code is dbt's.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import selectors
import signal
import socket
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO, Protocol, TypedDict

PRELOAD = (
    "dbt.cli.main",
    "dbt.adapters.duckdb",
    "dbt.parser.manifest",
    "dbt.task.build",
    "dbt.task.docs.generate",
)
"""What the server imports once (a module that does not exist is skipped)."""
SECRET_ENV = ("PIPELINES_KEYS", "PIPELINES_KEY_FILE")
_HEADER = 16  # bytes: the request's length, sent with the output pipe's descriptor


class _Request(TypedDict):
    args: list[str]
    env: dict[str, str]
    cwd: str


class DbtChild(Protocol):
    """A started dbt child: its output lines, ``kill()`` and ``wait()`` (the exit code)."""

    def __iter__(self) -> Iterator[str]: ...

    def kill(self) -> None: ...

    def wait(self) -> int: ...

    def close(self) -> None: ...


class _Executed:
    """``python -m dbt.cli.main <args>``."""

    def __init__(self, args: Sequence[str], env: Mapping[str, str], cwd: Path):
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "dbt.cli.main", *args],
            cwd=cwd,
            env=dict(env),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            encoding="utf-8",
            errors="replace",
        )

    def __iter__(self) -> Iterator[str]:
        assert self._proc.stdout is not None
        return iter(self._proc.stdout)

    def kill(self) -> None:
        self._proc.kill()

    def wait(self) -> int:
        return self._proc.wait()

    def close(self) -> None:
        self._proc.__exit__(None, None, None)


class _Server:
    """The forking server of this process (see the module docstring)."""

    def __init__(self) -> None:
        self.owner = os.getpid()
        self.path = str(Path(tempfile.mkdtemp(prefix="pipelines-dbt-")) / "server")
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as listener:
            listener.bind(self.path)
            listener.listen(64)
            self.proc = subprocess.Popen(
                [sys.executable, "-m", __name__, str(listener.fileno())],
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                pass_fds=[listener.fileno()],
                env={k: v for k, v in os.environ.items() if k not in SECRET_ENV},
            )

        atexit.register(self.stop)

    def alive(self) -> bool:
        return self.owner == os.getpid() and self.proc.poll() is None

    def stop(self) -> None:
        """Close the server's input and wait for it (its children's CPU time then counts in
        this process's, as an executed child's does)."""
        if self.owner != os.getpid():
            return
        with contextlib.suppress(OSError):
            self.proc.stdin.close()  # type: ignore[union-attr]
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


_SERVER: _Server | None = None
_LOCK = threading.Lock()


def _server() -> _Server:
    global _SERVER
    with _LOCK:
        if _SERVER is None or not _SERVER.alive():
            _SERVER = _Server()
        return _SERVER


def stop_server() -> None:
    """Stop this process's server, if it started one, and wait for it: from then on its dbt
    children's CPU time and peak memory count in ``getrusage(RUSAGE_CHILDREN)`` (benchmarks
    read it before the process exits). The next dbt call starts a new server."""
    global _SERVER
    with _LOCK:
        if _SERVER is not None:
            _SERVER.stop()
            _SERVER = None


class _Forked:
    """A dbt child forked by the server."""

    def __init__(self, args: Sequence[str], env: Mapping[str, str], cwd: Path):
        self._conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        read, write = os.pipe()
        try:
            self._conn.connect(_server().path)
            body = json.dumps({"args": list(args), "env": dict(env), "cwd": str(cwd)}).encode()
            socket.send_fds(self._conn, [b"%*d" % (_HEADER, len(body))], [write])
            self._conn.sendall(body)
            self._replies = self._conn.makefile("r", encoding="ascii")
            self.pid = int(self._replies.readline())  # ValueError: the server went away
        except BaseException:
            os.close(read)
            self._conn.close()
            raise
        finally:
            os.close(write)
        self._out: IO[str] = open(read, encoding="utf-8", errors="replace")  # noqa: SIM115

    def __iter__(self) -> Iterator[str]:
        return iter(self._out)

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGKILL)

    def wait(self) -> int:
        code = self._replies.readline().strip()
        return int(code) if code else 1  # no code: the child was killed

    def close(self) -> None:
        self._out.close()
        self._replies.close()
        self._conn.close()


@contextlib.contextmanager
def start(args: Sequence[str], env: Mapping[str, str], cwd: Path) -> Iterator[DbtChild]:
    """``dbt <args>`` in a child process (forked by the server when it can be reached)."""
    child: DbtChild
    try:
        child = _Forked(args, env, cwd) if os.name == "posix" else _Executed(args, env, cwd)
    except (OSError, ValueError):
        child = _Executed(args, env, cwd)
    try:
        yield child
    finally:
        child.close()


# ---- the server process -------------------------------------------------------------------


def _receive(conn: socket.socket) -> tuple[_Request, int]:
    header, fds, _, _ = socket.recv_fds(conn, _HEADER, 1)
    while len(header) < _HEADER:
        header += conn.recv(_HEADER - len(header))
    size, body = int(header), b""
    while len(body) < size:
        chunk = conn.recv(size - len(body))
        if not chunk:
            raise EOFError("the request ended early")
        body += chunk
    request: _Request = json.loads(body)
    return request, fds[0]


def _run_dbt(request: _Request, out: int) -> int:
    """In the forked child: dbt's own entry point, as ``python -m dbt.cli.main`` runs it."""
    import warnings

    os.dup2(out, 1)
    os.dup2(out, 2)
    os.close(out)
    sys.stdout = sys.stderr = open(  # noqa: SIM115 (the child's standard streams)
        1, "w", buffering=1, encoding="utf-8", errors="replace", closefd=False
    )
    os.environ.clear()
    os.environ.update(request["env"])
    os.chdir(request["cwd"])
    warnings.simplefilter("ignore")  # as PYTHONWARNINGS=ignore does for an executed child
    args = request["args"]
    sys.argv = ["dbt", *args]
    code = 1
    try:
        from dbt.cli.main import cli

        cli(args=args, prog_name="dbt")
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException:
        import traceback

        traceback.print_exc()
    finally:
        atexit._run_exitfuncs()  # dbt-duckdb closes its connections at exit
        sys.stdout.flush()
    return code


def _child(conn: socket.socket) -> None:
    signal.signal(signal.SIGINT, signal.default_int_handler)
    code = 1
    try:
        request, out = _receive(conn)
        conn.sendall(f"{os.getpid()}\n".encode())
        code = _run_dbt(request, out)
        conn.sendall(f"{code}\n".encode())
    finally:
        os._exit(code)


def _reap(block: bool = False) -> None:
    """Wait for ended children (so their CPU time counts in the server's)."""
    while True:
        try:
            pid, _ = os.waitpid(-1, 0 if block else os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def serve(listener_fd: int) -> None:
    """Import dbt, then fork a child per connection until standard input closes."""
    import importlib

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the caller's Ctrl-C is for its dbt child
    for name in PRELOAD:
        with contextlib.suppress(ImportError):
            importlib.import_module(name)
    listener = socket.socket(fileno=listener_fd)
    selector = selectors.DefaultSelector()
    selector.register(listener, selectors.EVENT_READ)
    selector.register(0, selectors.EVENT_READ)
    while True:
        for key, _ in selector.select(timeout=1.0):
            if key.fileobj == 0:
                if not os.read(0, 4096):
                    _reap(block=True)
                    return  # the process that started the server ended
                continue
            conn, _ = listener.accept()
            if os.fork() == 0:
                selector.close()
                listener.close()
                _child(conn)
            conn.close()
        _reap()


if __name__ == "__main__":
    serve(int(sys.argv[1]))
