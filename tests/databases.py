"""Throw-away databases for tests: a SQLite file, or a uniquely named PostgreSQL database (the name says which
pytest-xdist worker made it)."""

from __future__ import annotations

import asyncio
import os
import uuid
from pathlib import Path

import asyncpg
from sqlalchemy.engine import make_url

POSTGRES_URL = os.environ.get("PORCHLIGHT_TEST_DATABASE_URL", "")
WORKER = os.environ.get("PYTEST_XDIST_WORKER", "main")  # gw0, gw1, ... under pytest-xdist


def _pg_dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def _pg_execute(statement: str) -> None:
    connection = await asyncpg.connect(_pg_dsn(POSTGRES_URL))
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


def create_database(directory: Path, label: str) -> str:
    """A new empty database; returns its SQLAlchemy URL."""
    name = f"porchlight_{label}_{WORKER}_{uuid.uuid4().hex[:10]}"
    if POSTGRES_URL:
        asyncio.run(_pg_execute(f'CREATE DATABASE "{name}"'))
        return make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    return f"sqlite+aiosqlite:///{directory / (name + '.db')}"


def drop_database(url: str) -> None:
    if POSTGRES_URL:
        name = make_url(url).database
        asyncio.run(_pg_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
