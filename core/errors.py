"""The errors core services raise when a rule says no.

Each carries a `code` and parameters so that the bot can say it in the reader's language; the
English `str()` serves the CLI and the logs.
"""

from typing import Any


class DomainError(Exception):
    code = "error"

    def __init__(self, message: str, *, code: str | None = None, **params: Any) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code
        self.params = params


class NotFound(DomainError):
    """The record does not exist, or the actor may not know that it does."""

    code = "not_found"


class InvalidInput(DomainError):
    code = "invalid_input"


class Conflict(DomainError):
    """The change would break a uniqueness rule (a second user, a second team of one name…)."""

    code = "conflict"


class Forbidden(DomainError):
    """The actor may see the record but not make this change."""

    code = "forbidden"
