"""An HTTP proxy in front of a test S3 server that can hold one request and tell the test.

Each client (a Celery worker, say) talks S3 through its own listener (:meth:`S3Proxy.listen`,
its ``PIPELINES_S3_ENDPOINT``), so the proxy knows whose request it sees without any hook in
the code under test. Every request is forwarded whole to the upstream server and its answer
relayed, except one that matches an armed :class:`Hold` (a listener, a method and a path
pattern): that request, body read but not forwarded, waits until the test calls
:meth:`Hold.drop` (the connection is closed: the write never reaches the store) or
:meth:`Hold.forward`. Meanwhile the test sees exactly the state "everything before this
request was written, this one was not", for example a partition's data objects on the store
but not its manifest (the commit), and can kill the client.

Every request seen is recorded (:attr:`S3Proxy.log`: listener, method, path, status).
"""

from __future__ import annotations

import http.client
import re
import socket
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote, urlsplit

# Headers that describe one hop's framing, not the request: rewritten when forwarding.
_HOP = {"connection", "keep-alive", "transfer-encoding", "expect", "content-length", "te"}


@dataclass
class Seen:
    listener: str
    method: str
    path: str  # as sent (percent-encoded)
    status: int | None = None  # None: held and dropped, or the connection failed
    body: bytes = field(default=b"", repr=False)


@dataclass
class Hold:
    """An armed rule: the first request on ``listener`` whose method is ``method`` and whose
    path (without the query) matches ``pattern`` is held."""

    listener: str
    method: str
    pattern: re.Pattern[str]
    when: Callable[[Seen], bool] | None = None
    """And this says yes (e.g. a write that changes the store); asked outside the proxy's
    lock, so it may read the store or :meth:`S3Proxy.requests` (what came before)."""
    held: Seen | None = None
    _caught: threading.Event = field(default_factory=threading.Event)
    _released: threading.Event = field(default_factory=threading.Event)
    _forward: bool = False

    def matches(self, listener: str, method: str, path: str) -> bool:
        return (
            self.held is None
            and listener == self.listener
            and method == self.method
            and self.pattern.search(unquote(urlsplit(path).path)) is not None
        )

    def wait(self, timeout: float) -> Seen:
        """The held request, once one is held (AssertionError after ``timeout`` seconds)."""
        if not self._caught.wait(timeout):
            raise AssertionError(
                f"no {self.method} matching {self.pattern.pattern} on {self.listener} "
                f"in {timeout:.0f} s"
            )
        assert self.held is not None
        return self.held

    @property
    def caught(self) -> bool:
        return self._caught.is_set()

    def drop(self) -> None:
        """Close the held connection without forwarding the request."""
        self._released.set()

    def forward(self) -> None:
        """Let the held request through."""
        self._forward = True
        self._released.set()


class S3Proxy:
    def __init__(self, upstream: str, release_after: float = 3600.0):
        self.upstream = urlsplit(upstream)
        self.release_after = release_after  # a forgotten hold is dropped after this
        self.log: list[Seen] = []
        self._holds: list[Hold] = []
        self._lock = threading.Lock()
        self._servers: list[ThreadingHTTPServer] = []

    def listen(self, name: str) -> str:
        """A new listener called ``name`` on a free localhost port; its endpoint URL."""
        proxy = self

        class Handler(_Handler):
            listener = name
            owner = proxy

        server = _Server(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
        self._servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}"

    def hold(
        self,
        listener: str,
        method: str,
        pattern: str,
        when: Callable[[Seen], bool] | None = None,
    ) -> Hold:
        """Arm a rule: hold the first matching request (``when(request)`` true, if given)."""
        rule = Hold(listener, method, re.compile(pattern), when)
        with self._lock:
            self._holds.append(rule)
        return rule

    def requests(self, listener: str | None = None, method: str | None = None) -> list[Seen]:
        with self._lock:
            return [
                s
                for s in self.log
                if (listener is None or s.listener == listener)
                and (method is None or s.method == method)
            ]

    def _claim(self, seen: Seen) -> Hold | None:
        with self._lock:
            self.log.append(seen)
            rules = [r for r in self._holds if r.matches(seen.listener, seen.method, seen.path)]
        for rule in rules:
            # asked outside the lock: ``when`` may read the store or this proxy's log
            if rule.when is not None and not rule.when(seen):
                continue
            with self._lock:
                if rule.held is None:  # the first matching request only
                    rule.held = seen
                    rule._caught.set()
                    return rule
        return None

    def close(self) -> None:
        with self._lock:
            for rule in self._holds:
                rule._released.set()
        for server in self._servers:
            server.shutdown()
            server.server_close()


@contextmanager
def s3_proxy(upstream: str) -> Iterator[S3Proxy]:
    proxy = S3Proxy(upstream)
    try:
        yield proxy
    finally:
        proxy.close()


class _Server(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client killed mid-request resets its connection: expected here, not reported."""
        if not isinstance(sys.exc_info()[1], OSError):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, and ``Expect: 100-continue`` answered here
    listener = ""
    owner: S3Proxy

    def log_message(self, format: str, *args: object) -> None:
        return None

    def _body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            parts = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline().strip():  # trailers
                        pass
                    return b"".join(parts)
                parts.append(self.rfile.read(size))
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _handle(self) -> None:
        body = self._body()
        seen = Seen(self.listener, self.command, self.path, body=body)
        rule = self.owner._claim(seen)
        if rule is not None:
            rule._released.wait(self.owner.release_after)
            if not rule._forward:
                self.close_connection = True
                self._abort()
                return
        try:
            status, reason, headers, data = self._upstream(body)
        except OSError:
            self.close_connection = True
            self._abort()
            return
        seen.status = status
        self.send_response_only(status, reason)
        for name, value in headers:
            if name.lower() not in _HOP:
                self.send_header(name, value)
        if self.command == "HEAD":  # the object's size, no body
            length = dict((k.lower(), v) for k, v in headers).get("content-length")
            if length is not None:
                self.send_header("Content-Length", length)
        else:
            self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _abort(self) -> None:
        with suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    def _upstream(self, body: bytes) -> tuple[int, str, list[tuple[str, str]], bytes]:
        up = self.owner.upstream
        conn = http.client.HTTPConnection(up.hostname or "127.0.0.1", up.port, timeout=600)
        try:
            conn.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
            for name, value in self.headers.items():
                if name.lower() not in _HOP:
                    conn.putheader(name, value)
            if body or self.command in ("PUT", "POST"):
                conn.putheader("Content-Length", str(len(body)))
            conn.endheaders(body or None)
            resp = conn.getresponse()
            data = resp.read()
            return resp.status, resp.reason, resp.getheaders(), data
        finally:
            conn.close()

    do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = _handle
