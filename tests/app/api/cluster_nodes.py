"""Two or more Plateau apps on one PostgreSQL database, as nodes of a cluster: their settings, each served
with its lifespan run (CTI, relay), the people they serve, and reading their sockets."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import websockets
from fastapi import FastAPI

from app.main import create_app
from app.security import hash_password, new_token, token_digest
from core.db import Database
from core.models import ApiToken, Role, Team, User
from core.settings import Settings
from tests.app.api.live import serving

Person = tuple[str, Role, str, str | None]  # username, role, team name, phone endpoint


async def seed_people(url: str, people: list[Person]) -> dict[str, str]:
    """The people (their teams made on the way); their API tokens by username."""
    db = Database(url)
    tokens: dict[str, str] = {}
    try:
        async with db.session() as s:
            teams: dict[str, Team] = {}
            for name, role, team_name, phone in people:
                if team_name not in teams:
                    teams[team_name] = Team(name=team_name)
                    s.add(teams[team_name])
                    await s.flush()
                user = User(
                    username=name,
                    display_name=name.title(),
                    password_hash=hash_password("correct horse battery"),
                    role=role,
                    team_id=teams[team_name].id,
                    sip_endpoint=phone,
                )
                s.add(user)
                await s.flush()
                tokens[name] = new_token()
                s.add(ApiToken(user_id=user.id, name="test", token_hash=token_digest(tokens[name])))
            await s.commit()
    finally:
        await db.dispose()
    return tokens


def node_settings(url: str, node: str, tmp: Path, **more: Any) -> Settings:
    return Settings(
        database_url=url,
        secret_key="test-secret",
        tombstone_secret="test-tombstone-key",
        ami_enabled=False,
        recordings_dir=tmp / node / "recordings",
        history_dead_letter=tmp / node / "dead.jsonl",
        pbx_cdr_file=tmp / node / "cdr.csv",
        node_name=node,
        **more,
    )


@contextlib.asynccontextmanager
async def serve_node(settings: Settings) -> AsyncIterator[tuple[FastAPI, str]]:
    """A Plateau app with its lifespan run (CTI, relay), served on a real socket: (app, ws://host:port)."""
    app = create_app(settings)
    async with app.router.lifespan_context(app), serving(app) as url:
        yield app, url.replace("http://", "ws://")


async def next_of(ws: websockets.ClientConnection, kind: str, timeout: float = 10.0) -> dict[str, Any]:
    """The next message of that type (batches opened, heartbeats and others skipped)."""
    deadline = time.monotonic() + timeout
    while True:
        msg = json.loads(await asyncio.wait_for(ws.recv(), max(0.01, deadline - time.monotonic())))
        for item in msg["items"] if msg.get("type") == "batch" else [msg]:
            if item.get("type") == kind:
                return item
