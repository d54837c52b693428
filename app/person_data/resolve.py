"""Finding the person a number (any format), an e-mail or a contact id names, with all that is theirs."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.person_data.matching import person_lead_ids
from app.person_data.person import EMAIL_PATTERN, MAX_EMAIL, BadQuery, Person, PersonNotFound
from core.dialer_tables import Lead, LeadNumber
from core.models import Contact, PhoneNumber
from cti.numbers import InvalidNumber, parse


# --- finding the person ---------------------------------------------------------------------------------
def normalise_email(raw: str) -> str:
    email = raw.strip().lower()
    if len(email) > MAX_EMAIL or not EMAIL_PATTERN.match(email):
        raise BadQuery("email", "not an e-mail address")
    return email


async def resolve(
    db: AsyncSession,
    *,
    number: str | None = None,
    email: str | None = None,
    contact_id: int | None = None,
    region: str = "FR",
) -> Person:
    """The person one number, e-mail or contact id names, with the contacts, numbers and e-mails that are
    theirs (the contacts' own, and those of the call-list leads that carry one of them)."""
    given = [
        k for k, v in (("number", number), ("email", email), ("contact_id", contact_id)) if v is not None
    ]
    if len(given) != 1:
        raise BadQuery("query", "give exactly one of number, email, contact_id")
    contact_ids: set[int] = set()
    numbers: set[str] = set()
    emails: set[str] = set()
    if number is not None:
        try:
            numbers.add(parse(number, region).e164)
        except InvalidNumber as exc:
            raise BadQuery("number", exc.reason) from None
        contact_ids |= set(
            await db.scalars(select(PhoneNumber.contact_id).where(PhoneNumber.e164.in_(numbers)))
        )
    elif email is not None:
        emails.add(normalise_email(email))
        contact_ids |= set(await db.scalars(select(Contact.id).where(func.lower(Contact.email).in_(emails))))
    else:
        if await db.get(Contact, contact_id) is None:
            raise PersonNotFound(f"no contact {contact_id}")
        contact_ids.add(int(contact_id))  # type: ignore[arg-type]
    if contact_ids:
        numbers |= set(
            await db.scalars(select(PhoneNumber.e164).where(PhoneNumber.contact_id.in_(contact_ids)))
        )
        emails |= {
            e.lower() for e in await db.scalars(select(Contact.email).where(Contact.id.in_(contact_ids))) if e
        }
    person = Person(frozenset(contact_ids), frozenset(numbers), frozenset(emails), region)
    leads = await person_lead_ids(db, person)
    if leads:
        numbers |= set(await db.scalars(select(LeadNumber.e164).where(LeadNumber.lead_id.in_(leads))))
        for fields in await db.scalars(select(Lead.fields).where(Lead.id.in_(leads))):
            found = (fields or {}).get("email")
            if isinstance(found, str) and EMAIL_PATTERN.match(found.strip().lower()):
                emails.add(found.strip().lower())
    return Person(frozenset(contact_ids), frozenset(numbers), frozenset(emails), region)
