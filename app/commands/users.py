"""`plateau user add` and `plateau phone reset-password`."""

from __future__ import annotations

import argparse

from app.commands.common import CliError, run_db
from core.settings import load_settings


def cmd_user_add(args: argparse.Namespace) -> int:
    import getpass

    from sqlalchemy import select
    from sqlalchemy.exc import IntegrityError

    from app.security import hash_password
    from core.audit import audit
    from core.models import Role, Team, User

    password = args.password
    if password is None:
        password = getpass.getpass("Password: ")
        if getpass.getpass("Again: ") != password:
            raise CliError("the two passwords differ")
    if len(password) < 10:
        raise CliError("the password needs at least 10 characters")

    async def add(session):  # type: ignore[no-untyped-def]
        team_id = None
        if args.team:
            team = await session.scalar(select(Team).where(Team.name == args.team))
            if team is None:
                team = Team(name=args.team)
                session.add(team)
                await session.flush()
            team_id = team.id
        user = User(
            username=args.username,
            display_name=args.name or args.username,
            role=Role(args.role),
            password_hash=hash_password(password),
            language=args.language,
            sip_endpoint=args.sip_endpoint,
            team_id=team_id,
        )
        session.add(user)
        try:
            await session.flush()
        except IntegrityError:
            raise CliError(
                f"user {args.username!r} or SIP endpoint {args.sip_endpoint!r} exists already"
            ) from None
        audit(
            session,
            "user_created",
            user_id=None,
            target_type="user",
            target_id=user.id,
            detail={"username": user.username, "role": user.role.value, "via": "cli"},
        )
        await session.commit()
        return user.id

    user_id = run_db(add)
    print(f"user {args.username} ({args.role}) created with id {user_id}")
    return 0


def cmd_phone_reset_password(args: argparse.Namespace) -> int:
    """A new SIP password for USER's phone, printed once; a running private Asterisk takes it at once."""
    from sqlalchemy import select

    from core.audit import audit
    from core.models import User
    from cti.pbx_process import private_provisioner
    from cti.phones import REALM, reset_password

    settings = load_settings()

    async def reset(session):  # type: ignore[no-untyped-def]
        user = await session.scalar(select(User).where(User.username == args.username))
        if user is None:
            raise CliError(f"no user {args.username!r}")
        if not user.sip_endpoint:
            raise CliError(f"user {args.username!r} has no phone (sip_endpoint)")
        password = await reset_password(session, user)
        audit(session, "phone.password_reset", user_id=None, target_type="user", target_id=user.id)
        await session.commit()
        provisioner = private_provisioner()
        applied = await provisioner.apply(session) if provisioner is not None else None
        return user.sip_endpoint, password, applied

    endpoint, password, applied = run_db(reset)
    print(f"phone of {args.username}: user {endpoint}, password {password} (shown once), realm {REALM}")
    print(f"server {settings.pbx_external_signaling_address or settings.pbx_sip_bind}, port "
          f"{settings.pbx_sip_port}, transport UDP")  # fmt: skip
    if applied is None:
        print("no private Asterisk running here: restart `plateau serve --with-pbx` or reload PJSIP")
    return 0
