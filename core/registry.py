"""The model registry: every module that declares tables on `Base.metadata`, in one place.

Alembic's environment and the app factory import it, so the metadata they see holds every table; a new table
module is added here (and nowhere else is a module imported only for its tables).
"""

from __future__ import annotations

from types import ModuleType

from sqlalchemy import MetaData

from core import base, bus_tables, dialer_tables, ivr_tables, models

MODEL_MODULES: tuple[ModuleType, ...] = (models, dialer_tables, ivr_tables, bus_tables)

metadata: MetaData = base.Base.metadata
