"""The API fixture of tests/app/api (real app, migrated database on both engines, a user per role)."""

from tests.app.api.conftest import Api, api  # noqa: F401
