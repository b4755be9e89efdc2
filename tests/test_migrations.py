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


def test_push_messages_waiting_at_0013_are_sent_from_the_one_outbox_after_0014(empty_database: str) -> None:
    """0014 moves push_deliveries into deliveries (push and email): a message still waiting keeps its id and
    state, and the next message gets a later id."""
    import datetime as dt
    import uuid

    import sqlalchemy as sa
    from advanced_alchemy.types import DateTimeUTC
    from sqlalchemy.ext.asyncio import AsyncSession

    from backend.db import utcnow
    from push.models import Channel, Delivery, DeliveryStatus

    config = alembic_config(empty_database)
    command.upgrade(config, "0013")
    user_id, subscription_id = uuid.uuid4(), uuid.uuid4()

    async def with_db(work):
        engine = make_engine(Settings(database_url=empty_database, secret_key="x", var_dir=Path("/tmp")))
        try:
            async with AsyncSession(engine) as db:
                return await work(db)
        finally:
            await engine.dispose()

    def table(name: str, *columns: sa.ColumnClause) -> sa.TableClause:
        return sa.table(name, *columns, sa.column("created_at", DateTimeUTC()))

    users = table("users", sa.column("id", sa.Uuid()), *(sa.column(c) for c in ("email", "display_name", "time_zone")))
    subscriptions = table(
        "push_subscriptions", sa.column("id", sa.Uuid()), sa.column("user_id", sa.Uuid()),
        sa.column("muted_kinds", sa.JSON()), *(sa.column(c) for c in ("endpoint", "p256dh", "auth", "name")),
    )  # fmt: skip
    deliveries = table(
        "push_deliveries", sa.column("subscription_id", sa.Uuid()), sa.column("next_attempt_at", DateTimeUTC()),
        *(sa.column(c) for c in ("id", "payload", "ttl_seconds", "urgency", "topic", "status", "attempts")),
        sa.column("last_error"),
    )  # fmt: skip

    async def seed(db: AsyncSession) -> None:
        now = utcnow()
        await db.execute(
            sa.insert(users).values(
                id=user_id, email="o@example.org", display_name="O", time_zone="UTC", created_at=now
            )
        )
        await db.execute(
            sa.insert(subscriptions).values(
                id=subscription_id, user_id=user_id, muted_kinds=[], endpoint="https://push.example/1", p256dh="k",
                auth="a", name="Phone", created_at=now,
            )
        )  # fmt: skip
        for n, status in enumerate((DeliveryStatus.DELIVERED, DeliveryStatus.PENDING)):
            await db.execute(
                sa.insert(deliveries).values(
                    id=n + 1, subscription_id=subscription_id, payload="{}", ttl_seconds=60, urgency="high",
                    topic="t", status=status, attempts=n, next_attempt_at=now, last_error="",
                    created_at=now - dt.timedelta(minutes=1),
                )
            )  # fmt: skip
        await db.commit()

    async def check(db: AsyncSession):
        copied = (
            await db.execute(sa.select(Delivery.id, Delivery.channel, Delivery.status).order_by(Delivery.id))
        ).all()
        db.add(Delivery(subscription_id=subscription_id, payload="{}", ttl_seconds=60, urgency="normal"))
        await db.commit()
        return [tuple(row) for row in copied], await db.scalar(sa.select(sa.func.max(Delivery.id)))

    asyncio.run(with_db(seed))
    command.upgrade(config, "head")
    copied, newest = asyncio.run(with_db(check))
    assert copied == [(1, Channel.PUSH, DeliveryStatus.DELIVERED), (2, Channel.PUSH, DeliveryStatus.PENDING)]
    assert newest == 3
