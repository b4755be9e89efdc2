"""Database engine, sessions and the declarative base shared by every domain's models."""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from typing import Any

from advanced_alchemy.extensions.litestar import (
    AsyncSessionConfig,
    EngineConfig,
    SQLAlchemyAsyncConfig,
)
from advanced_alchemy.types import DateTimeUTC
from alembic.config import Config as AlembicConfig
from sqlalchemy import CheckConstraint, MetaData, event
from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from backend.settings import PROJECT_ROOT, Settings

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {dt.datetime: DateTimeUTC(timezone=True)}


def enum_check(column: str, values: type[enum.StrEnum], name: str) -> CheckConstraint:
    """A CHECK that the column holds one of the enum's values (both databases)."""
    allowed = ", ".join(repr(v.value) for v in values)
    return CheckConstraint(f"{column} IN ({allowed})", name=name)


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def uuid_pk() -> Mapped[uuid.UUID]:
    return mapped_column(primary_key=True, default=uuid.uuid4)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def engine_options(settings: Settings) -> dict[str, Any]:
    if settings.is_sqlite:
        return {}
    return {"pool_size": 10, "max_overflow": 10, "pool_pre_ping": True}


def install_sqlite_pragmas(engine: AsyncEngine | Engine) -> None:
    sync_engine = engine.sync_engine if isinstance(engine, AsyncEngine) else engine
    if sync_engine.dialect.name == "sqlite":
        event.listen(sync_engine, "connect", _sqlite_pragmas)


def make_engine(settings: Settings) -> AsyncEngine:
    """An engine for code that runs outside a request (CLI, demo seeding, tests)."""
    if settings.is_sqlite:
        _ensure_sqlite_dir(settings.database_url)
    engine = create_async_engine(settings.database_url, **engine_options(settings))
    install_sqlite_pragmas(engine)
    return engine


def alchemy_config(settings: Settings, engine: AsyncEngine) -> SQLAlchemyAsyncConfig:
    """advanced-alchemy's Litestar config: one AsyncSession per request as the `db` dependency."""
    return SQLAlchemyAsyncConfig(
        engine_instance=engine,
        session_dependency_key="db",
        session_config=AsyncSessionConfig(expire_on_commit=False),
        engine_config=EngineConfig(),
        create_all=False,
    )


def _ensure_sqlite_dir(url: str) -> None:
    path = url.split(":///", 1)[-1]
    if path and path != ":memory:":
        from pathlib import Path

        Path(path).parent.mkdir(parents=True, exist_ok=True)


def alembic_config(database_url: str) -> AlembicConfig:
    """Alembic is configured in code: the top level of the repository holds no alembic.ini."""
    if database_url.startswith("sqlite"):
        _ensure_sqlite_dir(database_url)
    config = AlembicConfig()
    config.set_main_option("script_location", str(PROJECT_ROOT / "migrations"))
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def migrate(database_url: str, revision: str = "head") -> None:
    from alembic import command

    command.upgrade(alembic_config(database_url), revision)


# Tables the application only ever reads and appends to; on PostgreSQL its user gets no UPDATE or DELETE on them.
APPEND_ONLY_TABLES = ("custody_events",)


def app_grants(role: str) -> list[str]:
    """The PostgreSQL grants for the database user the application runs as (`porchlight grants ROLE`)."""
    quoted = '"' + role.replace('"', '""') + '"'
    return [
        f"GRANT USAGE ON SCHEMA public TO {quoted}",
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {quoted}",
        f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {quoted}",
        *(f"REVOKE UPDATE, DELETE, TRUNCATE ON {table} FROM {quoted}" for table in APPEND_ONLY_TABLES),
        f"REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON alembic_version FROM {quoted}",
    ]
