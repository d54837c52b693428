"""Domain errors (core/errors.py) as responses (app/errors.py): one mapping, FastAPI's body shape."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from app import errors
from app.complaints import TransitionRefused
from app.reporting import PeriodError
from core.errors import Conflict, DomainError, FieldError, Forbidden, Invalid, NotFound, Unavailable
from cti.ami_wire import AmiError, AmiUnavailable
from cti.numbers import InvalidNumber
from cti.service import ControlError, PhoneNotRegistered


def _answer(exc: Exception) -> tuple[int, Any, str | None]:
    app = FastAPI()
    errors.register(app)

    @app.get("/boom")
    async def boom() -> None:
        raise exc

    r = TestClient(app).get("/boom")
    return r.status_code, r.json(), r.headers.get(errors.CODE_HEADER)


def _field(loc: list[Any], msg: str) -> dict[str, Any]:
    return {"loc": loc, "msg": msg, "type": "value_error"}


@pytest.mark.parametrize(
    ("raised", "status", "detail", "code"),
    [
        (Forbidden("agent: not in your team"), 403, "agent: not in your team", "forbidden"),
        (NotFound("no such campaign"), 404, "no such campaign", "not_found"),
        (Conflict("the campaign is already running"), 409, "the campaign is already running", "conflict"),
        (Invalid("password may not be null"), 422, "password may not be null", "invalid"),
        (Invalid("no such team", "team_id"), 422, [_field(["body", "team_id"], "no such team")], "invalid"),
        (
            errors.unprocessable("cursor", "malformed cursor", "query"),
            422,
            [_field(["query", "cursor"], "malformed cursor")],
            "invalid",
        ),
        (
            errors.unprocessable(("list_ids", 2), "no such call list"),
            422,
            [_field(["body", "list_ids", 2], "no such call list")],
            "invalid",
        ),
        (
            Invalid.fields(
                [FieldError(("body", "numbers", 0), "too short"), FieldError(("body", "numbers", 3), "x")]
            ),
            422,
            [_field(["body", "numbers", 0], "too short"), _field(["body", "numbers", 3], "x")],
            "invalid",
        ),
        (
            errors.invalid_lines("rules", ["window: bad", "holidays: bad"]),
            422,
            [_field(["body", "rules"], "window: bad"), _field(["body", "rules"], "holidays: bad")],
            "invalid",
        ),
        (Unavailable("CTI is not running"), 503, "CTI is not running", "unavailable"),
        (
            PeriodError("since", "must be before until"),
            422,
            [_field(["query", "since"], "must be before until")],
            "invalid",
        ),
        (
            TransitionRefused("cannot go from new to closed"),
            409,
            "cannot go from new to closed",
            "complaint_transition_refused",
        ),
    ],
)
def test_given_a_domain_error_when_a_handler_raises_it_then_it_is_answered_in_fastapis_shape(
    raised: DomainError, status: int, detail: Any, code: str
) -> None:
    assert _answer(raised) == (status, {"detail": detail}, code)


@pytest.mark.parametrize(
    ("raised", "status", "detail", "code"),
    [
        (AmiUnavailable("not connected"), 503, "PBX unavailable: not connected", "pbx_unavailable"),
        (AmiError("Originate failed"), 502, "PBX refused: Originate failed", "pbx_refused"),
        (ControlError("no such call of yours"), 404, "no such call of yours", "no_such_call"),
        (
            PhoneNotRegistered("your phone is not registered"),
            409,
            "your phone is not registered",
            "phone_not_registered",
        ),
        (InvalidNumber("12", "too short"), 422, "invalid phone number '12': too short", "invalid_number"),
    ],
)
def test_given_a_pbx_link_error_when_a_handler_lets_it_out_then_the_registry_maps_it(
    raised: Exception, status: int, detail: str, code: str
) -> None:
    assert _answer(raised) == (status, {"detail": detail}, code)


def test_given_a_refusal_with_a_field_when_a_form_reads_it_then_field_key_and_params_are_kept() -> None:
    refused = Conflict("queue 'sales' has 2 calls waiting", "name", key="waiting", name="sales")
    assert (refused.field, refused.key, refused.params, errors.status_of(refused)) == (
        "name",
        "waiting",
        {"name": "sales"},
        409,
    )
