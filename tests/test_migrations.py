"""The schema comes only from Alembic: upgrade head on an empty database equals the models, and downgrade works."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from backend.db import alembic_config, make_engine
from backend.models import Base
from backend.settings import Settings
from tests.databases import create_database, drop_database


@pytest.fixture
def empty_database(tmp_path: Path):
    url = create_database(tmp_path, "migrations")
    yield url
    drop_database(url)


def _inspect(url: str, work):
    async def run():
        engine = make_engine(Settings(database_url=url, secret_key="x", var_dir=Path("/tmp")))
        try:
            async with engine.connect() as connection:
                return await connection.run_sync(work)
        finally:
            await engine.dispose()

    return asyncio.run(run())


def _drift(connection):
    return compare_metadata(MigrationContext.configure(connection, opts={"compare_type": True}), Base.metadata)


def _tables(connection):
    return set(inspect(connection).get_table_names()) - {"alembic_version"}


def test_upgrade_head_matches_the_models_exactly(empty_database: str) -> None:
    command.upgrade(alembic_config(empty_database), "head")
    assert _inspect(empty_database, _drift) == []
    assert _inspect(empty_database, _tables) == set(Base.metadata.tables)


def test_downgrade_to_base_removes_everything_and_upgrade_works_again(empty_database: str) -> None:
    config = alembic_config(empty_database)
    command.upgrade(config, "head")
    command.downgrade(config, "base")
    assert _inspect(empty_database, _tables) == set()
    command.upgrade(config, "head")
    assert _inspect(empty_database, _drift) == []
