"""Domain errors as HTTP responses, mapped once: the handlers are registered in the app factory.

Every refusal keeps FastAPI's own body shape, `{"detail": ...}`: a message, or for refused fields the
list of `{"loc", "msg", "type"}` that request validation gives, so clients read one shape. The error's
stable code travels in the `X-Plateau-Error` header. A browser asking for a page gets the HTML error
page the web layer renders for an HTTPException.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from fastapi import FastAPI, HTTPException, Request, Response
from fastapi.exception_handlers import http_exception_handler
from starlette.exceptions import HTTPException as StarletteHTTPException

from core.errors import Conflict, DomainError, FieldError, Forbidden, Invalid, NotFound, Unavailable
from cti.ami_wire import AmiError, AmiUnavailable
from cti.numbers import InvalidNumber
from cti.service import ControlError, PhoneNotRegistered
from dialer.engine import PreviewError

STATUS: dict[type[DomainError], int] = {
    Forbidden: 403,
    NotFound: 404,
    Conflict: 409,
    Invalid: 422,
    Unavailable: 503,
}
CODE_HEADER = "X-Plateau-Error"

# Errors of the layers below that are not DomainErrors (the PBX link's, the dialer's preview): the status,
# the code and what is said. Checked in this order, so a subclass comes before its base.
FOREIGN: dict[type[Exception], Callable[[Any], tuple[int, str, str]]] = {
    AmiUnavailable: lambda e: (503, "pbx_unavailable", f"PBX unavailable: {e}"),
    AmiError: lambda e: (502, "pbx_refused", f"PBX refused: {e}"),
    ControlError: lambda e: (404, "no_such_call", str(e)),
    PhoneNotRegistered: lambda e: (409, "phone_not_registered", str(e)),
    InvalidNumber: lambda e: (422, "invalid_number", str(e)),
    PreviewError: lambda e: (e.status, "preview_refused", e.message),
}


def field_errors(errors: Iterable[FieldError]) -> list[dict[str, Any]]:
    """Refused fields in request validation's shape: the one place that builds a `{"loc": ...}`."""
    return [{"loc": list(e.loc), "msg": e.msg, "type": e.type} for e in errors]


def unprocessable(field: str | int | Sequence[str | int], msg: str, where: str = "body") -> Invalid:
    """The usual refusal of one field: `raise unprocessable("owner_id", "no such user")`; a nested one
    by its path (`("numbers", 2, "number")`)."""
    if isinstance(field, str | int):
        return Invalid(msg, field, where=where)
    refused = Invalid(msg, errors=[FieldError((where, *field), msg)])
    refused.field = field[0] if field else None  # where a form shows it
    return refused


def invalid_lines(field: str, lines: Iterable[str], where: str = "body") -> Invalid:
    """One field refused for several reasons (a rule set's or retry rules' content errors)."""
    return Invalid.fields(FieldError((where, field), line) for line in lines)


def status_of(exc: DomainError) -> int:
    for kind, status in STATUS.items():
        if isinstance(exc, kind):
            return status
    return 400


def as_http(exc: DomainError) -> HTTPException:
    """The response a domain error makes, as an HTTPException (for the few places that must return
    rather than raise, and for the web layer's HTML error page)."""
    detail: Any = exc.message
    if isinstance(exc, Invalid) and exc.errors:
        detail = field_errors(exc.errors)
    return HTTPException(status_of(exc), detail, headers={CODE_HEADER: exc.code})


async def _delegate(request: Request, exc: HTTPException) -> Response:
    # through the HTTPException handler in force, so that pages keep their HTML 403/404
    handler = request.app.exception_handlers.get(StarletteHTTPException, http_exception_handler)
    return await handler(request, exc)


async def domain_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, DomainError)
    return await _delegate(request, as_http(exc))


async def foreign_error(request: Request, exc: Exception) -> Response:
    for kind, said in FOREIGN.items():
        if isinstance(exc, kind):
            status, code, detail = said(exc)
            return await _delegate(request, HTTPException(status, detail, headers={CODE_HEADER: code}))
    raise exc  # pragma: no cover - only registered for FOREIGN's kinds


def register(app: FastAPI) -> None:
    """Called once by the app factory."""
    app.add_exception_handler(DomainError, domain_error)
    for kind in FOREIGN:
        app.add_exception_handler(kind, foreign_error)
