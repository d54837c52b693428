"""What the commands share: a session on the configured database, the outbound runner, the CLI's error."""

from __future__ import annotations

from core.settings import load_settings


def run_db(coro_fn):  # type: ignore[no-untyped-def]
    """Run `coro_fn(session)` against the configured database."""
    import asyncio

    from core.db import Database

    async def main():  # type: ignore[no-untyped-def]
        db = Database(load_settings().database_url)
        try:
            async with db.session() as session:
                return await coro_fn(session)
        finally:
            await db.dispose()

    return asyncio.run(main())


class CliError(Exception):
    """A user-facing error: printed without a traceback, exit code 2."""


def run_outbound(fn):  # type: ignore[no-untyped-def]
    """Run an outbound CLI coroutine `fn(db, region)`; its user-facing errors become CliError."""
    import asyncio

    from core.db import Database
    from dialer.cli_outbound import OutboundCliError

    settings = load_settings()

    async def main():  # type: ignore[no-untyped-def]
        db = Database(settings.database_url)
        try:
            return await fn(db, settings.default_region)
        finally:
            await db.dispose()

    try:
        return asyncio.run(main())
    except OutboundCliError as exc:
        raise CliError(str(exc)) from None
