"""A small typed wrapper over the HTTP API: one method per endpoint, errors as PostierError.

The client raises by default. Built with ``raise_errors=False`` (or turned so for some calls with
``with_options``), every call returns ``Ok(value)`` or ``Err(PostierError)`` instead, and waits
at most ``timeout`` seconds in all: the mode for code that must never be blocked by mail.
"""

from __future__ import annotations

import email.utils
import json
import math
import platform
import ssl
import urllib.parse
import uuid
from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Any, Dict, Generic, Iterator, Literal, Mapping, Optional, Sequence, TypeVar, Union, overload

from . import __version__
from .api_types import (
    AttachmentInput,
    BatchResult,
    HtmlCheck,
    LinkCheck,
    Message,
    MessagePage,
    MessageStatus,
    MessageSummary,
    RawSendRequest,
    SendRequest,
    SendResult,
    SpamCheck,
    Template,
    TemplateList,
)
from .errors import PostierError
from .messages import iso_datetime, raw_message, template_message
from .result import Err, Ok, Result
from .transport import DeadlineExceeded, Transport, TransportError

#: ``Postier[Literal[True]]`` raises; ``Postier[Literal[False]]`` returns results.
RaiseErrors = TypeVar("RaiseErrors", bound=bool)
T = TypeVar("T")

_USER_AGENT = f"postier-python/{__version__} Python/{platform.python_version()}"


class Postier(Generic[RaiseErrors]):
    """``Postier("https://mail.example.com", token)``: ``send`` needs a key with the ``send``
    scope, reading the archive (``get_message``, ``list_messages``) an ``admin`` key."""

    @overload
    def __init__(
        self: Postier[Literal[True]],
        base_url: str,
        token: str,
        *,
        timeout: float = 10.0,
        raise_errors: Literal[True] = True,
        ssl_context: Optional[ssl.SSLContext] = None,
    ) -> None: ...
    @overload
    def __init__(
        self: Postier[Literal[False]],
        base_url: str,
        token: str,
        *,
        timeout: float = 10.0,
        raise_errors: Literal[False],
        ssl_context: Optional[ssl.SSLContext] = None,
    ) -> None: ...
    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        timeout: float = 10.0,
        raise_errors: bool = True,
        ssl_context: Optional[ssl.SSLContext] = None,
    ) -> None:
        """``base_url`` without ``/api`` (e.g. ``https://mail.example.com``); ``timeout`` in seconds
        bounds a whole call, body included; ``ssl_context`` for a private CA (certificates are
        verified by default)."""
        # Refused here, not left to each call: urllib would fail every call with a network_error
        # marked retryable (user:password@ is even looked up as a host name), retried for ever.
        if not _is_http_url(base_url):
            shown = base_url if isinstance(base_url, str) and "@" not in base_url else "(a URL with user:password@)"
            raise ValueError(f"Postier: base_url must be an http:// or https:// URL without user:password@, got {shown!r}")
        if not token or any(c.isspace() for c in token):
            raise ValueError("Postier: token is required (an API key, without spaces)")
        if not timeout > 0:
            raise ValueError(f"Postier: timeout must be a positive number of seconds, got {timeout!r}")
        self._base_url = base_url.rstrip("/")
        self._token = token
        self._timeout = float(timeout)
        self._raise_errors = raise_errors
        self._ssl_context = ssl_context
        self._transport = Transport(ssl_context)

    @property
    def timeout(self) -> float:
        return self._timeout

    @property
    def raise_errors(self) -> bool:
        return self._raise_errors

    @overload
    def with_options(self, *, timeout: Optional[float] = None, raise_errors: Literal[True]) -> Postier[Literal[True]]: ...
    @overload
    def with_options(self, *, timeout: Optional[float] = None, raise_errors: Literal[False]) -> Postier[Literal[False]]: ...
    @overload
    def with_options(self: Postier[RaiseErrors], *, timeout: Optional[float] = None) -> Postier[RaiseErrors]: ...
    def with_options(self, *, timeout: Optional[float] = None, raise_errors: Optional[bool] = None) -> Postier[Any]:
        """A client like this one with another timeout or mode, for some calls:
        ``postier.with_options(raise_errors=False, timeout=2).send(...)``."""
        seconds = self._timeout if timeout is None else timeout
        if self._raise_errors if raise_errors is None else raise_errors:
            return Postier(self._base_url, self._token, timeout=seconds, raise_errors=True, ssl_context=self._ssl_context)
        return Postier(self._base_url, self._token, timeout=seconds, raise_errors=False, ssl_context=self._ssl_context)

    # --- sending -------------------------------------------------------------------------------

    @overload
    def send(
        self: Postier[Literal[True]],
        to: Union[str, Sequence[str]],
        template_key: str,
        *,
        variables: Optional[Mapping[str, Any]] = None,
        attachments: Optional[Sequence[AttachmentInput]] = None,
        cc: Union[str, Sequence[str], None] = None,
        bcc: Union[str, Sequence[str], None] = None,
        reply_to: Optional[str] = None,
        locale: Optional[str] = None,
        template_version: Optional[int] = None,
        send_at: Union[datetime, str, None] = None,
        idempotency_key: Optional[str] = None,
        timeout: Optional[float] = None,
    ) -> SendResult: ...
    @overload
    def send(
        self: Postier[Literal[False]],
        to: Union[str, Sequence[str]],
        template_key: str,
        *,
        variables: Optional[Mapping[str, Any]] = None,
        attachments: Optional[Sequence[AttachmentInput]] = None,
        cc: Union[str, Sequence[str], None] = None,
        bcc: Union[str, Sequence[str], None] = None,
        reply_to: Optional[str] = None,
        locale: Optional[str] = None,
        template_version: Optional[int] = None,
        send_at: Union[datetime, str, None] = None,
        idempotency_key: Optional[str] = None,
        timeout: Optional[float] = None,
    ) -> Result[SendResult]: ...
    def send(
        self,
        to: Union[str, Sequence[str]],
        template_key: str,
        *,
        variables: Optional[Mapping[str, Any]] = None,
        attachments: Optional[Sequence[AttachmentInput]] = None,
        cc: Union[str, Sequence[str], None] = None,
        bcc: Union[str, Sequence[str], None] = None,
        reply_to: Optional[str] = None,
        locale: Optional[str] = None,
        template_version: Optional[int] = None,
        send_at: Union[datetime, str, None] = None,
        idempotency_key: Optional[str] = None,
        timeout: Optional[float] = None,
    ) -> Any:
        """Renders ``template_key`` with ``variables`` and queues one message per ``to`` recipient.

        ``idempotency_key`` (sent as ``Idempotency-Key``): a retry with the same key and body
        cannot send twice, it gets the first answer back. ``send_at``: an aware datetime (or ISO
        string) at most 30 days ahead. ``timeout`` overrides the client's for this call.
        """
        body = template_message(
            to,
            template_key,
            variables=variables,
            attachments=attachments,
            cc=cc,
            bcc=bcc,
            reply_to=reply_to,
            locale=locale,
            template_version=template_version,
            send_at=send_at,
        )
        return self._send_body("/api/v1/email/send", body, idempotency_key, timeout)

    @overload
    def send_raw(
        self: Postier[Literal[True]],
        to: Union[str, Sequence[str]],
        subject: str,
        *,
        html: Optional[str] = None,
        text: Optional[str] = None,
        sender: Optional[str] = None,
        attachments: Optional[Sequence[AttachmentInput]] = None,
        cc: Union[str, Sequence[str], None] = None,
        bcc: Union[str, Sequence[str], None] = None,
        reply_to: Optional[str] = None,
        send_at: Union[datetime, str, None] = None,
        category: Optional[str] = None,
        mail_class: Optional[str] = None,
        tags: Optional[Sequence[str]] = None,
        metadata: Optional[Mapping[str, Any]] = None,
        idempotency_key: Optional[str] = None,
        timeout: Optional[float] = None,
    ) -> SendResult: ...
    @overload
    def send_raw(
        self: Postier[Literal[False]],
        to: Union[str, Sequence[str]],
        subject: str,
        *,
        html: Optional[str] = None,
        text: Optional[str] = None,
        sender: Optional[str] = None,
        attachments: Optional[Sequence[AttachmentInput]] = None,
        cc: Union[str, Sequence[str], None] = None,
        bcc: Union[str, Sequence[str], None] = None,
        reply_to: Optional[str] = None,
        send_at: Union[datetime, str, None] = None,
        category: Optional[str] = None,
        mail_class: Optional[str] = None,
        tags: Optional[Sequence[str]] = None,
        metadata: Optional[Mapping[str, Any]] = None,
        idempotency_key: Optional[str] = None,
        timeout: Optional[float] = None,
    ) -> Result[SendResult]: ...
    def send_raw(
        self,
        to: Union[str, Sequence[str]],
        subject: str,
        *,
        html: Optional[str] = None,
        text: Optional[str] = None,
        sender: Optional[str] = None,
        attachments: Optional[Sequence[AttachmentInput]] = None,
        cc: Union[str, Sequence[str], None] = None,
        bcc: Union[str, Sequence[str], None] = None,
        reply_to: Optional[str] = None,
        send_at: Union[datetime, str, None] = None,
        category: Optional[str] = None,
        mail_class: Optional[str] = None,
        tags: Optional[Sequence[str]] = None,
        metadata: Optional[Mapping[str, Any]] = None,
        idempotency_key: Optional[str] = None,
        timeout: Optional[float] = None,
    ) -> Any:
        """Queues a message with its own ``subject`` and ``html`` and/or ``text``: no stored template.

        ``sender`` is the From ("Name <address>" or an address) and must be allowed for the key
        (403 ``from_not_allowed``); ``mail_class`` is ``transactional`` (default) or ``marketing``.
        """
        body = raw_message(
            to,
            subject,
            html=html,
            text=text,
            sender=sender,
            attachments=attachments,
            cc=cc,
            bcc=bcc,
            reply_to=reply_to,
            send_at=send_at,
            category=category,
            mail_class=mail_class,
            tags=tags,
            metadata=metadata,
        )
        return self._send_body("/api/v1/email/send", body, idempotency_key, timeout)

    @overload
    def send_batch(
        self: Postier[Literal[True]], messages: Sequence[Union[SendRequest, RawSendRequest]], *, timeout: Optional[float] = None
    ) -> BatchResult: ...
    @overload
    def send_batch(
        self: Postier[Literal[False]], messages: Sequence[Union[SendRequest, RawSendRequest]], *, timeout: Optional[float] = None
    ) -> Result[BatchResult]: ...
    def send_batch(self, messages: Sequence[Union[SendRequest, RawSendRequest]], *, timeout: Optional[float] = None) -> Any:
        """Up to 500 independent messages (``template_message()`` / ``raw_message()`` bodies) in one commit.

        The answer's ``items`` has one entry per message, in order: its ``items`` or its own
        ``error`` (one bad message does not sink the rest). Give each message an ``idempotency_key``
        to make retrying the whole batch safe.
        """
        return self._call("POST", "/api/v1/email/batch", body={"messages": list(messages)}, timeout=timeout)

    def _send_body(self, path: str, body: Any, idempotency_key: Optional[str], timeout: Optional[float]) -> Any:
        """Every send endpoint takes a JSON body and an optional Idempotency-Key the same way."""
        headers: Dict[str, str] = {}
        if idempotency_key is not None:
            # The server's rule; checked here too, since a non-ASCII header cannot even be sent.
            if not (0 < len(idempotency_key) <= 255 and all("\x21" <= c <= "\x7e" for c in idempotency_key)):
                raise ValueError("idempotency_key: 1 to 255 printable ASCII characters, no spaces")
            headers["Idempotency-Key"] = idempotency_key
        return self._call("POST", path, body=body, headers=headers, timeout=timeout)

    # --- reading the archive and the templates ------------------------------------------------

    @overload
    def get_message(self: Postier[Literal[True]], id: str) -> Message: ...
    @overload
    def get_message(self: Postier[Literal[False]], id: str) -> Result[Message]: ...
    def get_message(self, id: str) -> Any:
        return self._call("GET", f"/api/v1/email/messages/{_segment(id)}")

    # --- content checks of an archived message (admin key) -------------------------------------

    @overload
    def html_check(self: Postier[Literal[True]], id: str) -> HtmlCheck: ...
    @overload
    def html_check(self: Postier[Literal[False]], id: str) -> Result[HtmlCheck]: ...
    def html_check(self, id: str) -> Any:
        """How well email clients support the message's HTML and CSS (caniemail.com data)."""
        return self._call("GET", f"/api/v1/email/messages/{_segment(id)}/html-check")

    @overload
    def link_check(self: Postier[Literal[True]], id: str) -> LinkCheck: ...
    @overload
    def link_check(self: Postier[Literal[False]], id: str) -> Result[LinkCheck]: ...
    def link_check(self, id: str) -> Any:
        """Every link and image source of the message with its problems, without any request."""
        return self._call("GET", f"/api/v1/email/messages/{_segment(id)}/link-check")

    @overload
    def spam_check(self: Postier[Literal[True]], id: str) -> SpamCheck: ...
    @overload
    def spam_check(self: Postier[Literal[False]], id: str) -> Result[SpamCheck]: ...
    def spam_check(self, id: str) -> Any:
        """SpamAssassin's report on the message as delivered; 409 ``spam_check_unavailable``
        when the server has no ``SPAMD_ADDRESS`` or cannot reach spamd."""
        return self._call("GET", f"/api/v1/email/messages/{_segment(id)}/spam-check")

    @overload
    def list_messages(
        self: Postier[Literal[True]],
        *,
        to: Optional[str] = None,
        status: Optional[MessageStatus] = None,
        template_key: Optional[str] = None,
        category: Optional[str] = None,
        since: Union[datetime, str, None] = None,
        until: Union[datetime, str, None] = None,
        limit: Optional[int] = None,
        cursor: Optional[str] = None,
    ) -> MessagePage: ...
    @overload
    def list_messages(
        self: Postier[Literal[False]],
        *,
        to: Optional[str] = None,
        status: Optional[MessageStatus] = None,
        template_key: Optional[str] = None,
        category: Optional[str] = None,
        since: Union[datetime, str, None] = None,
        until: Union[datetime, str, None] = None,
        limit: Optional[int] = None,
        cursor: Optional[str] = None,
    ) -> Result[MessagePage]: ...
    def list_messages(
        self,
        *,
        to: Optional[str] = None,
        status: Optional[MessageStatus] = None,
        template_key: Optional[str] = None,
        category: Optional[str] = None,
        since: Union[datetime, str, None] = None,
        until: Union[datetime, str, None] = None,
        limit: Optional[int] = None,
        cursor: Optional[str] = None,
    ) -> Any:
        """One page, newest first; pass the page's ``next_cursor`` as ``cursor`` for the next."""
        query = _query(
            to=to,
            status=status,
            template_key=template_key,
            category=category,
            since=None if since is None else iso_datetime(since, "since"),
            until=None if until is None else iso_datetime(until, "until"),
            limit=limit,
            cursor=cursor,
        )
        return self._call("GET", f"/api/v1/email/messages{query}")

    def iter_messages(
        self,
        *,
        to: Optional[str] = None,
        status: Optional[MessageStatus] = None,
        template_key: Optional[str] = None,
        category: Optional[str] = None,
        since: Union[datetime, str, None] = None,
        until: Union[datetime, str, None] = None,
        page_size: int = 100,
    ) -> Iterator[MessageSummary]:
        """Every matching message, newest first, fetching pages of ``page_size`` as it goes.

        Raises PostierError whatever the client's mode: an iterator has no result to return.
        """
        raising = self.with_options(raise_errors=True)
        cursor: Optional[str] = None
        while True:
            page = raising.list_messages(
                to=to, status=status, template_key=template_key, category=category, since=since, until=until, limit=page_size, cursor=cursor
            )
            yield from page["items"]
            cursor = page["next_cursor"]
            if cursor is None:
                return

    @overload
    def list_templates(self: Postier[Literal[True]], *, category: Optional[str] = None, include_inactive: Optional[bool] = None) -> TemplateList: ...
    @overload
    def list_templates(
        self: Postier[Literal[False]], *, category: Optional[str] = None, include_inactive: Optional[bool] = None
    ) -> Result[TemplateList]: ...
    def list_templates(self, *, category: Optional[str] = None, include_inactive: Optional[bool] = None) -> Any:
        return self._call("GET", f"/api/v1/email/templates{_query(category=category, include_inactive=include_inactive)}")

    @overload
    def get_template(self: Postier[Literal[True]], key: str) -> Template: ...
    @overload
    def get_template(self: Postier[Literal[False]], key: str) -> Result[Template]: ...
    def get_template(self, key: str) -> Any:
        return self._call("GET", f"/api/v1/email/templates/{_segment(key)}")

    # --- one request -------------------------------------------------------------------------

    def _call(self, method: str, path: str, *, body: Any = None, headers: Optional[Dict[str, str]] = None, timeout: Optional[float] = None) -> Any:
        """The decoded answer, raised or wrapped as the client's mode says."""
        try:
            value = self._request(method, path, body, headers or {}, self._timeout if timeout is None else timeout)
        except PostierError as e:
            if self._raise_errors:
                raise
            return Err(e)
        return value if self._raise_errors else Ok(value)

    def _request(self, method: str, path: str, body: Any, extra_headers: Dict[str, str], timeout: float) -> Any:
        headers = {"Authorization": f"Bearer {self._token}", "Accept": "application/json", "User-Agent": _USER_AGENT}
        data: Optional[bytes] = None
        if body is not None:
            # A value json cannot encode raises TypeError here, in either mode: that is a bug, not an outage.
            data = json.dumps(body, default=_json_default, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode("utf-8")
            headers["Content-Type"] = "application/json"
        headers.update(extra_headers)
        try:
            res = self._transport.request(method, self._base_url + path, headers, data, timeout)
        except DeadlineExceeded:
            raise PostierError(0, "timeout", f"{method} {path}: no answer within {timeout:g} s") from None
        except TransportError as e:
            raise PostierError(0, "network_error", f"{method} {path}: {e}") from None
        if 300 <= res.status < 400:
            # The transport follows none (the token would go along): said as such, as the TypeScript client does.
            where = res.headers.get("location") or "(no location)"
            raise PostierError(
                res.status,
                "redirected",
                f"{method} {path}: HTTP {res.status} to {where}; redirects are not followed: set base_url to the address Postier answers at",
            )
        try:
            decoded = json.loads(res.body.decode("utf-8")) if res.body.strip() else None
        except ValueError:
            wait = None if 200 <= res.status < 300 else _retry_after(res.headers.get("retry-after"))
            raise PostierError(res.status, "invalid_response", f"{method} {path}: HTTP {res.status}, not JSON", None, wait) from None
        if not 200 <= res.status < 300:
            err = decoded.get("error") if isinstance(decoded, dict) else None
            err = err if isinstance(err, dict) else {}
            raise PostierError(
                res.status,
                err.get("code") or f"http_{res.status}",
                err.get("message") or f"{method} {path}: HTTP {res.status}",
                err.get("details"),
                _retry_after(res.headers.get("retry-after")),
            )
        if not isinstance(decoded, dict):
            # Every endpoint answers an object: null, a list or an empty 200 (a proxy's) would reach
            # the caller typed as the answer and fail there, on r.value["items"].
            raise PostierError(res.status, "invalid_response", f"{method} {path}: HTTP {res.status}, not a JSON object")
        return decoded


def _retry_after(value: Optional[str]) -> Optional[float]:
    """``Retry-After`` as seconds: delta-seconds or an HTTP date (RFC 9110 10.2.3); None when absent or unreadable."""
    if value is None:
        return None
    v = value.strip()
    if v.isdigit() and v.isascii():
        return float(v)
    try:
        at = email.utils.parsedate_to_datetime(v)
    except (TypeError, ValueError, IndexError):
        return None
    if at is None or at.tzinfo is None:
        return None
    return float(max(0, math.ceil((at - datetime.now(timezone.utc)).total_seconds())))


def _is_http_url(value: Any) -> bool:
    if not isinstance(value, str) or any(c.isspace() or not c.isprintable() for c in value):
        return False
    try:
        parsed = urllib.parse.urlsplit(value)
        parsed.port  # raises ValueError for a port that is not a number from 0 to 65535
    except ValueError:
        return False
    return parsed.scheme in ("http", "https") and bool(parsed.hostname) and "@" not in parsed.netloc


def _segment(value: str) -> str:
    return urllib.parse.quote(value, safe="")


def _query(**params: Any) -> str:
    pairs = [(k, ("true" if v else "false") if isinstance(v, bool) else str(v)) for k, v in params.items() if v is not None]
    return f"?{urllib.parse.urlencode(pairs)}" if pairs else ""


def _json_default(value: Any) -> Any:
    """Values a model's fields commonly hold (dates, amounts, ids) go as strings."""
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, (Decimal, uuid.UUID)):
        return str(value)
    raise TypeError(f"Postier: {type(value).__name__} is not JSON serializable: pass str, int, float, bool, None, list or dict")
