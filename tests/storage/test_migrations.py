"""Migrations: the schema they build is the one the models declare, on SQLite and PostgreSQL."""

from __future__ import annotations

import warnings

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from storage.db import Database
from storage.models.base import Base


async def test_the_migrated_schema_matches_the_models(db: Database) -> None:
    def differences(connection: object) -> list[object]:
        with warnings.catch_warnings():
            # SQLite cannot reflect the expression index ix_consumers_cell_vec; alembic says so and skips it.
            warnings.filterwarnings("ignore", message=".*expression-based index")
            return compare_metadata(MigrationContext.configure(connection), Base.metadata)  # type: ignore[arg-type]

    async with db.engine.connect() as connection:
        tables = await connection.run_sync(
            lambda sync: set(Base.metadata.tables) - set(inspect(sync).get_table_names())
        )
        assert tables == set()
        assert await connection.run_sync(differences) == []
