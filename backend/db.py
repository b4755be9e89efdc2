"""Database engine, sessions and the declarative base shared by every domain's models."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import enum
import logging
import os
import sqlite3
import threading
import uuid
import weakref
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

from advanced_alchemy.extensions.litestar import (
    AsyncSessionConfig,
    EngineConfig,
    SQLAlchemyAsyncConfig,
)
from advanced_alchemy.extensions.litestar._utils import get_aa_scope_state
from advanced_alchemy.extensions.litestar.plugins.init.config.common import SESSION_TERMINUS_ASGI_EVENTS
from advanced_alchemy.types import DateTimeUTC
from alembic.config import Config as AlembicConfig
from litestar.datastructures import State
from litestar.types import Message, Scope
from sqlalchemy import CheckConstraint, MetaData, Select, event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.engine.interfaces import DBAPIConnection, ExecutionContext
from sqlalchemy.exc import DBAPIError, DisconnectionError, InvalidatePoolError, MissingGreenlet
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, SessionTransaction, mapped_column
from sqlalchemy.pool import AsyncAdaptedQueuePool, PoolProxiedConnection
from sqlalchemy.util import greenlet_spawn
from sqlalchemy.util.queue import AsyncAdaptedQueue, Empty

from backend.settings import PROJECT_ROOT, Settings

logger = logging.getLogger("porchlight.db")

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
    cursor.execute("PRAGMA busy_timeout=5000")  # first: the next one waits for a lock too
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


# Per engine on a SQLite file, by (process, thread): the hot reads' read-only connections; None where it can have none.
_READERS: weakref.WeakKeyDictionary[Engine, dict[tuple[int, int], sqlite3.Connection] | None] = (
    weakref.WeakKeyDictionary()
)


def sqlite_reader(engine: Engine) -> sqlite3.Connection | None:
    """For an engine on a SQLite file in WAL mode, a read-only connection of this thread's own, opened as the
    engine's are; None on PostgreSQL, for a database in memory (no second connection sees it) or a file that cannot
    use WAL. Read in place, on the event loop: a read of a page or a list takes tens of microseconds, and in WAL mode
    it does not wait for writers (each statement reads the last commit), where a hand-off to aiosqlite's thread
    costs several times that in thread switches. Each process and thread has its own (a SQLite connection never
    crosses a fork); all of an engine's are closed when it is disposed."""
    if engine.dialect.name != "sqlite":
        return None
    readers = _READERS.get(engine, {})
    if readers is None:
        return None  # in memory, or no WAL: found when the first was opened
    reader = readers.get(key := (os.getpid(), threading.get_ident()))
    if reader is not None:
        return reader
    (filename, *_), options = engine.dialect.create_connect_args(engine.url)
    if filename == ":memory:":
        _READERS[engine] = None
        return None
    reader = sqlite3.connect(filename, uri=options.get("uri", False), isolation_level=None, check_same_thread=False)
    try:
        reader.execute("PRAGMA busy_timeout=0")  # never waits on the loop for a lock: the engine's connections do
        if reader.execute("PRAGMA journal_mode=WAL").fetchone()[0] != "wal":
            reader.close()
            _READERS[engine] = None  # readers would wait for writers: the engine's own connections read instead
            return None
        reader.execute("PRAGMA query_only=ON")
    except sqlite3.OperationalError as exc:
        reader.close()
        if is_busy(exc):
            return None  # this time: the engine's connections read
        raise
    _READERS.setdefault(engine, {})[key] = reader  # type: ignore[index]
    if not event.contains(engine, "engine_disposed", _close_readers):
        event.listen(engine, "engine_disposed", _close_readers)
    return reader


def is_busy(exc: sqlite3.OperationalError) -> bool:
    """SQLite's "database is locked": another connection holds a lock this one may not wait for."""
    return exc.sqlite_errorcode & 0xFF == sqlite3.SQLITE_BUSY


def _close_readers(engine: Engine) -> None:
    readers = _READERS.get(engine) or {}
    for key, reader in list(readers.items()):
        if key[0] == os.getpid():  # another process's (before a fork) is left as it is
            reader.close()
            del readers[key]


class _FairQueue(AsyncAdaptedQueue[Any]):
    """The pool's idle connections, lent in the order they were asked for. SQLAlchemy's queue (an asyncio.Queue)
    lets a newcomer take a connection put back before the longest waiter has woken, and sends that waiter to the
    back of the line: with 200 clients on 20 connections some requests waited 1.5 s while most took 0.1 s. Here a
    connection put back goes straight to the first waiter, and nobody takes one while others wait."""

    def __init__(self, maxsize: int = 0, use_lifo: bool = False) -> None:
        super().__init__(maxsize, use_lifo)
        self._waiters: deque[asyncio.Future[Any]] = deque()

    def put_nowait(self, item: Any) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():  # done: timed out or cancelled, and gone
                waiter.set_result(item)
                return
        super().put_nowait(item)

    def get_nowait(self) -> Any:
        if self._waiters:
            raise Empty()
        return super().get_nowait()

    def get(self, block: bool = True, timeout: float | None = None) -> Any:
        if not block or (not self._waiters and not self.empty()):
            return self.get_nowait()
        return self.await_(self._wait(timeout))

    async def _wait(self, timeout: float | None) -> Any:
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            async with asyncio.timeout(timeout):
                return await waiter
        except BaseException as exc:
            if waiter.done() and not waiter.cancelled():
                self.put_nowait(waiter.result())  # handed over as the wait ended: to the next in line
            else:
                waiter.cancel()
                with contextlib.suppress(ValueError):
                    self._waiters.remove(waiter)
            if isinstance(exc, TimeoutError):
                raise Empty() from exc  # the pool raises its TimeoutError: 503 to a request
            raise


class FairQueuePool(AsyncAdaptedQueuePool):
    _queue_class = _FairQueue


async def lease(engine: AsyncEngine) -> PoolProxiedConnection:
    """A pooled connection of the engine's, for its driver connection; `give_back` returns it. Lent at once,
    without a greenlet, when one sits idle in the pool and nobody waits (_FairQueue). Waiting for one or opening
    one awaits, and does so in a greenlet, as every checkout did before."""
    try:
        return engine.sync_engine.raw_connection()
    except MissingGreenlet:  # it would have waited or connected: nothing was taken (a record that failed to
        pass  # reconnect went back to the pool as invalidated, as after any failed connect)
    return await greenlet_spawn(engine.sync_engine.raw_connection)


async def give_back(engine: AsyncEngine, connection: PoolProxiedConnection) -> None:
    """Return a leased connection. A sound one on PostgreSQL without awaiting anything: the pool rolls back only a
    transaction SQLAlchemy's adapter began, and the driver's connection was used directly. aiosqlite's rollback,
    and closing what is left of an invalidated connection, await."""
    if engine.dialect.driver == "asyncpg" and connection.is_valid:
        connection.close()
    else:
        await greenlet_spawn(connection.close)


def engine_options(settings: Settings) -> dict[str, Any]:
    """20 connections per process, lent first come first served (_FairQueue), and never more: with an overflow
    (it was 10 more), a connection returned while 20 sat idle was closed, so under load connections were opened and
    closed all the time (on SQLite a thread and four pragmas each, on PostgreSQL a handshake and a backend). 200
    owners on 2 workers on PostgreSQL, 2 cores (`make bench`, serve workers): 1,000 requests/s and a p99 of 0.8-1.2 s
    before, 1,300 and 0.3 s after; 10 connections did no better, so more would only add PostgreSQL backends."""
    return {"poolclass": FairQueuePool, "pool_size": 20, "max_overflow": 0}


def install_sqlite_pragmas(engine: AsyncEngine | Engine) -> None:
    sync_engine = engine.sync_engine if isinstance(engine, AsyncEngine) else engine
    if sync_engine.dialect.name == "sqlite":
        event.listen(sync_engine, "connect", _sqlite_pragmas)


def _refuse_closed_connection(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
    """Before the pool lends a PostgreSQL connection: one the server closed while it sat in the pool (terminated,
    restarted, failed over) is replaced by a fresh one. asyncpg learns of a closed socket as the event loop reads it,
    so this costs no round trip; pool_pre_ping cost three on every checkout (BEGIN, an empty query, ROLLBACK). As
    after a failed pre-ping, the pool's other connections made before now are replaced too (a restart ends them all)."""
    if dbapi_connection.driver_connection.is_closed():
        raise InvalidatePoolError("the server closed this connection while it was idle in the pool")


def install_closed_connection_check(engine: AsyncEngine | Engine) -> None:
    sync_engine = engine.sync_engine if isinstance(engine, AsyncEngine) else engine
    if sync_engine.dialect.driver == "asyncpg":
        event.listen(sync_engine, "checkout", _refuse_closed_connection)


def make_engine(settings: Settings) -> AsyncEngine:
    """The engine of the app, the workers and the CLI; SQLite pragmas, or PostgreSQL's check of idle connections."""
    if settings.is_sqlite:
        _ensure_sqlite_dir(settings.database_url)
    engine = create_async_engine(settings.database_url, **engine_options(settings))
    install_sqlite_pragmas(engine)
    install_closed_connection_check(engine)
    install_reads_outside_transaction(engine)
    return engine


_HOLDS_CONNECTION = "porchlight_holds_connection"  # session.info: its transaction has a connection


def holds_connection(session: Session) -> bool:
    """The session's transaction has taken a connection. `Session.add` begins a transaction without one, and a
    session that never took one gives nothing back when it closes."""
    return bool(session.info.get(_HOLDS_CONNECTION))


@event.listens_for(Session, "after_begin")
def _connection_taken(session: Session, _transaction: SessionTransaction, _connection: Connection) -> None:
    session.info[_HOLDS_CONNECTION] = True  # "begin" is when the session's transaction takes its connection


@event.listens_for(Session, "after_transaction_end")
def _connection_given_back(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:
        session.info.pop(_HOLDS_CONNECTION, None)


# A session marked so (a GET or HEAD request's) reads outside a transaction on PostgreSQL until its first write.
READS_OUTSIDE_TRANSACTION = "reads_outside_transaction"
_READING = "porchlight_reading_outside_transaction"  # on a pooled connection lent to such a session


@event.listens_for(Session, "after_begin")
def _read_outside_transaction(session: Session, _transaction: SessionTransaction, connection: Connection) -> None:
    """A GET's reads on PostgreSQL go without BEGIN and ROLLBACK (two round trips of three on a one-query read):
    under READ COMMITTED each statement sees its own snapshot either way. The first statement that is not a plain
    read starts the transaction as before (see _begin_before_writing), and the session's commit or rollback ends it."""
    if not session.info.get(READS_OUTSIDE_TRANSACTION) or connection.dialect.driver != "asyncpg":
        return
    driver = connection.connection.dbapi_connection
    if driver is not None and not driver.autocommit and not connection.info.get(_READING):
        driver.autocommit = True  # SQLAlchemy's asyncpg adapter: no BEGIN before the next statement
        connection.info[_READING] = True


def _plain_read(context: ExecutionContext, sql: str) -> bool:
    """A SELECT that takes no lock and calls none of PostgreSQL's functions with effects past the statement
    (pg_advisory_xact_lock, pg_notify: a transaction's end is what releases or sends them)."""
    statement = getattr(context, "compiled", None) and context.compiled.statement  # type: ignore[attr-defined]
    return isinstance(statement, Select) and statement._for_update_arg is None and "pg_" not in sql


def _begin_before_writing(
    connection: Connection, _cursor: Any, sql: str, _parameters: Any, context: ExecutionContext, _many: bool
) -> None:
    if connection.info.get(_READING) and not _plain_read(context, sql):
        del connection.info[_READING]
        connection.connection.dbapi_connection.autocommit = False  # type: ignore[union-attr]  # BEGIN, then this


def _end_reading(dbapi_connection: DBAPIConnection, record: Any) -> None:
    if record.info.pop(_READING, False) and dbapi_connection is not None:  # None: invalidated, closed
        dbapi_connection.autocommit = False  # the next borrower starts as every connection does


def install_reads_outside_transaction(engine: AsyncEngine | Engine) -> None:
    sync_engine = engine.sync_engine if isinstance(engine, AsyncEngine) else engine
    if sync_engine.dialect.driver == "asyncpg":
        event.listen(sync_engine, "before_cursor_execute", _begin_before_writing)
        event.listen(sync_engine, "checkin", _end_reading)


# SQLSTATEs of a connection that is gone or not to be had: class 08 (connection exception), 57P01-57P03 (terminated
# by an administrator, a crash or a shutdown; the server is starting up).
_CONNECTION_SQLSTATES = ("08", "57P01", "57P02", "57P03")


def connection_lost(exc: BaseException) -> bool:
    """The database connection died or could not be had (a terminated backend, a restart, a failover, a refused
    connection, a pool with none to give): the same work on a fresh connection a moment later may well succeed.
    A constraint, a bad query or a missing file is not this."""
    if isinstance(exc, DisconnectionError | PoolTimeout):
        return True
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True  # the driver's connection closed under the statement (asyncpg: "connection was closed in the
        # middle of operation", "connection is closed", "cannot switch to state 12; another operation is in progress")
    # Otherwise the driver's own error, the DBAPI one's cause or raised as it is when a connection is being made.
    cause: BaseException | None = exc.orig if isinstance(exc, DBAPIError) else exc
    while cause is not None:
        if isinstance(cause, ConnectionError) or str(getattr(cause, "sqlstate", None) or "").startswith(
            _CONNECTION_SQLSTATES
        ):
            return True
        cause = cause.__cause__
    return False


def connection_error_summary(exc: BaseException) -> str:
    """The driver's reason in one line, for a log line that needs no traceback."""
    return str(getattr(exc, "orig", None) or exc).splitlines()[0]


async def discard_session(session: AsyncSession, what: str) -> None:
    """Close a session whose answer is given; a connection that died meanwhile is thrown away with one warning,
    not an exception nobody can answer any more."""
    try:
        await session.close()
    except Exception as exc:
        if connection_lost(exc):
            logger.warning("database connection lost after %s was answered; the connection is discarded", what)
        else:
            logger.exception("closing the database session of %s failed; the connection is discarded", what)
        try:
            await session.invalidate()
        except Exception:  # already gone: nothing is left to release
            logger.debug("invalidating the session of %s failed", what, exc_info=True)


async def close_request_session(scope: Scope, session_scope_key: str) -> None:
    """Close the request's session (advanced-alchemy's, kept in the scope), if it opened one."""
    session = get_aa_scope_state(scope, session_scope_key, pop=True)
    if session is not None:
        await discard_session(session, f"{scope.get('method', '')} {scope.get('path', '')}")


def request_session_closer(session_scope_key: str) -> Callable[[Message, Scope], Awaitable[None]]:
    """advanced-alchemy's default before-send handler without its failure mode: it closes the request's session as
    the answer starts, and closing rolls back; on a connection cut after the handler's work that rollback raised
    once the response had started (Litestar: "Exception caught after response started"; uvicorn: a plain-text
    500). Here the answer stands. Like the default, it commits nothing: services commit their own work."""

    async def close_session(message: Message, scope: Scope) -> None:
        if message["type"] in SESSION_TERMINUS_ASGI_EVENTS:
            await close_request_session(scope, session_scope_key)

    return close_session


class RequestSessionConfig(SQLAlchemyAsyncConfig):
    """advanced-alchemy's config, whose request session for a GET or HEAD reads outside a transaction."""

    def provide_session(self, state: State, scope: Scope) -> AsyncSession:
        session = super().provide_session(state, scope)
        if scope.get("method") in ("GET", "HEAD"):
            session.info[READS_OUTSIDE_TRANSACTION] = True
        return session


def alchemy_config(
    settings: Settings, engine: AsyncEngine, session_class: type[AsyncSession], info: dict[str, Any]
) -> SQLAlchemyAsyncConfig:
    """advanced-alchemy's Litestar config: one `session_class` per request as the `db` dependency, with `info`."""
    config = RequestSessionConfig(
        engine_instance=engine,
        session_dependency_key="db",
        session_config=AsyncSessionConfig(class_=session_class, expire_on_commit=False, info=info),
        engine_config=EngineConfig(),
        create_all=False,
    )
    # The scope key is made unique per config (several apps in one process) only once the config exists.
    config.before_send_handler = request_session_closer(config.session_scope_key)
    return config


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
