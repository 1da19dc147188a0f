"""Sends lifecycle mail the way the document's ``send_mail(force_send=True, raise_exception=False)``
does: now, for at most a short timeout, and without ever raising. Postier down, slow or refusing
becomes an ``EmailFailure`` for the instance to record; the transition that asked goes on.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Dict, List, Literal, Optional, Union

from postier import Postier

_logger = logging.getLogger(__name__)

#: The document asks for mail that cannot hold a transition up: two seconds at most.
DEFAULT_TIMEOUT = 2.0


@dataclass(frozen=True)
class EmailSent:
    template: str
    at: datetime
    #: Postier's message ids, to find the mail in its archive.
    message_ids: List[str]
    idempotency_key: str


@dataclass(frozen=True)
class EmailFailure:
    template: str
    at: datetime
    code: str
    message: str
    #: Postier or the network failed (status 0, 429, 5xx): the same send may work later.
    retryable: bool
    idempotency_key: str
    #: What a retry sends again, or None when the variables hold a secret (the admin password)
    #: that the manager does not keep.
    variables: Optional[Dict[str, Any]]


EmailOutcome = Union[EmailSent, EmailFailure]


class LifecycleMailer:
    def __init__(self, client: Postier[Literal[False]]) -> None:
        self._client = client

    @classmethod
    def from_settings(cls, url: str, token: str, timeout: float = DEFAULT_TIMEOUT) -> LifecycleMailer:
        """In Odoo, url and token come from ``ir.config_parameter`` (``postier.url``, ``postier.token``)."""
        return cls(Postier(url, token, timeout=timeout, raise_errors=False))

    def send(
        self,
        record: str,
        to: str,
        lang: str,
        template: str,
        variables: Dict[str, Any],
        idempotency_key: str,
        at: datetime,
        keep_variables: bool = True,
    ) -> EmailOutcome:
        """``record`` names the instance in the log (``saas.instance,7``); ``variables`` never go
        to the log: the provisioning mail carries the admin password."""
        r = self._client.send(to, template, variables=variables, locale=lang, idempotency_key=idempotency_key)
        if r.ok:
            ids = [item["id"] for item in r.value["items"]]
            _logger.info("%s: %s accepted by Postier as %s", record, template, ", ".join(ids))
            return EmailSent(template=template, at=at, message_ids=ids, idempotency_key=idempotency_key)
        e = r.error
        _logger.warning("%s: %s not sent (%s: %s); the transition goes on", record, template, e.code, e.message)
        return EmailFailure(
            template=template,
            at=at,
            code=e.code,
            message=e.message,
            retryable=e.retryable,
            idempotency_key=idempotency_key,
            variables=dict(variables) if keep_variables else None,
        )
