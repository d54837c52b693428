"""PLATEAU_PBX_SERVERS: several Asterisk servers, or one built from the ami_* settings."""

from __future__ import annotations

import json

import pytest

from core.settings import ConfigError, load_settings

B = {"name": "b", "ami_host": "127.0.0.1", "ami_port": 6038, "channel_limit": 30}


def test_given_no_servers_when_loaded_then_one_server_from_the_ami_settings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("PLATEAU_PBX_SERVERS", raising=False)
    monkeypatch.setenv("PLATEAU_AMI_PORT", "5999")
    monkeypatch.setenv("PLATEAU_AMI_TRUNKS", '["carrier"]')
    monkeypatch.setenv("PLATEAU_PBX_CDR_FILE", "/var/log/asterisk/cdr-custom/plateau.csv")
    (server,) = load_settings().pbx_list()
    assert (server.name, server.ami_port, server.channel_limit) == (None, 5999, None)
    assert "carrier" in server.trunks
    assert str(server.cdr_file) == "/var/log/asterisk/cdr-custom/plateau.csv"


def test_given_servers_with_and_without_call_records_when_loaded_then_each_keeps_its_own(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PLATEAU_PBX_CDR_FILE", "/elsewhere/plateau.csv")
    servers = [{"name": "a", "cdr_file": "/mnt/pbx-a/cdr-custom/plateau.csv"}, B]
    monkeypatch.setenv("PLATEAU_PBX_SERVERS", json.dumps(servers))
    files = [(s.name, s.cdr_file and str(s.cdr_file)) for s in load_settings().pbx_list()]
    assert files == [("a", "/mnt/pbx-a/cdr-custom/plateau.csv"), ("b", None)]


@pytest.mark.parametrize(
    ("servers", "error"),
    [
        ([{"name": "a"}, B], None),
        ([{"name": "a"}, {**B, "name": "a"}], "a given twice"),
        ([{"ami_port": 6000}], "needs a name"),
        ([{"name": "bad name"}], "PLATEAU_PBX_SERVERS"),
        ([{"name": "a", "channel_limit": 0}], "PLATEAU_PBX_SERVERS"),
        ([{"name": "a", "ami_host": "10.0.0.5"}], "development default secret is public"),
        ([{"name": "a", "ami_host": "10.0.0.5", "ami_secret": "s3cret"}], None),
        ([{"name": "a", "unknown": 1}], "PLATEAU_PBX_SERVERS"),
    ],
)
def test_given_pbx_servers_json_when_loaded_then_valid_ones_are_kept_in_order(
    monkeypatch: pytest.MonkeyPatch, servers: list[dict[str, object]], error: str | None
) -> None:
    monkeypatch.setenv("PLATEAU_PBX_SERVERS", json.dumps(servers))
    if error is None:
        assert [s.name for s in load_settings().pbx_list()] == [s["name"] for s in servers]
    else:
        with pytest.raises(ConfigError, match=error):
            load_settings()


def test_given_a_server_secret_when_masked_or_refused_then_it_is_never_shown(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PLATEAU_PBX_SERVERS", json.dumps([{"name": "a", "ami_secret": "s3cret"}]))
    assert "s3cret" not in str(load_settings().masked())
    monkeypatch.setenv("PLATEAU_PBX_SERVERS", json.dumps([{"name": "a b", "ami_secret": "s3cret"}]))
    with pytest.raises(ConfigError) as refused:
        load_settings()
    assert "s3cret" not in str(refused.value)
