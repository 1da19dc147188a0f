"""HTTP exchanges bounded by one deadline: connecting, sending, the headers and the whole body.

urllib's ``timeout`` bounds each socket operation, not the exchange: a server that sends a byte
of its answer every few seconds keeps a caller waiting for ever. So the exchange runs in a
daemon thread and the caller waits for it at most ``timeout`` seconds. An abandoned exchange
stops reading the body at its next read, or once its socket has been idle for ``timeout``, and
closes its socket. (A server that trickles header lines keeps the abandoned thread, never the
caller, until it stops: urllib's header parsing cannot be interrupted from outside.)
"""

from __future__ import annotations

import errno
import http.client
import socket
import ssl
import threading
import urllib.error
import urllib.request
from dataclasses import dataclass
from email.message import Message
from typing import Dict, List, Optional

_CHUNK = 64 * 1024


class DeadlineExceeded(Exception):
    """The exchange did not finish within its timeout."""


class TransportError(Exception):
    """The exchange failed below HTTP: refused, reset, DNS, TLS, a malformed answer."""


@dataclass(frozen=True)
class Response:
    status: int
    #: Header names in lower case.
    headers: Dict[str, str]
    body: bytes


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """An API answer is never a redirect; following one would carry the bearer token elsewhere."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):  # type: ignore[no-untyped-def]
        return None


class Transport:
    def __init__(self, ssl_context: Optional[ssl.SSLContext] = None) -> None:
        # The default context verifies certificates and host names; proxies come from the
        # environment (http_proxy, https_proxy, no_proxy) as with any urllib client.
        context = ssl_context if ssl_context is not None else ssl.create_default_context()
        self._opener = urllib.request.build_opener(_NoRedirect(), urllib.request.HTTPSHandler(context=context))

    def request(self, method: str, url: str, headers: Dict[str, str], body: Optional[bytes], timeout: float) -> Response:
        """Raises DeadlineExceeded, TransportError, or what building the request raised (a bug)."""
        exchange = _Exchange(self._opener, urllib.request.Request(url, data=body, headers=headers, method=method), timeout)
        worker = threading.Thread(target=exchange.run, name="postier-http", daemon=True)
        worker.start()
        worker.join(timeout)
        if worker.is_alive():
            exchange.abandoned.set()
            raise DeadlineExceeded()
        return exchange.outcome()


class _Exchange:
    def __init__(self, opener: urllib.request.OpenerDirector, request: urllib.request.Request, timeout: float) -> None:
        self._opener = opener
        self._request = request
        self._timeout = timeout
        self.abandoned = threading.Event()
        self._response: Optional[Response] = None
        self._error: Optional[BaseException] = None

    def run(self) -> None:
        try:
            self._response = self._exchange()
        except BaseException as e:  # handed to the waiting thread, which decides
            self._error = e

    def outcome(self) -> Response:
        if self._error is not None:
            raise _classify(self._error)
        assert self._response is not None
        return self._response

    def _exchange(self) -> Response:
        try:
            answer = self._opener.open(self._request, timeout=self._timeout)
        except urllib.error.HTTPError as e:
            # A 3xx, 4xx or 5xx: its body holds the API's error, when there is one.
            if e.fp is None:
                return Response(status=e.code, headers=_lower(e.headers), body=b"")
            answer = e
        with answer:
            chunks: List[bytes] = []
            # read1 does one socket read at most, so an abandoned exchange notices soon.
            while not self.abandoned.is_set():
                chunk = answer.read1(_CHUNK)
                if not chunk:
                    break
                chunks.append(chunk)
            # read1 answers b"" when the server closes early, leaving the rest of Content-Length
            # unread without raising: a cut answer whose part parses would pass for a whole one.
            missing = getattr(answer, "length", None)
            if not self.abandoned.is_set() and isinstance(missing, int) and missing > 0:
                raise http.client.IncompleteRead(b"".join(chunks), missing)
            status = answer.status if answer.status is not None else 0
            return Response(status=status, headers=_lower(answer.headers), body=b"".join(chunks))


def _lower(headers: Optional[Message]) -> Dict[str, str]:
    return {k.lower(): v for k, v in headers.items()} if headers is not None else {}


def _classify(e: BaseException) -> BaseException:
    cause = e.reason if isinstance(e, urllib.error.URLError) and isinstance(e.reason, BaseException) else e
    # socket.timeout is TimeoutError from Python 3.10 on, its own OSError subclass before.
    if isinstance(cause, (socket.timeout, TimeoutError)):
        return DeadlineExceeded()
    if isinstance(e, (OSError, http.client.HTTPException)):
        return TransportError(_describe(cause))
    return e


def _describe(e: BaseException) -> str:
    """ECONNREFUSED (Connection refused), as the TypeScript client reports a cause's code."""
    errno_ = getattr(e, "errno", None)
    if isinstance(e, OSError) and not isinstance(e, ssl.SSLError) and isinstance(errno_, int) and errno_ in errno.errorcode:
        return f"{errno.errorcode[errno_]} ({e.strerror or e})"
    return str(e) or type(e).__name__
