"""Builds request bodies: what one message to send is, apart from how it is sent.

``template_message()`` is the body of a template send, ``raw_message()`` the body of a send with
its own subject and body; a batch send takes a list of either (each may carry an ``idempotency_key``).
"""

from __future__ import annotations

import base64
import mimetypes
import os
from datetime import datetime
from pathlib import Path
from typing import Any, List, Mapping, Optional, Sequence, Union

from .api_types import AttachmentInput, RawSendRequest, Recipients, SendRequest


def attachment(filename: str, data: bytes, content_type: Optional[str] = None) -> AttachmentInput:
    """A file to attach; ``content_type`` defaults to a guess from the file name."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"attachment {filename!r}: data must be bytes, not {type(data).__name__}")
    guessed = content_type or mimetypes.guess_type(filename)[0] or "application/octet-stream"
    return {"filename": filename, "content_type": guessed, "data_base64": base64.b64encode(bytes(data)).decode("ascii")}


def attachment_from_path(
    path: Union[str, "os.PathLike[str]"], content_type: Optional[str] = None, *, filename: Optional[str] = None
) -> AttachmentInput:
    """A file on disk to attach, named as on disk unless ``filename`` is given; the content type
    is guessed from that name when not given. The whole file is read (attachments are at most
    ``EMAIL_MAX_ATTACHMENT_SIZE_MB``)."""
    file = Path(path)
    return attachment(filename or file.name, file.read_bytes(), content_type)


def template_message(
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
) -> SendRequest:
    """The body of a template send; fields left as None are left out."""
    body: SendRequest = {"to": _recipients(to), "template_key": template_key}
    if variables is not None:
        body["variables"] = dict(variables)
    if attachments is not None:
        body["attachments"] = list(attachments)
    if cc is not None:
        body["cc"] = _recipients(cc)
    if bcc is not None:
        body["bcc"] = _recipients(bcc)
    if reply_to is not None:
        body["reply_to"] = reply_to
    if locale is not None:
        body["locale"] = locale
    if template_version is not None:
        body["template_version"] = template_version
    if send_at is not None:
        body["send_at"] = iso_datetime(send_at, "send_at")
    return body


def raw_message(
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
) -> RawSendRequest:
    """The body of a raw send: ``html`` and/or ``text`` (text is derived from html when absent).

    ``sender`` is the ``from`` field ("Name <address>" or an address); ``mail_class`` the ``class``
    field (``transactional`` or ``marketing``). ``idempotency_key`` is for a message of a batch.
    """
    if html is None and text is None:
        raise ValueError("raw_message: give html, text or both")
    body: RawSendRequest = {"to": _recipients(to), "subject": subject}
    if html is not None:
        body["html"] = html
    if text is not None:
        body["text"] = text
    if sender is not None:
        body["from"] = sender
    if attachments is not None:
        body["attachments"] = list(attachments)
    if cc is not None:
        body["cc"] = _recipients(cc)
    if bcc is not None:
        body["bcc"] = _recipients(bcc)
    if reply_to is not None:
        body["reply_to"] = reply_to
    if send_at is not None:
        body["send_at"] = iso_datetime(send_at, "send_at")
    if category is not None:
        body["category"] = category
    if mail_class is not None:
        body["class"] = mail_class
    if tags is not None:
        body["tags"] = list(tags)
    if metadata is not None:
        body["metadata"] = dict(metadata)
    if idempotency_key is not None:
        body["idempotency_key"] = idempotency_key
    return body


def iso_datetime(value: Union[datetime, str], name: str) -> str:
    """An aware datetime as ISO 8601; a naive one is refused rather than guessed (the server needs a zone)."""
    if isinstance(value, str):
        return value
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name}: a datetime with a time zone, e.g. datetime.now(timezone.utc)")
    return value.isoformat()


def _recipients(value: Union[str, Sequence[str]]) -> Recipients:
    if isinstance(value, str):
        return value
    out: List[str] = list(value)
    return out
