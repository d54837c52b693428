"""Domain errors: what went wrong, said once, with a stable `code`, and nothing about HTTP.

Services raise them; app/errors.py maps each kind to a response in one place (403, 404, 409, 422, 503), so
handlers need no try/except. `key` and `params` let a page say the message in the reader's language.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import ClassVar

Loc = tuple[str | int, ...]


@dataclass(frozen=True)
class FieldError:
    """One refused input: where it is (`("body", "list_ids", 2)`) and why."""

    loc: Loc
    msg: str
    type: str = "value_error"  # what kind of refusal, as request validation names it


class DomainError(Exception):
    """The base: `code` is stable (snake_case) for clients and logs; `message` is for people; `field`
    names the input at fault when there is one (a form puts the message beside it)."""

    code: ClassVar[str] = "domain_error"

    def __init__(
        self, message: str, field: str | int | None = None, *, key: str = "", **params: object
    ) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.key = key
        self.params = params


class NotFound(DomainError):
    """The thing named does not exist (or the caller may not know it does)."""

    code = "not_found"


class Forbidden(DomainError):
    """The caller is known but this is not theirs to do (another team's agent, someone else's complaint)."""

    code = "forbidden"


class Conflict(DomainError):
    """The request is well formed but the current state refuses it (a transition, a duplicate name)."""

    code = "conflict"


class Invalid(DomainError):
    """The input is refused: `errors` say which fields and why (none: the message speaks for the whole)."""

    code = "invalid"

    def __init__(
        self,
        message: str,
        field: str | int | None = None,
        *,
        where: str = "body",
        errors: Iterable[FieldError] = (),
        key: str = "",
        **params: object,
    ) -> None:
        super().__init__(message, field, key=key, **params)
        listed = list(errors)
        if field is not None:
            listed.insert(0, FieldError((where, field), message))
        self.errors: Sequence[FieldError] = listed

    @classmethod
    def fields(cls, errors: Iterable[FieldError]) -> Invalid:
        """Several refused fields at once (every line of a form, every number of a list)."""
        listed = list(errors)
        return cls(listed[0].msg if listed else "invalid input", errors=listed)


class Unavailable(DomainError):
    """A dependency the request needs (the PBX link, the dialer) is not there now; retrying may work."""

    code = "unavailable"
