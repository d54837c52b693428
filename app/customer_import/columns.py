"""A customer file's columns and values: recognised headers, tiers, care statuses, limits, the parsed row and
the report.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, time
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

from core.models import NumberKind, Tier

BATCH = 5000
# SQLite, batch commits: a batch short enough to hold the write lock for a fraction of the 500 ms a health
# probe waits, then the lock left free for longer than SQLite's busy handler sleeps between two tries
# (100 ms at most): a writer waiting for it gets it in that gap instead of losing the race to the next batch
SQLITE_BATCH = 1000
LOCK_GAP_S = 0.1
AHEAD = 2  # batches parsed ahead of the one being written (app/write_chain)
YIELD_EVERY = 100  # lines parsed between two turns of the event loop
MAX_CELL = 500
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f]")  # control characters other than TAB

# Normalised header (lowercase, no accents, no punctuation) → field.
HEADERS: dict[str, str] = {}
for _field, _names in {
    "last_name": ["nom", "nom de famille", "last name", "lastname", "surname", "family name"],
    "first_name": ["prenom", "first name", "firstname", "given name"],
    "company": [
        "societe",
        "entreprise",
        "raison sociale",
        "company",
        "account",
        "organisation",
        "organization",
        "compte",
    ],
    "email": ["email", "e mail", "courriel", "mail", "adresse email", "adresse e mail"],
    "job_title": ["fonction", "poste", "titre", "job title", "title"],
    "role": ["role", "contact role"],
    "segment": ["segment", "secteur"],
    "tier": ["niveau", "tier", "valeur", "value tier", "categorie client"],
    "external_id": ["identifiant", "id", "external id", "ref", "reference", "code client", "numero client"],
    "language": ["langue", "language"],
    "care_status": ["statut", "statut client", "status", "customer status"],
    "lost_at": ["date de perte", "perdu le", "lost at", "lost on", "loss date"],
    "loss_reason": ["motif de perte", "raison de la perte", "loss reason", "reason lost"],
    f"number:{NumberKind.mobile.value}": [
        "portable",
        "mobile",
        "tel portable",
        "telephone portable",
        "gsm",
        "cellulaire",
    ],
    f"number:{NumberKind.landline.value}": ["fixe", "tel fixe", "telephone fixe", "landline"],
    f"number:{NumberKind.work.value}": [
        "tel pro",
        "telephone professionnel",
        "tel bureau",
        "work phone",
        "bureau",
        "ligne directe",
    ],
    f"number:{NumberKind.switchboard.value}": ["standard", "switchboard"],
    f"number:{NumberKind.other.value}": [
        "telephone",
        "tel",
        "phone",
        "numero",
        "numero de telephone",
        "phone number",
    ],
}.items():
    for _name in _names:
        HEADERS[_name] = _field

TIERS = {
    "vip": Tier.vip,
    "gold": Tier.gold,
    "or": Tier.gold,
    "standard": Tier.standard,
    "std": Tier.standard,
    "low": Tier.low,
    "bas": Tier.low,
    "faible": Tier.low,
    "": Tier.standard,
}

CARE_STATUSES = {"": "active", "actif": "active", "active": "active", "perdu": "lost", "lost": "lost"}
_DATE_FORMATS = ("%d/%m/%Y", "%Y-%m-%d")
MAX_LOSS_REASON = 200


def loss_date(text_: str, zone: str, now: datetime) -> datetime:
    """A loss date as a file gives it (the local day's start in the centre's zone), checked; ValueError
    says what is wrong."""
    for fmt in _DATE_FORMATS:
        try:
            day = datetime.strptime(text_, fmt).date()
        except ValueError:
            continue
        at = datetime.combine(day, time(0), tzinfo=ZoneInfo(zone)).astimezone(UTC)
        if at > now:
            raise ValueError(f"{text_!r} is in the future")
        if day.year < 1970:
            raise ValueError(f"{text_!r} is before 1970")
        return at
    raise ValueError(f"{text_!r}: expected dd/mm/yyyy or yyyy-mm-dd")


@dataclass
class ImportReport:
    encoding: str = ""
    delimiter: str = ""
    rows: int = 0
    imported: int = 0
    numbers: int = 0
    accounts_created: int = 0
    rejected: list[tuple[int, str]] = field(default_factory=list)
    dry_run: bool = False

    def summary(self) -> str:
        verb = "would import" if self.dry_run else "imported"
        return (
            f"{self.rows} lines read ({self.encoding}, '{self.delimiter}'): {verb} {self.imported} contacts "
            f"with {self.numbers} numbers, {self.accounts_created} new accounts, "
            f"{len(self.rejected)} rejected"
        )


# A parsed line, as plain tuples (a million lines make a million of each: no per-row dicts or instances).
# contact: CONTACT_COLUMNS' values; numbers: NUMBER_COLUMNS' values after contact_id.
CONTACT_COLUMNS = (
    "first_name",
    "last_name",
    "email",
    "job_title",
    "role",
    "tier",
    "segment",
    "language",
    "external_id",
    "care_status",
    "lost_at",
    "loss_reason",
)
NUMBER_COLUMNS = ("kind", "e164", "suffix_key", "extension", "raw")
_EXTERNAL_ID = CONTACT_COLUMNS.index("external_id")
_EMAIL = CONTACT_COLUMNS.index("email")
LIMITS = {
    "first_name": 120,
    "last_name": 120,
    "email": 254,
    "job_title": 120,
    "role": 40,
    "segment": 80,
    "external_id": 80,
}
_SHORTEST_LIMIT = min(LIMITS.values())
MAX_COMPANY = 200


class _Row(NamedTuple):
    line: int
    contact: tuple[Any, ...]
    company: str | None
    numbers: list[tuple[Any, ...]]
    account_lost: tuple[datetime, str] | None = None  # the line's company is marked lost: when, why
