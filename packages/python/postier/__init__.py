"""Python client for the Postier transactional email API (standard library only)."""

__version__ = "0.1.0"

from .api_types import (
    AttachmentInput,
    Message,
    MessageAttachment,
    MessageEvent,
    MessagePage,
    MessageRecipient,
    MessageStatus,
    MessageSummary,
    SendRequest,
    SendResult,
    SendResultItem,
    Template,
    TemplateList,
    TemplateSummary,
)
from .client import Postier
from .errors import PostierError
from .messages import attachment, template_message
from .result import Err, Ok, Result

__all__ = [
    "AttachmentInput",
    "Err",
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
    "Result",
    "SendRequest",
    "SendResult",
    "SendResultItem",
    "Template",
    "TemplateList",
    "TemplateSummary",
    "__version__",
    "attachment",
    "template_message",
]
