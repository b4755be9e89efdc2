"""Hot reads: a Core select that every signed-in page or list runs, executed on the database driver's own
connection instead of through SQLAlchemy's execution path.

The statement is still SQLAlchemy Core (the one place its columns, joins and filters are written), compiled once per
database; values go in and come out converted as SQLAlchemy would convert them (UUIDs and times on SQLite). What is
skipped is the per-statement work: the cache key, the execution context, the Result and Row objects.

Once the session has used a connection it runs on that one, so it sees what the session wrote (flushed first, as an
ORM select would). Before that it reads what was last committed on a connection of its own: on PostgreSQL a pooled
one, on SQLite this thread's read-only connection, read in place without aiosqlite's thread hand-offs. Only plain
reads: no bind parameter that expands (IN lists), nothing that writes. A read that fails or is cancelled half way
invalidates its connection; a connection that failed is a DisconnectionError (backend.db.connection_lost: retried
once, or a 503).
"""

from __future__ import annotations

import sqlite3
from collections import namedtuple
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any

from sqlalchemy import ColumnElement, Select
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlalchemy.sql.type_api import NULLTYPE
from sqlalchemy.util import greenlet_spawn

from backend.db import connection_lost, give_back, holds_connection, is_busy, lease, sqlite_reader

Part = ColumnElement[Any] | Sequence[ColumnElement[Any]]
Invalidate = Callable[[BaseException], Awaitable[Any]]


class _Compiled:
    """The statement's SQL for one database, and how to turn parameters and rows into the driver's and back."""

    def __init__(self, statement: Select, dialect: Dialect, shapes: list[tuple[int, int, Any]]) -> None:
        compiled = statement.compile(dialect=dialect)
        self.sql = compiled.string
        self.names = list(compiled.positiontup or ())
        self.constants: dict[str, Any] = {}  # values given in the statement itself (a LIMIT of 51)
        self.bind: dict[str, Callable[[Any], Any]] = {}
        for bind, name in compiled.bind_names.items():
            if bind.expanding:
                raise ValueError(f"a hot read cannot expand bind parameter {name!r} (an IN list)")
            if not bind.required:
                self.constants[name] = bind.effective_value
            elif bind.type is NULLTYPE:
                raise ValueError(f"bind parameter {name!r} needs a type (bindparam({name!r}, type_=...))")
            processor = bind.type.dialect_impl(dialect).bind_processor(dialect)
            if processor is not None:
                self.bind[name] = processor
        processors = [_result_processor(column, dialect) for column in statement.selected_columns]
        # Each part: where its values are in a row, its named tuple (None: a single value), and its converters.
        self.parts = [
            (start, stop, shape, [(n - start, p) for n, p in enumerate(processors[start:stop], start) if p])
            for start, stop, shape in shapes
        ]
        self.asyncpg = dialect.driver == "asyncpg"

    def arguments(self, params: dict[str, Any]) -> tuple[Any, ...]:
        values = {**self.constants, **params}
        out = []
        for name in self.names:
            value = values[name]
            processor = self.bind.get(name)
            out.append(processor(value) if processor is not None and value is not None else value)
        return tuple(out)

    def rows(self, fetched: Iterable[Sequence[Any]]) -> list[tuple[Any, ...]]:
        """The driver's rows as tuples of parts. A part whose values repeat the row before's (a request beside each
        of its cameras) is that row's part again, not converted a second time: values that compare equal convert
        alike for the types our tables use, and a part is a tuple nobody changes."""
        out = []
        last: list[tuple[Any, Any]] = [((), None)] * len(self.parts)  # per part: the row before's values, and part
        for record in fetched:
            values = tuple(record)
            row = []
            for i, (start, stop, shape, processors) in enumerate(self.parts):
                raw = values[start:stop]
                if raw == last[i][0]:
                    row.append(last[i][1])
                    continue
                converted = list(raw) if processors else raw
                for n, processor in processors:
                    if converted[n] is not None:  # NULL is None whatever the type (of the types our tables use)
                        converted[n] = processor(converted[n])
                part = converted[0] if shape is None else shape._make(converted)
                last[i] = (raw, part)
                row.append(part)
            out.append(tuple(row))
        return out


def _result_processor(column: ColumnElement[Any], dialect: Dialect) -> Callable[[Any], Any] | None:
    try:
        return column.type.dialect_impl(dialect).result_processor(dialect, None)
    except TypeError:  # asyncpg's numeric types ask for the column's type code; floats come as they are
        return None


class HotRead:
    """A select of `parts` (each a table's columns, given as one named tuple, or a single column, given as its
    value) run on the driver: `await read.rows(db, name=value)` gives one tuple of parts per row, as an ORM select of
    Bundles would."""

    def __init__(self, statement: Select, *parts: Part) -> None:
        self.statement = statement
        self._shapes: list[tuple[int, int, Any]] = []
        start = 0
        for part in parts:
            if isinstance(part, ColumnElement):
                self._shapes.append((start, start + 1, None))
                start += 1
            else:
                columns = list(part)
                keys = [c.key for c in columns]
                self._shapes.append((start, start + len(columns), namedtuple("Part", keys)))  # type: ignore[misc]
                start += len(columns)
        if start != len(statement.selected_columns):
            raise ValueError(f"the parts name {start} columns; the statement selects {len(statement.selected_columns)}")
        self._compiled: dict[str, _Compiled] = {}

    def _for(self, dialect: Dialect) -> _Compiled:
        compiled = self._compiled.get(dialect.name)
        if compiled is None:
            compiled = self._compiled[dialect.name] = _Compiled(self.statement, dialect, self._shapes)
        return compiled

    async def rows(self, db: AsyncSession, **params: Any) -> list[tuple[Any, ...]]:
        """The rows, read where they show what the session wrote: on its connection once it has used one (flushed
        first, as an ORM select would); before that, on a connection of the read's own (`rows_outside`)."""
        engine = db.bind
        assert isinstance(engine, AsyncEngine)
        if db.new or db.dirty or db.deleted:
            await db.flush()  # as an ORM select's autoflush would
        if not holds_connection(db.sync_session):
            return await self.rows_outside(engine, **params)
        connection = await db.connection()
        assert connection.sync_connection is not None
        driver = connection.sync_connection.connection.driver_connection
        return await self._run(connection.dialect, driver, params, connection.invalidate)

    async def rows_outside(self, engine: AsyncEngine, **params: Any) -> list[tuple[Any, ...]]:
        """The rows as last committed, on a connection of this read's own. On SQLite, this thread's read-only
        connection, read in place (backend.db.sqlite_reader): no thread hand-off, which costs aiosqlite several
        times what such a read does. On PostgreSQL, a pooled connection for this one read: a third of the cost of
        starting a session's transaction for it."""
        if (reader := sqlite_reader(engine.sync_engine)) is not None:
            compiled = self._for(engine.dialect)
            try:
                return compiled.rows(reader.execute(compiled.sql, compiled.arguments(params)).fetchall())
            except sqlite3.OperationalError as exc:
                if not is_busy(exc):
                    raise
                # The file is locked (a WAL recovered, a connection in exclusive mode): read on a pooled connection,
                # which waits for the lock in aiosqlite's thread.
        leased = await lease(engine)
        try:
            return await self._run(
                engine.dialect, leased.driver_connection, params, lambda exc: greenlet_spawn(leased.invalidate, exc)
            )
        finally:
            await give_back(engine, leased)

    async def _run(
        self, dialect: Dialect, driver: Any, params: dict[str, Any], invalidate: Invalidate
    ) -> list[tuple[Any, ...]]:
        compiled = self._for(dialect)
        arguments = compiled.arguments(params)
        try:
            if compiled.asyncpg:
                fetched = await driver.fetch(compiled.sql, *arguments)
            else:
                fetched = await driver.execute_fetchall(compiled.sql, arguments)
        except BaseException as exc:
            # Lost, as SQLAlchemy's asyncpg dialect tells it: whatever the error, the connection is now closed.
            lost = connection_lost(exc) or (compiled.asyncpg and driver.is_closed())
            # A plain read that failed, or was cancelled half way (asyncpg would then refuse the next statement:
            # "another operation is in progress"), leaves a connection nobody should be lent again.
            await invalidate(exc)
            if lost:
                raise DisconnectionError(f"the connection failed during a read: {exc}") from exc
            raise
        return compiled.rows(fetched)
