"""Checking one line of a customer file: names, numbers, tier, identifiers, lengths and the care columns."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from app.customer_import.columns import (
    _CONTROL,
    _SHORTEST_LIMIT,
    CARE_STATUSES,
    LIMITS,
    MAX_CELL,
    MAX_COMPANY,
    MAX_LOSS_REASON,
    TIERS,
    ImportReport,
    _Row,
    loss_date,
)
from core.models import NumberKind
from cti.numbers import MAX_INPUT_LEN, SEPARATORS, SUFFIX_DIGITS, InvalidNumber, classify, parse


class LineChecks:
    """A line of the file to a row to write, or a rejection with its reason."""

    def _layout(self, columns: list[str | None]) -> None:
        self._columns = columns
        self._mapped = [i for i, col in enumerate(columns) if col is not None]
        for i, col in enumerate(columns):
            if col is None:
                continue
            if col.startswith("number:"):
                self._number_columns.append((i, NumberKind(col.split(":", 1)[1])))
            else:
                self._fields.append((i, col))

    def _row(self, line: int, cells: list[str], report: ImportReport) -> _Row | None:
        """A line as a row to write, or None when it is rejected (the reason added to the report).

        `cells` holds one cell per header column. A line is checked as a whole first: only a line where
        some cell may be too long or hold control characters is walked cell by cell, for the reason."""
        mapped = [cells[i] for i in self._mapped]
        if max(map(len, mapped)) > MAX_CELL or _CONTROL.search("\t".join(mapped)):
            for i in self._mapped:
                cell = cells[i].strip()
                if cell and (len(cell) > MAX_CELL or _CONTROL.search(cell)):
                    report.rejected.append(
                        (line, f"{self._columns[i]}: too long or contains control characters")
                    )
                    return None
        values: dict[str, str] = {}
        for i, col in self._fields:
            cell = cells[i].strip()
            if cell and col not in values:  # the first filled column of a field wins
                values[col] = cell
        numbers = [(kind, cell) for i, kind in self._number_columns if (cell := cells[i].strip())]
        company = values.pop("company", None)
        last_name = values.get("last_name") or company
        if not last_name:
            report.rejected.append((line, "no name"))
            return None
        if not numbers:
            report.rejected.append((line, "no phone number"))
            return None
        parsed: list[tuple[Any, ...]] = []
        for kind, raw in numbers:
            # The shared fast path (phonenumbers' own answer, see cti.numbers.classify), else parse().
            found = classify(raw.translate(SEPARATORS), self.region) if len(raw) <= MAX_INPUT_LEN else None
            if found is not None:
                e164, extension = found[0], None
            else:
                try:
                    p = parse(raw, self.region)
                except InvalidNumber as exc:
                    report.rejected.append((line, f"number {raw!r}: {exc.reason}"))
                    return None
                e164, extension = p.e164, p.extension
            if not any(n[1] == e164 and n[3] == extension for n in parsed):  # a number once per contact
                # suffix_key: cti.numbers.suffix_key of an E.164
                parsed.append((kind, e164, e164[1:][-SUFFIX_DIGITS:], extension, raw))
        tier = TIERS.get(values.get("tier", "").lower())
        if tier is None:
            report.rejected.append((line, f"tier {values['tier']!r}: expected VIP, Gold, Standard or Low"))
            return None
        ext = values.get("external_id")
        if ext is not None:
            if ext in self._external_ids:
                report.rejected.append((line, f"identifier {ext!r} appears twice in the file"))
                return None
            self._external_ids.add(ext)
        lang = values.get("language", "").lower()[:2] or None
        if (
            max(map(len, values.values()), default=0) > _SHORTEST_LIMIT
            or len(last_name) > LIMITS["last_name"]
        ):
            values.setdefault("last_name", last_name)  # a name taken from the company must fit the column too
            for k, n in LIMITS.items():
                if k in values and len(values[k]) > n:
                    report.rejected.append((line, f"{k}: longer than {n} characters"))
                    return None
        if company and len(company) > MAX_COMPANY:
            report.rejected.append((line, f"company: longer than {MAX_COMPANY} characters"))
            return None
        care = self._care(values, line, report)
        if care is None:
            return None
        status, lost_at, reason = care
        account_lost = (lost_at, reason) if company and status == "lost" and lost_at and reason else None
        if company:  # the account is the customer: its contact stays active
            status, lost_at, reason = "active", None, None
        get = values.get
        contact = (
            get("first_name", ""),
            last_name,
            get("email"),
            get("job_title"),
            get("role"),
            tier,
            get("segment"),
            lang if lang and lang.isalpha() else None,
            ext,
            status,
            lost_at,
            reason,
        )
        return _Row(line, contact, company, parsed, account_lost)

    def _care(
        self, values: dict[str, str], line: int, report: ImportReport
    ) -> tuple[str, datetime | None, str | None] | None:
        """The line's care status, loss date and reason, or None when rejected (the reason reported)."""
        raw_status = values.get("care_status", "")
        status = CARE_STATUSES.get(raw_status.lower())
        if status is None:
            report.rejected.append((line, f"status {raw_status!r}: expected actif/active or perdu/lost"))
            return None
        date_text, reason = values.get("lost_at"), values.get("loss_reason")
        if status != "lost":
            if date_text or reason:
                report.rejected.append((line, "loss date or reason given for a customer who is not lost"))
                return None
            return status, None, None
        if not reason:
            report.rejected.append((line, "loss reason: a lost customer needs one"))
            return None
        if len(reason) > MAX_LOSS_REASON:
            report.rejected.append((line, f"loss reason: longer than {MAX_LOSS_REASON} characters"))
            return None
        try:
            lost_at = loss_date(date_text, self.zone, self._now) if date_text else self._now
        except ValueError as exc:
            report.rejected.append((line, f"loss date {exc}"))
            return None
        return status, lost_at, reason
