"""Schema-driven fuzzing (schemathesis) of every operation over real HTTP: no input gives a server error."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator

import hypothesis
import pytest
import schemathesis
import uvicorn
from schemathesis import GenerationMode

from app.main import create_app
from app.security import hash_password, token_digest
from core.db import Database
from core.models import ApiToken, Role, User
from core.settings import Settings

TOKEN = "fuzz-admin-token"
# Out of reach of small generated ids, so the fuzzer cannot demote or lock out the user it runs as.
ADMIN_ID = TOKEN_ID = 900_000_001


async def _seed(url: str) -> None:
    db = Database(url)
    async with db.session() as s:
        s.add(
            User(
                id=ADMIN_ID,
                username="fuzz-admin",
                display_name="Fuzz",
                role=Role.admin,
                password_hash=hash_password("irrelevant-password"),
            )
        )
        await s.flush()
        s.add(ApiToken(id=TOKEN_ID, user_id=ADMIN_ID, name="fuzz", token_hash=token_digest(TOKEN)))
        await s.commit()
    await db.dispose()


@pytest.fixture
def live_server(db: Database) -> Iterator[str]:
    asyncio.get_event_loop_policy()  # the server runs its own loop in a thread
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    threading.Thread(target=asyncio.run, args=(_seed(db.url),)).run()
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(Settings(database_url=db.url, secret_key="k", ami_enabled=False)),
            host="127.0.0.1",
            port=port,
            log_level="error",
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        # start-up migrates nothing but builds the app and its pools: 60 s on a loaded two-core machine
        deadline = time.monotonic() + 60
        while not server.started:
            assert time.monotonic() < deadline, "server did not start"
            time.sleep(0.02)
        yield f"http://127.0.0.1:{port}"
    finally:
        # also when it did not start in time: a server left running keeps the service's collector settings
        # and its database pool for the rest of the session
        server.should_exit = True
        thread.join(30)


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_given_any_generated_request_when_sent_then_no_server_error(
    live_server: str, mode: GenerationMode
) -> None:
    schema = schemathesis.openapi.from_url(f"{live_server}/openapi.json")
    failures: list[str] = []
    reached: set[str] = set()  # operations that answered 2xx at least once: proof the fuzzer got past auth
    operations = [r.ok() for r in schema.get_all_operations()]
    assert len(operations) > 25

    for op in operations:

        @hypothesis.settings(
            max_examples=12,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(hypothesis.HealthCheck),
            phases=[hypothesis.Phase.generate],
        )
        @hypothesis.given(case=op.as_strategy(generation_mode=mode))
        def run(case: schemathesis.Case) -> None:
            response = case.call(base_url=live_server, headers={"Authorization": f"Bearer {TOKEN}"})
            if response.status_code < 300:
                reached.add(f"{case.method} {case.path}")
            if response.status_code >= 500:
                failures.append(
                    f"{case.method} {case.path} -> {response.status_code}: {case.as_curl_command()}"
                )

        try:
            run()
        except hypothesis.errors.Unsatisfiable:
            assert mode is GenerationMode.NEGATIVE  # nothing invalid to send (e.g. no parameters at all)
    assert failures == []
    if mode is GenerationMode.POSITIVE:
        # an operation on a given id answers 404 to a random one: count those that need no id
        free = {f"{op.method.upper()} {op.path}" for op in operations if "{" not in op.path}
        assert len(reached & free) >= len(free) // 2, sorted(free - reached)
