"""What a call-list import is asked to do (options, column mapping targets) and what it counts."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from core.tabular import Limits
from dialer.compliance import RuleSet

SPOOL_PREFIX = "plateau-list-"  # an upload's temporary copy (app/routes/lists.py)

# Lead fields a column can map to; anything else is a custom field or ignored.
STANDARD_FIELDS = (
    "external_id",
    "civility",
    "first_name",
    "last_name",
    "company",
    "job_title",
    "email",
    "city",
    "postcode",
    "consent",
    "priority",
    "timezone",
)
_SYNONYMS: dict[str, list[str]] = {
    "external_id": ["id", "identifiant", "external id", "ref", "reference", "code client", "numero client"],
    "civility": ["civilite", "civility", "title", "titre"],
    "first_name": ["prenom", "first name", "firstname", "given name"],
    "last_name": ["nom", "nom de famille", "last name", "lastname", "surname"],
    "company": ["societe", "entreprise", "raison sociale", "company", "organisation", "organization"],
    "job_title": ["fonction", "poste", "job title"],
    "email": ["email", "e mail", "courriel", "mail"],
    "city": ["ville", "city", "commune"],
    "postcode": ["code postal", "cp", "postcode", "zip", "zip code", "postal code"],
    "consent": ["consentement", "consent", "opt in", "optin"],
    "priority": ["priorite", "priority"],
    "timezone": ["fuseau", "fuseau horaire", "timezone", "time zone", "tz"],
    "number:mobile": ["portable", "mobile", "tel portable", "telephone portable", "gsm", "cellulaire"],
    "number:landline": ["fixe", "tel fixe", "telephone fixe", "landline", "domicile"],
    "number:work": ["tel pro", "telephone professionnel", "tel bureau", "work phone", "ligne directe"],
    "number:switchboard": ["standard", "switchboard"],
    "number": ["telephone", "tel", "phone", "numero", "numero de telephone", "phone number", "number"],
}
AUTO_MAPPING = {name: target for target, names in _SYNONYMS.items() for name in names}

DedupeScope = Literal["list", "campaign", "all"]
DedupeBy = Literal["number", "external_id"]


# Live counters per running job (this process): what a poller reads while SQLite is busy.
LIVE: dict[int, dict[str, Any]] = {}


class MappingError(ValueError):
    """The column mapping does not fit the file (or names an unknown field)."""


def valid_target(target: str) -> bool:
    if target in STANDARD_FIELDS or target == "ignore" or target == "number":
        return True
    kind, _, name = target.partition(":")
    return kind in ("number", "custom") and 0 < len(name) <= 40 and name.replace("_", "").isalnum()


@dataclass
class ImportOptions:
    list_id: int
    mapping: dict[str, str] | None = None  # normalised header → target; None: recognised headers
    encoding: str | None = None
    delimiter: str | None = None
    dedupe_scope: DedupeScope = "list"
    dedupe_by: DedupeBy = "number"
    campaign_id: int | None = None  # campaign DNC lists, campaign dedupe scope
    rule_set: RuleSet | None = None  # consent is required when it says so at `now`
    region: str = "FR"
    keep_unmapped: bool = True  # unmapped columns become custom fields
    now: datetime | None = None
    workers: int = 0  # processes that parse lines (validate numbers) beside this one; 0: parse here
    limits: Limits = field(default_factory=Limits)  # what reading the file may cost (lines, rows, workbook)
    # the key of erased persons' tombstones (core/tombstones.py); None: the configured one
    tombstone_key: bytes | None = None


@dataclass
class Counters:
    rows: int = 0
    accepted: int = 0
    duplicates: int = 0
    dnc: int = 0
    no_consent: int = 0
    invalid: int = 0
    erased: int = 0  # lines of a person whose data was erased (a tombstone)
    bytes_read: int = 0
    encoding: str = ""
    delimiter: str = ""
    fast_numbers: int = 0
    slow_numbers: int = 0


def job_values(c: Counters) -> dict[str, Any]:
    return {
        "rows": c.rows,
        "accepted": c.accepted,
        "duplicates": c.duplicates,
        "dnc": c.dnc,
        "no_consent": c.no_consent,
        "invalid": c.invalid,
        "erased": c.erased,
        "bytes_read": c.bytes_read,
    }
