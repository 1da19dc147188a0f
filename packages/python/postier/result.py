"""What a never-block call returns instead of raising: ``Ok(value)`` or ``Err(error)``.

Both have ``ok``, ``value`` and ``error``, so ``if r.ok: use(r.value) else: log(r.error.code)``
reads like the TypeScript client's ``{ok: true, value} | {ok: false, error}``, and type
checkers narrow the union on ``r.ok``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Generic, Literal, NoReturn, TypeVar, Union

from .errors import PostierError

T = TypeVar("T")


@dataclass(frozen=True)
class Ok(Generic[T]):
    value: T
    ok: Literal[True] = field(default=True, init=False)
    error: None = field(default=None, init=False)

    def unwrap(self) -> T:
        return self.value


@dataclass(frozen=True)
class Err:
    error: PostierError
    ok: Literal[False] = field(default=False, init=False)
    value: None = field(default=None, init=False)

    def unwrap(self) -> NoReturn:
        """Raises the error: for code that wants an exception after all."""
        raise self.error


Result = Union[Ok[T], Err]
