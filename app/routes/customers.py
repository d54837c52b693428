"""Accounts, contacts, their numbers, search and caller lookup."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app import customer_service as svc
from app.customers import find_callers
from app.deps import AnyRole, Db, Manager, state_of
from app.errors import unprocessable
from app.schemas import (
    AccountIn,
    AccountOut,
    AccountPatch,
    ContactIn,
    ContactOut,
    ContactPatch,
    Limit,
    MatchOut,
    NumberIn,
    NumberOut,
    PathId,
    SearchText,
)
from app.security import ANY_ROLE, require
from core.audit import audit
from core.errors import Conflict, NotFound
from core.models import Account, Contact, PhoneNumber, Role
from cti.numbers import InvalidNumber, parse

router = APIRouter(tags=["customers"])
read_write = require(*ANY_ROLE)
deleter = require(Role.manager)


def _number(n: NumberIn, region: str, field: list[str | int]) -> PhoneNumber:
    try:
        p = parse(n.number, region)
    except InvalidNumber as exc:
        raise unprocessable(field, exc.reason) from None
    return PhoneNumber(e164=p.e164, suffix_key=p.suffix_key, extension=p.extension, kind=n.kind, raw=n.number)


async def _commit(db: AsyncSession, what: str) -> None:
    try:
        await db.commit()
    except IntegrityError:
        await db.rollback()
        raise Conflict(
            f"{what} conflicts with an existing record (duplicate external id or number)"
        ) from None


async def _account(db: AsyncSession, account_id: int | None) -> Account | None:
    if account_id is None:
        return None
    acc = await db.get(Account, account_id)
    if acc is None:
        raise unprocessable(["account_id"], "no such account")
    return acc


# --- accounts -------------------------------------------------------------------------------------------
@router.get("/accounts", response_model=list[AccountOut])
async def list_accounts(
    _: AnyRole,
    db: Db,
    q: SearchText | None = None,
    limit: Limit = 50,
) -> Any:
    return await svc.search_accounts(db, q, limit)


@router.post("/accounts", response_model=AccountOut, status_code=201)
async def create_account(
    body: AccountIn,
    request: Request,
    ident: AnyRole,
    db: Db,
) -> Any:
    acc = Account(**body.model_dump())
    db.add(acc)
    await db.flush()
    audit(
        db, "account_created", user_id=ident.user.id, target_type="account", target_id=acc.id, request=request
    )
    await _commit(db, "account")
    return acc


@router.get("/accounts/{account_id}", response_model=AccountOut)
async def get_account(account_id: PathId, _: AnyRole, db: Db) -> Any:
    return await svc.account(db, account_id)


@router.patch("/accounts/{account_id}", response_model=AccountOut)
async def update_account(
    account_id: PathId,
    body: AccountPatch,
    request: Request,
    ident: AnyRole,
    db: Db,
) -> Any:
    acc = await db.get(Account, account_id)
    if acc is None:
        raise NotFound("no such account")
    changes = body.model_dump(exclude_unset=True)
    if changes.get("name", ...) is None or changes.get("tier", ...) is None:
        raise unprocessable(
            ["name" if "name" in changes and changes["name"] is None else "tier"], "may not be null"
        )
    for k, v in changes.items():
        setattr(acc, k, v)
    audit(
        db,
        "account_updated",
        user_id=ident.user.id,
        target_type="account",
        target_id=acc.id,
        detail={"fields": sorted(changes)},
        request=request,
    )
    await _commit(db, "account")
    return acc


@router.delete("/accounts/{account_id}", status_code=204)
async def delete_account(
    account_id: PathId,
    request: Request,
    ident: Manager,
    db: Db,
) -> None:
    acc = await db.get(Account, account_id)
    if acc is None:
        raise NotFound("no such account")
    await db.delete(acc)
    audit(
        db,
        "account_deleted",
        user_id=ident.user.id,
        target_type="account",
        target_id=account_id,
        request=request,
    )
    await db.commit()


# --- contacts -------------------------------------------------------------------------------------------
@router.get("/contacts", response_model=list[ContactOut])
async def search_contacts(
    request: Request,
    _: AnyRole,
    db: Db,
    q: SearchText | None = None,
    limit: Limit = 50,
) -> Any:
    """Search by name, company or a number in any format (numbers use the indexed keys, never LIKE)."""
    return await svc.search_contacts(db, q, limit, state_of(request).settings.default_region)


@router.post("/contacts", response_model=ContactOut, status_code=201)
async def create_contact(
    body: ContactIn,
    request: Request,
    ident: AnyRole,
    db: Db,
) -> Any:
    region = state_of(request).settings.default_region
    numbers = [_number(n, region, ["numbers", i, "number"]) for i, n in enumerate(body.numbers)]
    fields = body.model_dump(exclude={"numbers", "account_id"})
    contact = Contact(**fields, account=await _account(db, body.account_id), numbers=numbers)
    db.add(contact)
    await db.flush()
    audit(
        db,
        "contact_created",
        user_id=ident.user.id,
        target_type="contact",
        target_id=contact.id,
        request=request,
    )
    await _commit(db, "contact")
    return await svc.contact(db, contact.id)


@router.get("/contacts/{contact_id}", response_model=ContactOut)
async def get_contact(contact_id: PathId, _: AnyRole, db: Db) -> Any:
    return await svc.contact(db, contact_id)


@router.patch("/contacts/{contact_id}", response_model=ContactOut)
async def update_contact(
    contact_id: PathId,
    body: ContactPatch,
    request: Request,
    ident: AnyRole,
    db: Db,
) -> Any:
    contact = await svc.contact(db, contact_id)
    changes = body.model_dump(exclude_unset=True)
    for required in ("last_name", "tier", "first_name"):
        if required in changes and changes[required] is None:
            raise unprocessable([required], "may not be null")
    if "account_id" in changes:
        contact.account = await _account(db, changes.pop("account_id"))
    for k, v in changes.items():
        setattr(contact, k, v)
    audit(
        db,
        "contact_updated",
        user_id=ident.user.id,
        target_type="contact",
        target_id=contact.id,
        detail={"fields": sorted(body.model_dump(exclude_unset=True))},
        request=request,
    )
    await _commit(db, "contact")
    db.expire_all()
    return await svc.contact(db, contact_id)


@router.delete("/contacts/{contact_id}", status_code=204)
async def delete_contact(
    contact_id: PathId,
    request: Request,
    ident: Manager,
    db: Db,
) -> None:
    contact = await svc.contact(db, contact_id)
    await db.delete(contact)
    audit(
        db,
        "contact_deleted",
        user_id=ident.user.id,
        target_type="contact",
        target_id=contact_id,
        request=request,
    )
    await db.commit()


@router.post("/contacts/{contact_id}/numbers", response_model=NumberOut, status_code=201)
async def add_number(
    contact_id: PathId,
    body: NumberIn,
    request: Request,
    ident: AnyRole,
    db: Db,
) -> Any:
    contact = await svc.contact(db, contact_id)
    number = _number(body, state_of(request).settings.default_region, ["number"])
    contact.numbers.append(number)
    audit(
        db,
        "contact_number_added",
        user_id=ident.user.id,
        target_type="contact",
        target_id=contact_id,
        detail={"e164": number.e164},
        request=request,
    )
    await _commit(db, "number")
    return number


@router.delete("/contacts/{contact_id}/numbers/{number_id}", status_code=204)
async def remove_number(
    contact_id: PathId,
    number_id: PathId,
    request: Request,
    ident: AnyRole,
    db: Db,
) -> None:
    number = await db.get(PhoneNumber, number_id)
    if number is None or number.contact_id != contact_id:
        raise NotFound("no such number on this contact")
    await db.delete(number)
    audit(
        db,
        "contact_number_removed",
        user_id=ident.user.id,
        target_type="contact",
        target_id=contact_id,
        detail={"e164": number.e164},
        request=request,
    )
    await db.commit()


@router.get("/lookup", response_model=list[MatchOut])
async def lookup(
    number: SearchText,
    request: Request,
    _: AnyRole,
    db: Db,
) -> Any:
    """Every contact a caller ID matches: exact E.164 first, else the last digits."""
    matches = await find_callers(db, number, state_of(request).settings.default_region)
    return [
        MatchOut(
            contact=ContactOut.model_validate(m.contact), number=NumberOut.model_validate(m.number), how=m.how
        )
        for m in matches
    ]
