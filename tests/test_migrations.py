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


def test_custody_rows_written_before_the_chain_are_chained_and_uploads_lose_the_owners_name(
    empty_database: str,
) -> None:
    """0012 chains the custody rows already recorded, per agency in the order written, after removing the owner's
    name and address from their upload rows; `audit verify` then finds nothing wrong."""
    import datetime as dt
    import uuid

    import sqlalchemy as sa
    from advanced_alchemy.types import DateTimeUTC
    from sqlalchemy.ext.asyncio import AsyncSession

    from backend.requests import audit

    agencies_table = sa.table(
        "agencies", sa.column("id", sa.Uuid()), sa.column("name"), sa.column("created_at", DateTimeUTC())
    )
    events_table = sa.table(
        "custody_events", sa.column("at", DateTimeUTC()), sa.column("agency_id", sa.Uuid()),
        *(sa.column(name) for name in ("action", "actor_name", "case_number", "ip", "sha256", "detail")),
    )  # fmt: skip
    agencies = [uuid.uuid4(), uuid.uuid4()]
    at = dt.datetime(2026, 11, 1, 10, tzinfo=dt.UTC)
    config = alembic_config(empty_database)
    command.upgrade(config, "0011")

    async def with_db(work):
        engine = make_engine(Settings(database_url=empty_database, secret_key="x", var_dir=Path("/tmp")))
        try:
            async with AsyncSession(engine) as db:
                return await work(db)
        finally:
            await engine.dispose()

    async def seed(db: AsyncSession) -> None:
        await db.execute(
            sa.insert(agencies_table), [{"id": a, "name": f"Agency {a}", "created_at": at} for a in agencies]
        )
        for n, (action, agency) in enumerate(
            [("request_sent", 0), ("request_sent", 1), ("upload", 0), ("view", 0), ("download", 1)]
        ):
            await db.execute(
                sa.insert(events_table).values(
                    at=at + dt.timedelta(minutes=n), action=action, agency_id=agencies[agency], case_number="C-1",
                    actor_name="Pat Owner" if action == "upload" else "Det. Ivy", ip="203.0.113.9", sha256="",
                    detail="",
                )
            )  # fmt: skip
        await db.commit()

    async def check(db: AsyncSession):
        upload = await db.execute(sa.text("SELECT actor_name, ip FROM custody_events WHERE action = 'upload'"))
        return await audit.verify(db), tuple(upload.one())

    asyncio.run(with_db(seed))
    command.upgrade(config, "head")
    chains, upload = asyncio.run(with_db(check))
    assert chains.problems == [] and chains.events == 5
    assert sorted(c.events for c in chains.chains) == [2, 3]
    assert upload == ("Camera owner", "")
