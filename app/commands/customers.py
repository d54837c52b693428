"""`plateau import customers` and `plateau person` (a person's data: find, export, erase, object)."""

from __future__ import annotations

import argparse
import json

from app.commands.common import CliError, run_db
from core.settings import load_settings


def _person_query(args: argparse.Namespace) -> dict[str, object]:
    return {"number": args.number, "email": args.email, "contact_id": args.contact_id}


def cmd_person(args: argparse.Namespace) -> int:
    """`plateau person export|erase|object`: the data-rights actions of the admin page, audited as done
    from the command line."""
    from datetime import UTC, datetime
    from pathlib import Path

    from app import person_data, person_zip
    from core.recording_store import store_for

    settings = load_settings()
    store = store_for(settings)
    if args.person_command == "erase" and not args.yes:
        raise CliError("erasure cannot be undone: add --yes")

    async def act(session):  # type: ignore[no-untyped-def]
        try:
            person = await person_data.resolve(session, **_person_query(args), region=settings.default_region)
        except person_data.BadQuery as exc:
            raise CliError(f"{exc.field}: {exc.reason}") from None
        except person_data.PersonNotFound as exc:
            raise CliError(str(exc)) from None
        if args.person_command == "erase":
            return await person_data.erase_person(
                session, person, settings.tombstone_key(), store, datetime.now(UTC), user_id=None
            )
        if args.person_command == "object":
            return await person_data.object_to_calls(session, person, datetime.now(UTC), user_id=None)
        gathered = await person_data.gather(session, person, store)
        detail = {"counts": gathered.counts(), "files": len(gathered.files), "via": "cli"}
        person_data.audit_person(session, "person_exported", person, detail, user_id=None)
        await session.commit()
        out = Path(args.out)
        with out.open("wb") as f:  # noqa: ASYNC230  (the CLI's own file)
            async for chunk in person_zip.zip_stream(gathered, datetime.now(UTC), store):
                f.write(chunk)
        return {"file": str(out), "counts": gathered.counts()}

    print(json.dumps(run_db(act), indent=2))
    return 0


def cmd_import_customers(args: argparse.Namespace) -> int:
    from app.customer_import import MalformedFile, import_customers

    settings = load_settings()
    try:
        report = run_db(
            lambda s: import_customers(
                s,
                args.file,
                settings.default_region,
                zone=settings.timezone,
                encoding=args.encoding,
                delimiter=args.delimiter,
                all_or_nothing=args.all_or_nothing,
                dry_run=args.dry_run,
                tombstone_key=settings.tombstone_key(),
            )
        )
    except MalformedFile as exc:
        raise CliError(f"{args.file}: {exc}; nothing was imported") from None
    except OSError as exc:
        raise CliError(f"{args.file}: {exc.strerror}") from None
    print(report.summary())
    for line, reason in report.rejected[: args.show_rejects]:
        print(f"  line {line}: {reason}")
    if len(report.rejected) > args.show_rejects:
        print(f"  … and {len(report.rejected) - args.show_rejects} more")
    return 0
