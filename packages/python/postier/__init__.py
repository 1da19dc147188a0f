"""Python client for the Postier transactional email API (standard library only)."""

__version__ = "0.1.0"

from .api_types import (
    AttachmentInput,
    BatchItem,
    BatchResult,
    HtmlCheck,
    LinkCheck,
    Message,
    MessageAttachment,
    MessageEvent,
    MessagePage,
    MessageRecipient,
    MessageStatus,
    MessageSummary,
    RawSendRequest,
    SendRequest,
    SendResult,
    SendResultItem,
    SpamCheck,
    Template,
    TemplateList,
    TemplateSummary,
)
from .client import Postier
from .errors import PostierError
from .messages import attachment, attachment_from_path, raw_message, template_message
from .result import Err, Ok, Result

__all__ = [
    "AttachmentInput",
    "BatchItem",
    "BatchResult",
    "Err",
    "HtmlCheck",
    "LinkCheck",
    "Message",
    "MessageAttachment",
    "MessageEvent",
    "MessagePage",
    "MessageRecipient",
    "MessageStatus",
    "MessageSummary",
    "Ok",
    "Postier",
    "PostierError",
    "RawSendRequest",
    "Result",
    "SendRequest",
    "SendResult",
    "SendResultItem",
    "SpamCheck",
    "Template",
    "TemplateList",
    "TemplateSummary",
    "__version__",
    "attachment",
    "attachment_from_path",
    "raw_message",
    "template_message",
]
