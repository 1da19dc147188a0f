"""Postier stopped, hanging, or answering into the void: real loopback sockets."""

from __future__ import annotations

import socket
import threading
from typing import List


def closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


class _Server:
    def __init__(self) -> None:
        self._stop = threading.Event()
        self._socks: List[socket.socket] = []
        self._threads: List[threading.Thread] = []
        self._listener = socket.socket()
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(16)
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        self._start(self._accept)

    def __enter__(self) -> "_Server":
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for s in [self._listener, *self._socks]:
            try:
                s.shutdown(socket.SHUT_RDWR)  # wakes a blocked accept or recv, which close alone does not
            except OSError:
                pass
            s.close()
        for t in self._threads:
            t.join(5)

    def _start(self, target, *args) -> None:  # type: ignore[no-untyped-def]
        t = threading.Thread(target=target, args=args, daemon=True)
        self._threads.append(t)
        t.start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            self._socks.append(conn)
            self._start(self._serve, conn)

    def _serve(self, conn: socket.socket) -> None:
        self._stop.wait(60)


class SilentServer(_Server):
    """Accepts connections and never answers: Postier hanging."""


class AnswerLost(_Server):
    """Passes each request on to Postier and drops its answer: the mail is accepted, yet the
    caller times out, as when a network path dies after the request went through."""

    def __init__(self, upstream_port: int) -> None:
        self._upstream_port = upstream_port
        super().__init__()

    def _serve(self, conn: socket.socket) -> None:
        try:
            up = socket.create_connection(("127.0.0.1", self._upstream_port))
        except OSError:
            return
        self._socks.append(up)
        self._start(self._drain, up)
        try:
            while not self._stop.is_set():
                chunk = conn.recv(65536)
                if not chunk:
                    return
                up.sendall(chunk)
        except OSError:
            return

    def _drain(self, up: socket.socket) -> None:
        try:
            while up.recv(65536):
                pass
        except OSError:
            pass
