"""Scrubbing a batch of parsed lines before it is written: consent, erased persons, do-not-call lists,
duplicates.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson
from sqlalchemy import select

from core.dialer_tables import DncEntry, Lead, LeadNumber, RejectKind
from core.tombstones import ERASED_REASON
from dialer.list_import.rows import _CONSENT, _E164S, _EXTERNAL_ID, _FIELDS, _LINE, Earlier, _Row


def _chunks(values: list[Any], n: int) -> Iterator[list[Any]]:
    for i in range(0, len(values), n):
        yield values[i : i + n]


class Scrubbing:
    """Per batch: consent, erased persons, do-not-call lists and duplicates, found by indexed queries."""

    async def _scrub(self, batch: list[_Row], rejects: list[tuple[int, RejectKind, str]]) -> list[_Row]:
        c = self.counters
        if not batch:
            return []
        if self._consent_required:
            kept = []
            for r in batch:
                if r[_CONSENT]:
                    kept.append(r)
                else:
                    c.no_consent += 1
                    rejects.append((r[_LINE], RejectKind.no_consent, self._no_consent))
            batch = kept
        if self._tombstones:
            batch = self._buried(batch, rejects)
        numbers = list({e for r in batch for e in r[_E164S]})
        dnc = await self._existing_dnc(numbers) if self._dnc_lists and numbers else set()
        taken: dict[str, Earlier]
        if self.opt.dedupe_by == "number":
            taken = await self._existing_numbers(numbers) if numbers else {}
        else:
            taken = await self._existing_external_ids([r[_EXTERNAL_ID] for r in batch if r[_EXTERNAL_ID]])
        kept = []
        by_number = self.opt.dedupe_by == "number"
        for r in batch:
            line, external_id = r[_LINE], r[_EXTERNAL_ID]
            e164s = r[_E164S]
            if dnc:
                hit = sorted({e for e in e164s if e in dnc})
                if hit:
                    c.dnc += 1
                    rejects.append((line, RejectKind.dnc, f"{', '.join(hit)} is on a do-not-call list"))
                    continue
            if by_number:
                dup = next((e for e in e164s if e in taken), None)
                if dup is not None:
                    c.duplicates += 1
                    rejects.append((line, RejectKind.duplicate, self._duplicate(dup, taken[dup])))
                    continue
                for e in e164s:  # later lines of the same batch
                    taken[e] = (line, self.job_id, True)
            elif external_id:
                if external_id in taken:
                    c.duplicates += 1
                    what = f"identifier {external_id!r}"
                    rejects.append((line, RejectKind.duplicate, self._duplicate(what, taken[external_id])))
                    continue
                taken[external_id] = (line, self.job_id, True)
            kept.append(r)
        return kept

    def _buried(self, batch: list[_Row], rejects: list[tuple[int, RejectKind, str]]) -> list[_Row]:
        """The lines of an erased person (one of their numbers or their e-mail is a tombstone) are skipped
        and reported, without the number: what was erased is not written again, not even in a reject."""
        kept = []
        for r in batch:
            email = orjson.loads(r[_FIELDS]).get("email") if '"email"' in r[_FIELDS] else None
            if any(self._tombstones.number(e) for e in r[_E164S]) or self._tombstones.email(email):
                self.counters.erased += 1
                rejects.append((r[_LINE], RejectKind.erased, ERASED_REASON))
            else:
                kept.append(r)
        return kept

    def _duplicate(self, what: str, earlier: Earlier) -> str:
        """A duplicate's reason, naming the line it repeats: of this file, or of an earlier import."""
        line, job, here = earlier
        here = here or (job is not None and job == self.job_id)
        if line is None:
            return f"{what} is already in {self._scope_name()}"
        if here:
            return f"duplicate of line {line} ({what})"
        of = f"line {line} of import {job}" if job is not None else f"line {line}"
        return f"duplicate of {of}: {what} is already in {self._scope_name()}"

    def _scope_name(self) -> str:
        return {"list": "this list", "campaign": "this campaign's lists", "all": "a call list"}[
            self.opt.dedupe_scope
        ]

    async def _existing_numbers(self, numbers: list[str]) -> dict[str, Earlier]:
        """The numbers already in the dedupe scope, with the line and import of a lead that has each."""
        lists = self._scope_lists
        out: dict[str, Earlier] = {}
        if self._pg:
            sql = (
                "SELECT n.e164, l.source_line, l.import_job_id"
                " FROM lead_numbers n JOIN leads l ON l.id = n.lead_id WHERE n.e164 = ANY($1::text[])"
            )
            if lists is None:
                found = await self._raw.fetch(sql, numbers)
            else:
                found = await self._raw.fetch(sql + " AND n.list_id = ANY($2::bigint[])", numbers, lists)
            for e164, line, job in found:
                out.setdefault(e164, (line, job, False))
            return out
        for chunk in _chunks(numbers, 500):
            q = (
                select(LeadNumber.e164, Lead.source_line, Lead.import_job_id)
                .join(Lead, Lead.id == LeadNumber.lead_id)
                .where(LeadNumber.e164.in_(chunk))
            )
            if lists is not None:
                q = q.where(LeadNumber.list_id.in_(lists))
            for e164, line, job in await self.db.execute(q):
                out.setdefault(e164, (line, job, False))
        return out

    async def _existing_external_ids(self, ids: list[str]) -> dict[str, Earlier]:
        if not ids:
            return {}
        lists = self._scope_lists
        out: dict[str, Earlier] = {}
        for chunk in _chunks(ids, 500):
            q = select(Lead.external_id, Lead.source_line, Lead.import_job_id).where(
                Lead.external_id.in_(chunk)
            )
            if lists is not None:
                q = q.where(Lead.list_id.in_(lists))
            for external_id, line, job in await self.db.execute(q):
                if external_id is not None:
                    out.setdefault(external_id, (line, job, False))
        return out

    async def _existing_dnc(self, numbers: list[str]) -> set[str]:
        if self._pg:
            sql = (
                "SELECT e164 FROM dnc_entries"
                " WHERE e164 = ANY($1::text[]) AND dnc_list_id = ANY($2::bigint[])"
            )
            return {r[0] for r in await self._raw.fetch(sql, numbers, self._dnc_lists)}
        out: set[str] = set()
        for chunk in _chunks(numbers, 500):
            q = select(DncEntry.e164).where(
                DncEntry.e164.in_(chunk), DncEntry.dnc_list_id.in_(self._dnc_lists)
            )
            out.update(await self.db.scalars(q))
        return out
