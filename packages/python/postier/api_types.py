"""Request and response shapes of the Postier API, as the TypeScript client's types.ts has them.

Responses are JSON objects, so they are TypedDicts: plain dicts at run time, checked keys for a
type checker, and a field the server adds later is simply one more key.
"""

from __future__ import annotations

from typing import Any, Dict, List, Literal, Optional, TypedDict, Union

MessageStatus = Literal[
    "scheduled",
    "queued",
    "sending",
    "sent",
    "partially_sent",
    "captured",
    "delivered",
    "bounced",
    "complaint",
    "failed",
    "suppressed",
    "rate_limited",
    "cancelled",
]

#: One address, a comma-separated list, or a list: one message per ``to`` recipient.
Recipients = Union[str, List[str]]


class AttachmentInput(TypedDict):
    filename: str
    content_type: str
    #: The file's bytes in base64 (``postier.attachment()`` encodes them).
    data_base64: str


class _SendRequestRequired(TypedDict):
    to: Recipients
    template_key: str


class SendRequest(_SendRequestRequired, total=False):
    """The body of ``POST /api/v1/email/send`` (``postier.template_message()`` builds one)."""

    variables: Dict[str, Any]
    attachments: List[AttachmentInput]
    cc: Recipients
    bcc: Recipients
    reply_to: str
    locale: str
    template_version: int
    #: ISO 8601 with a time zone, at most 30 days ahead.
    send_at: str


# "from" and "class" are Python keywords: only the functional form can name them as keys.
_RawKeywordKeys = TypedDict("_RawKeywordKeys", {"from": str, "class": str}, total=False)


class _RawSendRequired(TypedDict):
    to: Recipients
    subject: str


class RawSendRequest(_RawSendRequired, _RawKeywordKeys, total=False):
    """A send with its own subject and body, no stored template (``postier.raw_message()`` builds one).

    ``html`` and/or ``text``; ``from`` must be allowed for the key (403 ``from_not_allowed``).
    """

    html: str
    text: str
    attachments: List[AttachmentInput]
    cc: Recipients
    bcc: Recipients
    reply_to: str
    send_at: str
    category: str
    tags: List[str]
    metadata: Dict[str, Any]
    idempotency_key: str


class BatchError(TypedDict, total=False):
    code: str
    message: str
    details: Any


class BatchItem(TypedDict, total=False):
    """One message's answer in a batch, in request order: ``items`` when stored, else ``error``."""

    index: int
    items: List["SendResultItem"]
    error: BatchError


class BatchResult(TypedDict):
    items: List[BatchItem]


class SendResultItem(TypedDict):
    id: str
    to: str
    status: MessageStatus


class SendResult(TypedDict):
    items: List[SendResultItem]


class MessageSummary(TypedDict):
    id: str
    to: str
    subject: str
    status: MessageStatus
    template_key: str
    category: str
    created_at: str
    sent_at: Optional[str]
    delivered_at: Optional[str]


class MessageEvent(TypedDict):
    id: int
    type: str
    at: str
    data: Any


class MessageAttachment(TypedDict):
    id: str
    filename: str
    content_type: str
    size_bytes: int
    sha256: str


class MessageRecipient(TypedDict):
    """One envelope recipient (to, cc, bcc) of a message and where it stands."""

    address: str
    kind: Literal["to", "cc", "bcc"]
    status: Literal["accepted", "deferred", "refused", "failed", "pending", "not_sent", "suppressed"]
    code: Optional[int]
    enhanced: Optional[str]
    response: Optional[str]
    attempts: int
    at: Optional[str]
    relay_problem: Optional[str]


# "class" and "from" are Python keywords: only the functional form can name them as keys.
_ClassKey = TypedDict("_ClassKey", {"class": str})
#: ``from`` is the configured sender, e.g. ``RGZ Notifications <noreply@rgz.bj>``.
_MessageKeywordKeys = TypedDict("_MessageKeywordKeys", {"class": str, "from": str})


class _MessageFields(MessageSummary, _MessageKeywordKeys):
    template_version: int
    locale: str
    source_endpoint: str
    cc: List[str]
    bcc: List[str]
    reply_to: Optional[str]
    html_content: Optional[str]
    text_content: Optional[str]
    attachments_count: int
    attempts: int
    max_attempts: int
    next_attempt_at: Optional[str]
    smtp_message_id: str
    provider_message_id: Optional[str]
    smtp_response: Optional[str]
    recipients: List[MessageRecipient]
    bounce_type: Optional[str]
    bounce_subtype: Optional[str]
    error_message: Optional[str]
    is_test: bool
    resent_from_id: Optional[str]
    updated_at: Optional[str]
    attachments: List[MessageAttachment]
    events: List[MessageEvent]


class Message(_MessageFields, total=False):
    """``GET /api/v1/email/messages/{id}``; ``message["class"]`` and ``message["from"]`` too."""

    anonymized_at: Optional[str]


class MessagePage(TypedDict):
    items: List[MessageSummary]
    total: int
    next_cursor: Optional[str]


class TemplateSummary(_ClassKey):
    key: str
    name: str
    subject: str
    category: str
    version: int
    is_active: bool


class TemplateList(TypedDict):
    items: List[TemplateSummary]
    total: int


class TemplateLocale(TypedDict):
    subject: str
    html_content: str
    text_content: Optional[str]


class Template(_ClassKey):
    key: str
    name: str
    description: str
    category: str
    priority: str
    max_attempts: int
    is_active: bool
    active_version: int
    version: int
    default_locale: str
    layout: Optional[str]
    attachments_allowed: bool
    required_variables: List[str]
    optional_variables: List[str]
    sensitive_variables: List[str]
    sample_variables: Dict[str, Any]
    subject: str
    html_content: str
    text_content: Optional[str]
    locales: Dict[str, TemplateLocale]


# --- content checks of an archived message (admin) ---------------------------------------------


class HtmlCheckScore(TypedDict):
    supported: float
    partial: float
    unsupported: float


class HtmlCheckPlatform(TypedDict):
    platform: str
    platform_name: str
    support: Literal["unsupported", "partial"]
    notes: List[str]


class HtmlCheckClient(TypedDict):
    family: str
    family_name: str
    platforms: List[HtmlCheckPlatform]


class HtmlCheckFeature(TypedDict):
    slug: str
    title: str
    url: str
    category: str
    count: int
    supported: float
    partial: float
    unsupported: float
    unknown: float
    clients: List[HtmlCheckClient]


class HtmlCheckData(TypedDict):
    source: str
    license: str
    copyright: List[str]
    last_update: str
    clients: int


class HtmlCheck(TypedDict):
    """How well email clients support the message's HTML and CSS (caniemail.com data), worst first."""

    score: Optional[HtmlCheckScore]
    features: List[HtmlCheckFeature]
    data: HtmlCheckData


class LinkCheckItem(TypedDict):
    url: str
    tag: str
    attribute: str
    masked: bool
    problems: List[Literal["unsafe_scheme", "not_https", "local_host", "empty", "unparsable"]]


class LinkCheck(TypedDict):
    links: List[LinkCheckItem]


class SpamRule(TypedDict):
    score: float
    name: str
    description: str


class SpamCheck(TypedDict):
    score: float
    threshold: float
    is_spam: bool
    rules: List[SpamRule]

