"""The one error the client reports, with the TypeScript client's fields and meaning."""

from __future__ import annotations

from typing import Any, Optional


class PostierError(Exception):
    """An API error (``status`` and the API's ``code``), a timeout (status 0, code ``timeout``)
    or a network failure (status 0, code ``network_error``).

    ``details`` is the API's ``error.details`` (e.g. ``{"missing": ["amount_fcfa"]}`` for a 422
    ``missing_variables``), or None. ``retry_after``: the seconds the server asked to wait before
    retrying (its ``Retry-After``, on a 429 or 503), or None when it did not say.
    """

    def __init__(self, status: int, code: str, message: str, details: Any = None, retry_after: Optional[float] = None) -> None:
        # All of them in args, so the error pickles and copies (Exception rebuilds from args).
        super().__init__(status, code, message, details, retry_after)
        self.status = status
        self.code = code
        self.message = message
        self.details = details
        self.retry_after = retry_after

    @property
    def retryable(self) -> bool:
        """Worth retrying later with the same idempotency key: the server or the network failed."""
        return self.status == 0 or self.status == 429 or self.status >= 500

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return f"PostierError(status={self.status!r}, code={self.code!r}, message={self.message!r}, details={self.details!r}, retry_after={self.retry_after!r})"
