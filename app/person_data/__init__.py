"""The customer's data rights: find everything Plateau holds about a person, export it, erase it.

A person is found by a number (any format), an e-mail or a contact id, and becomes a `Person`: the contacts,
numbers and e-mails that are theirs. Each kind of record is one `Source` of the `SOURCES` registry: how to
find the person's rows, and how to erase them. A new table that holds personal data is one more entry
(`register`); the erasure test scans every text column of every table, so a forgotten one fails it.

Erasure keeps what reports count: a contact, call, complaint or lead attempt stays as an anonymous row
(names, numbers, e-mails and free text removed), while the rows that only describe the person (phone numbers,
lead numbers, do-not-call entries) are deleted. A recording that a complaint not closed pins is kept (legal
hold, GDPR art. 17(3)(e)): the answer says so, and the retention purge deletes it once the hold ends. What
stays is a tombstone per number and e-mail (`core/tombstones.py`). Accounts are companies, not persons: they
are exported, not erased.
"""

# the sources register themselves in SOURCES when imported
from app.person_data import sources as _sources  # noqa: F401
from app.person_data.actions import (
    Gathered,
    audit_person,
    audit_target,
    erase,
    erase_person,
    gather,
    object_to_calls,
    remove_files,
)
from app.person_data.person import (
    ERASED,
    SOURCES,
    BadQuery,
    Erasure,
    Kept,
    Person,
    PersonNotFound,
    Source,
    register,
)
from app.person_data.resolve import resolve

__all__ = [
    "ERASED",
    "SOURCES",
    "BadQuery",
    "Erasure",
    "Gathered",
    "Kept",
    "Person",
    "PersonNotFound",
    "Source",
    "audit_person",
    "audit_target",
    "erase",
    "erase_person",
    "gather",
    "object_to_calls",
    "register",
    "remove_files",
    "resolve",
]
