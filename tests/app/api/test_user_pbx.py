"""A user's `pbx`: the Asterisk server their phone registers on (PLATEAU_PBX_SERVERS), set by an admin."""

from __future__ import annotations

import pytest

from core.settings import PbxServer
from tests.app.api.conftest import Api


@pytest.mark.parametrize(
    ("servers", "pbx", "status"),
    [
        (["a", "b"], "b", 200),
        (["a", "b"], None, 200),  # back to the first server
        (["a", "b"], "c", 422),  # no such server
        (["a", "b"], "b c", 422),
        ([], "anything", 200),  # one server from the ami_* settings: the field is not used
    ],
)
async def test_given_pbx_servers_when_an_admin_sets_a_users_pbx_then_only_a_configured_server_is_taken(
    api: Api, servers: list[str], pbx: str | None, status: int
) -> None:
    api.app.state.settings = api.app.state.settings.model_copy(
        update={"pbx_servers": [PbxServer(name=name) for name in servers]}
    )
    admin = await api.bearer("admin")
    r = await admin.patch(f"/api/v1/users/{api.users['agent'].id}", json={"pbx": pbx})
    assert r.status_code == status, r.text
    if status == 200:
        assert r.json()["pbx"] == pbx
