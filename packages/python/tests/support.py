"""What the tests share: the running Postier they are given, and loopback servers that misbehave.

The Postier comes from the environment (test/python-client.test.ts starts one and sets these):
POSTIER_URL, POSTIER_SEND_TOKEN (a `send` key), POSTIER_ADMIN_TOKEN, and optionally
POSTIER_TEST_REPORT, a file where the ids of the messages sent are written for the caller to
check in the archive.
"""

from __future__ import annotations

import json
import os
import socket
import ssl
import subprocess
import tempfile
import threading
import time
import unittest
import uuid
from typing import Callable, Dict, Iterable, List, Optional, Tuple

URL = os.environ.get("POSTIER_URL", "")
SEND_TOKEN = os.environ.get("POSTIER_SEND_TOKEN", "")
ADMIN_TOKEN = os.environ.get("POSTIER_ADMIN_TOKEN", "")

requires_postier = unittest.skipUnless(
    URL and SEND_TOKEN and ADMIN_TOKEN, "needs a running Postier: set POSTIER_URL, POSTIER_SEND_TOKEN and POSTIER_ADMIN_TOKEN"
)

_report_lock = threading.Lock()


def report_sent(ids: Iterable[str]) -> None:
    """Tells the caller which messages this run created, so it can find them in the archive."""
    path = os.environ.get("POSTIER_TEST_REPORT")
    if not path:
        return
    with _report_lock, open(path, "a", encoding="utf-8") as f:
        for i in ids:
            f.write(json.dumps({"id": i}) + "\n")


def unique_address(label: str) -> str:
    """A recipient no other test or run uses, so the archive can be filtered on it."""
    return f"{label}-{uuid.uuid4().hex[:12]}@python-client.test"


def http_worker_threads() -> List[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "postier-http" and t.is_alive()]


def wait_until(predicate: Callable[[], bool], within: float) -> bool:
    end = time.monotonic() + within
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


def closed_port_url() -> str:
    """A loopback URL nobody listens on: Postier stopped."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


Request = Tuple[str, Dict[str, str], bytes]


def read_request(conn: socket.socket) -> Optional[Request]:
    """One HTTP/1.1 request: its request line, headers (lower-case names) and body."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return None
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    length = int(headers.get("content-length", "0"))
    while len(body) < length:
        chunk = conn.recv(65536)
        if not chunk:
            break
        body += chunk
    return lines[0], headers, body


Script = Callable[[socket.socket, threading.Event, "ScriptedServer"], None]


class ScriptedServer:
    """A real loopback TCP server playing ``script`` on every connection: Postier misbehaving."""

    def __init__(self, script: Script, tls: Optional[ssl.SSLContext] = None) -> None:
        self.requests: List[Request] = []
        self._script = script
        self._tls = tls
        self._stop = threading.Event()
        self._conns: List[socket.socket] = []
        self._threads: List[threading.Thread] = []
        self._listener = socket.socket()
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(16)
        self.port = self._listener.getsockname()[1]
        self.url = f"{'https' if tls else 'http'}://127.0.0.1:{self.port}"
        self._spawn(self._accept)

    def __enter__(self) -> "ScriptedServer":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _spawn(self, target: Callable[..., None], *args: object) -> None:
        t = threading.Thread(target=target, args=args, daemon=True, name="scripted-server")
        self._threads.append(t)
        t.start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            self._conns.append(conn)
            self._spawn(self._serve, conn)

    def _serve(self, conn: socket.socket) -> None:
        try:
            if self._tls is not None:
                conn = self._tls.wrap_socket(conn, server_side=True)
                self._conns.append(conn)
            self._script(conn, self._stop, self)
        except OSError:
            pass  # the client gave up or the test closed the server: both expected here

    def close(self) -> None:
        self._stop.set()
        for c in [self._listener, *self._conns]:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            c.close()  # shutdown first: on Linux, close alone does not wake a blocked accept or recv
        for t in self._threads:
            t.join(5)


def silent(conn: socket.socket, stop: threading.Event, server: ScriptedServer) -> None:
    """Accepts and never answers."""
    stop.wait(60)


def headers_then_stall(conn: socket.socket, stop: threading.Event, server: ScriptedServer) -> None:
    """Answers the status line and headers, one byte of the body, then nothing."""
    read_request(conn)
    conn.sendall(b"HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{")
    stop.wait(60)


def drip_body(conn: socket.socket, stop: threading.Event, server: ScriptedServer) -> None:
    """Sends the body a byte every 0.1 s: no socket read ever waits long, the answer never ends."""
    read_request(conn)
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n")
    while not stop.wait(0.1):
        conn.sendall(b" ")


def drip_headers(conn: socket.socket, stop: threading.Event, server: ScriptedServer) -> None:
    """Sends a header line every 0.1 s."""
    read_request(conn)
    conn.sendall(b"HTTP/1.1 200 OK\r\n")
    n = 0
    while not stop.wait(0.1) and n < 90:
        conn.sendall(f"X-Slow-{n}: yes\r\n".encode())
        n += 1
    stop.wait(60)


def answer(status: int, body: bytes, headers: Optional[Dict[str, str]] = None) -> Script:
    """Records the request and answers it once."""

    def script(conn: socket.socket, stop: threading.Event, server: ScriptedServer) -> None:
        req = read_request(conn)
        if req is None:
            return
        server.requests.append(req)
        extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
        conn.sendall(f"HTTP/1.1 {status} X\r\n{extra}Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode() + body)

    return script


def forward_to(upstream_port: int) -> Script:
    """Pipes the connection to a local port both ways: a TLS front for a plain HTTP Postier."""

    def script(conn: socket.socket, stop: threading.Event, server: ScriptedServer) -> None:
        up = socket.create_connection(("127.0.0.1", upstream_port))

        def pump(src: socket.socket, dst: socket.socket) -> None:
            try:
                while True:
                    chunk = src.recv(65536)
                    if not chunk:
                        break
                    dst.sendall(chunk)
            except OSError:
                pass
            finally:
                for s in (src, dst):
                    try:
                        s.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass

        back = threading.Thread(target=pump, args=(up, conn), daemon=True)
        back.start()
        pump(conn, up)
        back.join(5)
        up.close()

    return script


class SelfSignedCertificate:
    """A certificate for 127.0.0.1 made with openssl (as test/support/certificate.ts does)."""

    def __init__(self) -> None:
        self._dir = tempfile.TemporaryDirectory(prefix="postier-python-cert-")
        self.key = os.path.join(self._dir.name, "key.pem")
        self.cert = os.path.join(self._dir.name, "cert.pem")
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", self.key, "-out", self.cert,
             "-days", "2", "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def server_context(self) -> ssl.SSLContext:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(self.cert, self.key)
        return ctx

    def close(self) -> None:
        self._dir.cleanup()


def pdf_bytes() -> bytes:
    """A small but real PDF (header, one empty page, xref, trailer): Postier checks magic bytes."""
    objects = [
        "1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj",
        "2 0 obj << /Type /Pages /Kids [3 0 R] /Count 1 >> endobj",
        "3 0 obj << /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] >> endobj",
    ]
    body = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n"
    offsets = []
    for o in objects:
        offsets.append(len(body))
        body += o.encode("latin-1") + b"\n"
    xref = len(body)
    body += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode() + b"".join(f"{o:010d} 00000 n \n".encode() for o in offsets)
    body += f"trailer << /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return body


def invoice_variables() -> Dict[str, object]:
    return {
        "reseller_name": "Tech Connect SA",
        "month": "février",
        "year": "2026",
        "amount_fcfa": "450000",
        "link_portal": "https://admin-rgz.duckdns.org/invoices/latest",
        "invoice_number": "INV-2026-0001",
    }
