"""The API fixture of tests/api (real app, migrated database on both engines, a user per role)."""

from tests.api.conftest import Api, api  # noqa: F401
