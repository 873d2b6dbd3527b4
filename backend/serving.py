"""`python -m backend serve`: the backend behind gunicorn, each request and connection bounded.

gunicorn's threaded worker (gthread) runs the application on `THREADS` threads per process, with
three bounds of its own (`BoundedThreadWorker`):

- A request has `REQUEST_TIMEOUT` seconds, from the moment a thread takes up its connection, to
  arrive whole: request line, headers and the body the application reads. Past that, reads on
  the connection see its end, so a client that stalls half-way holds a thread that long at most
  (a body cut short is answered 408, headers cut short close the connection). A connection with
  nothing to read waits in gunicorn's poller, without a thread, for its keep-alive time.
- Each write of an answer waits at most `REQUEST_TIMEOUT`.
- A process holds at most `MAX_CONNECTIONS` connections, lowered so that they and the files the
  backend opens fit the open-file limit (raised to its hard limit first); more connections wait
  in the kernel's listen queue, instead of failing accept() and whatever else needs a file.

An embedded chain lives in its process, so that server runs one process, and stops if it
stops rather than start a new, empty chain. In front of a node, `WORKERS` processes share the
port and the keeper runs in one of them (another takes over if that one stops).

This keeps a crowd of stalled clients from stopping the server: each holds a thread for at most
`REQUEST_TIMEOUT` and a connection until then, so the others are answered at the latest once
the stalled requests in front of them have timed out. For the open internet put a buffering
reverse proxy (nginx, a cloud load balancer) in front, which holds slow clients instead.
"""

from __future__ import annotations

import errno
import multiprocessing
import os
import resource
import time
from collections.abc import Callable
from typing import Any

from flask import Flask
from gunicorn.app.base import BaseApplication
from gunicorn.errors import HaltServer
from gunicorn.workers.gthread import TConn, ThreadWorker

from backend import create_app
from backend.config import ConfigError

# Files a server process keeps for itself beyond its client connections: the node's connection
# pool, the keeper's database, logs, gunicorn's pipes and heartbeat file.
FILES_KEPT_FREE = 64
# Seconds a stopping server gives the requests in progress.
GRACEFUL_SECONDS = 5
# Seconds a request whose deadline passed while it waited for a thread still gets to be read:
# enough for one that has arrived whole, too little for a crowd of stalled ones to hold the
# threads while the requests behind them wait.
PICKUP_GRACE = 0.1


class _RequestSocket:
    """A client socket whose reads end at the current request's deadline, and whose writes
    wait `timeout` seconds at most. The rest is the socket's own.

    A read past the deadline sees the end of the stream, as if the client had gone, and marks
    the request `timed_out`, so that the connection is closed after the answer instead of
    being kept for another request with part of this one still on the way.
    """

    def __init__(self, sock: Any, timeout: float) -> None:
        self._sock = sock
        self._timeout = timeout
        self.deadline = time.monotonic()
        self.timed_out = False

    def start_request(self) -> None:
        self.deadline = time.monotonic() + self._timeout
        self.timed_out = False

    def taken_up(self) -> None:
        self.deadline = max(self.deadline, time.monotonic() + PICKUP_GRACE)

    def remaining(self) -> float:
        return max(0.0, self.deadline - time.monotonic())

    def recv(self, size: int, *flags: int) -> bytes:
        remaining = self.remaining()
        if remaining > 0:
            self._sock.settimeout(remaining)
            try:
                return self._sock.recv(size, *flags)
            except TimeoutError:
                pass
        self.timed_out = True
        return b""

    def sendall(self, data: bytes) -> None:
        self._sock.settimeout(self._timeout)
        self._sock.sendall(data)

    def sendfile(self, *args: Any, **kwargs: Any) -> int:
        self._sock.settimeout(self._timeout)
        return self._sock.sendfile(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


class _BoundedConn(TConn):
    def wait_for_data(self, timeout: float) -> bool:
        # A connection with nothing to say goes back to the poller by its request's deadline.
        return super().wait_for_data(min(timeout, self.sock.remaining()))


class BoundedThreadWorker(ThreadWorker):
    """gthread, with a deadline for each request to arrive and a timeout for each write (both
    `REQUEST_TIMEOUT` of the application it serves)."""

    def accept(self, listener: Any) -> None:
        try:
            client, address = listener.accept()
        except OSError as error:
            if error.errno not in (errno.EAGAIN, errno.ECONNABORTED, errno.EWOULDBLOCK):
                raise
            return
        self.nr_conns += 1
        client.setblocking(True)
        request_socket = _RequestSocket(client, self.wsgi.config["REQUEST_TIMEOUT"])
        self.enqueue_req(_BoundedConn(self.cfg, request_socket, address, listener.getsockname()))

    def enqueue_req(self, conn: TConn) -> None:
        conn.sock.start_request()
        super().enqueue_req(conn)

    def handle(self, conn: TConn) -> Any:
        conn.sock.taken_up()
        return super().handle(conn)

    def _keepalive_after(self, conn: TConn, keepalive: bool) -> bool:
        # gunicorn reads what is left of the body first, within the request's deadline.
        return super()._keepalive_after(conn, keepalive) and not conn.sock.timed_out


def connection_cap(wanted: int) -> int:
    """`wanted`, or fewer if the open-file limit (raised toward its hard limit first) cannot
    hold that many connections beside `FILES_KEPT_FREE` files."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    needed = wanted + FILES_KEPT_FREE
    if soft < needed:
        soft = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    if soft <= FILES_KEPT_FREE:
        raise ConfigError(f"the open-file limit ({soft}) leaves no room for connections: raise it (ulimit -n)")
    return min(wanted, soft - FILES_KEPT_FREE)


class BackendServer(BaseApplication):
    """The application of `create_app(overrides)` under `BoundedThreadWorker` on host:port.

    `on_ready(app, (host, port))` runs in each server process once its application is built and
    its socket bound, before it answers.
    """

    def __init__(
        self,
        overrides: dict[str, Any],
        settings: dict[str, Any],
        host: str,
        port: int,
        on_ready: Callable[[Flask, tuple[str, int]], None],
    ) -> None:
        self._overrides = overrides
        self._settings = settings
        self._address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        self._on_ready = on_ready
        self._embedded = settings["CHAIN"] == "embedded"
        self._keeper_pid = multiprocessing.Value("i", 0)  # the process running the keeper
        super().__init__()

    def load_config(self) -> None:
        settings = self._settings
        gunicorn_settings = {
            "bind": [self._address],
            "workers": 1 if self._embedded else settings["WORKERS"],
            "worker_class": BoundedThreadWorker,
            "threads": settings["THREADS"],
            "worker_connections": connection_cap(settings["MAX_CONNECTIONS"]),
            "graceful_timeout": GRACEFUL_SECONDS,
            "control_socket_disable": True,  # no gunicorn admin socket beside the HTTP one
            "post_worker_init": self._worker_ready,
            "child_exit": self._worker_stopped,
        }
        for name, value in gunicorn_settings.items():
            self.cfg.set(name, value)

    def load(self) -> Flask:
        """The application, built in each server process (the embedded chain with it)."""
        overrides = dict(self._overrides)
        with self._keeper_pid.get_lock():
            if self._keeper_pid.value == 0:
                self._keeper_pid.value = os.getpid()
            else:
                overrides["KEEPER"] = False
        return create_app(overrides)

    def _worker_ready(self, worker: Any) -> None:
        self._on_ready(worker.wsgi, worker.sockets[0].getsockname()[:2])

    def _worker_stopped(self, server: Any, worker: Any) -> None:
        with self._keeper_pid.get_lock():
            if self._keeper_pid.value == worker.pid:
                self._keeper_pid.value = 0
        if self._embedded and server.LISTENERS:  # not while the server is stopping anyway
            raise HaltServer("the process holding the embedded chain stopped; the chain is gone", 1)
