"""Secrets stay secret: `plateau config` and start-up errors mask a password inside the database URL, and
the repository's public AMI secret is refused for an Asterisk that is not on loopback."""

from __future__ import annotations

import pytest

from app.cli import main
from core.settings import get_settings


@pytest.fixture(autouse=True)
def _fresh_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PLATEAU_SECRET_KEY", "cli-test-secret")
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (
            "postgresql://bob:hunter2@db.example/plateau",
            "postgresql+asyncpg://bob:********@db.example/plateau",
        ),
        ("postgresql://bob:hunt@er2@db/plateau", "postgresql+asyncpg://bob:********@db/plateau"),
        ("postgresql://bob:hun:ter2@db/plateau", "postgresql+asyncpg://bob:********@db/plateau"),
        ("postgresql://bob:hu/nter2@db/plateau", "postgresql+asyncpg://bob:********@db/plateau"),
        (
            "postgresql://bob@db/plateau?password=hunter2&sslmode=require",
            "postgresql+asyncpg://bob@db/plateau?password=********&sslmode=require",
        ),
        ("postgresql://bob@db/plateau", "postgresql+asyncpg://bob@db/plateau"),
    ],
)
def test_given_a_password_in_the_database_url_when_config_is_printed_then_it_is_masked(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], url: str, shown: str
) -> None:
    monkeypatch.setenv("PLATEAU_DATABASE_URL", url)
    assert main(["config"]) == 0
    out = capsys.readouterr().out
    assert "hunter2" not in out and "hunt" not in out and "ter2" not in out
    assert f'"database_url": "{shown}"' in out


def test_given_a_bad_database_url_holding_a_password_when_refused_then_the_error_masks_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PLATEAU_DATABASE_URL", "mysql://bob:hunter2@db/plateau")
    assert main(["config"]) == 2
    err = capsys.readouterr().err
    assert "PLATEAU_DATABASE_URL" in err and "hunter2" not in err and "mysql://bob:********@db" in err


@pytest.mark.parametrize(
    ("host", "secret", "enabled", "refused"),
    [
        ("10.1.2.3", None, "true", True),
        ("pbx.example", None, "true", True),
        ("10.1.2.3", "a-real-secret", "true", False),
        ("10.1.2.3", None, "false", False),  # no AMI, nothing to protect
        ("127.0.0.1", None, "true", False),
        ("localhost", None, "true", False),
        ("::1", None, "true", False),
    ],
)
def test_given_the_default_ami_secret_when_the_pbx_is_not_on_loopback_then_refused_naming_it(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    host: str,
    secret: str | None,
    enabled: str,
    refused: bool,
) -> None:
    monkeypatch.setenv("PLATEAU_AMI_HOST", host)
    monkeypatch.setenv("PLATEAU_AMI_ENABLED", enabled)
    if secret:
        monkeypatch.setenv("PLATEAU_AMI_SECRET", secret)
    assert main(["config"]) == (2 if refused else 0)
    err = capsys.readouterr().err
    assert ("PLATEAU_AMI_SECRET" in err and host in err) is refused


def test_given_a_trusted_proxy_that_is_no_address_when_started_then_the_variable_is_named(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PLATEAU_TRUSTED_PROXIES", "10.0.0.1, proxy.example")
    assert main(["config"]) == 2
    assert "PLATEAU_TRUSTED_PROXIES" in (err := capsys.readouterr().err) and "proxy.example" in err
