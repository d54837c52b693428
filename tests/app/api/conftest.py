"""An API client on the real app and a migrated database (SQLite and PostgreSQL), with users of every role."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import httpx
import pytest_asyncio
from fastapi import FastAPI

from app.main import create_app
from app.security import hash_password, new_token, token_digest
from core.db import Database
from core.models import ApiToken, Role, Team, User
from core.settings import Settings

PASSWORD = "correct horse battery"


@dataclass
class Api:
    app: FastAPI
    db: Database
    users: dict[str, User]
    _tokens: dict[str, str] = field(default_factory=dict)

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=httpx.ASGITransport(app=self.app), base_url="http://plateau.test")

    async def login(self, username: str) -> httpx.AsyncClient:
        """A cookie-authenticated client that sends the CSRF header, like the web pages do."""
        client = self.client()
        r = await client.post("/api/v1/auth/login", json={"username": username, "password": PASSWORD})
        assert r.status_code == 200, r.text
        client.headers["X-CSRF-Token"] = r.json()["csrf_token"]
        return client

    async def bearer(self, username: str) -> httpx.AsyncClient:
        """A client with an API token, minted straight in the database (logins are tested on their own)."""
        if username not in self._tokens:
            raw = new_token()
            async with self.db.session() as s:
                s.add(ApiToken(user_id=self.users[username].id, name="test", token_hash=token_digest(raw)))
                await s.commit()
            self._tokens[username] = raw
        return httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app),
            base_url="http://plateau.test",
            headers={"Authorization": f"Bearer {self._tokens[username]}"},
        )


@pytest_asyncio.fixture
async def api(db: Database) -> AsyncIterator[Api]:
    settings = Settings(
        database_url=db.url,
        secret_key="test-secret",
        tombstone_secret="test-tombstone-key",
        login_rate_limit=3,
        ami_enabled=False,
    )
    app = create_app(settings)
    app.state.db = db  # the lifespan is not run by ASGITransport
    users: dict[str, User] = {}
    pw = hash_password(PASSWORD)
    async with db.session() as s:
        team, other = Team(name="Équipe A"), Team(name="Équipe B")
        s.add_all([team, other])
        await s.flush()
        for name, role, t in [
            ("agent", Role.agent, team),
            ("agent2", Role.agent, other),
            ("supervisor", Role.supervisor, team),
            ("manager", Role.manager, None),
            ("admin", Role.admin, None),
        ]:
            u = User(
                username=name,
                display_name=name.title(),
                password_hash=pw,
                role=role,
                team_id=t.id if t else None,
                sip_endpoint=f"ep-{name}",
            )
            s.add(u)
            users[name] = u
        await s.commit()
    yield Api(app, db, users)
