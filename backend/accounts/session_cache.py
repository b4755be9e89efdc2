"""Who holds a session token, remembered for a moment in each app process on PostgreSQL, so that a signed-in request
costs no database round trip before its own work.

What makes it safe: every change that could make a remembered answer wrong (a session ended, a role given or taken,
anything of the account changed, an account disabled or deleted) is announced with NOTIFY in the transaction that
makes it, by hooks on every SQLAlchemy session below, whichever process or command makes it. PostgreSQL delivers it
at commit to the LISTEN connection of every app process (backend.listening), and each forgets what the change
touches; the process that made it forgets at its own commit too, before it answers. The cache is only used while
the LISTEN connection is up (what was announced while it was down is unknown), an answer looked up while a change
was being announced is not kept, and nothing is kept longer than TTL_SECONDS in any case. An app process that made
such a change answers only once its own LISTEN connection has heard it (AppSession.commit): PostgreSQL signals every
listener at the same commit, so by then the other processes have heard it too, and the person's next request,
wherever it goes, finds the session forgotten.

SQLite has no NOTIFY, and other processes (`porchlight users`, a second worker) write to the same file: there every
request asks the database, in one round trip (accounts.service.user_for_session).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
import uuid
import weakref
from typing import Any, NamedTuple

from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import ORMExecuteState, Session, UOWTransaction
from sqlalchemy.orm.attributes import instance_state, set_committed_value
from sqlalchemy.orm.util import identity_key

from backend.accounts.models import User, UserRole, UserSession
from backend.db import holds_connection

CHANNEL = "porchlight_sessions"
EVERYONE = "*"  # the payload of a change whose accounts are not known one by one
TTL_SECONDS = 30.0
MAX_ENTRIES = 20_000
SESSION_CACHE = "porchlight_session_cache"  # the key of the app's cache in its sessions' `info`
TOUCH = "porchlight_session_touch"  # execution option: sliding a session's expiry changes nothing the cache holds
HEARING_SECONDS = 1.0  # the longest a commit waits for its announcement to come back
_CHANGED = "porchlight_accounts_changed"  # session.info: the accounts changed in the session's transaction
_ECHOES = "porchlight_accounts_echoes"  # session.info: this process hearing those announcements
_AUTH_TABLES = frozenset({User.__table__, UserRole.__table__, UserSession.__table__})
USER_COLUMNS = tuple(attribute.key for attribute in User.__mapper__.column_attrs)
USER_TABLE_COLUMNS = tuple(attribute.columns[0] for attribute in User.__mapper__.column_attrs)  # the same, in order
_USER_ID = USER_COLUMNS.index("id")


class Holder(NamedTuple):
    """A session and its account as the database had them."""

    session_id: uuid.UUID
    created_at: dt.datetime
    last_seen_at: dt.datetime
    expires_at: dt.datetime
    user: tuple[Any, ...]  # the User's columns, in USER_COLUMNS order
    roles: tuple[str, ...]
    stored_at: float  # time.monotonic()

    @property
    def user_id(self) -> uuid.UUID:
        return self.user[_USER_ID]

    def touched(self, last_seen_at: dt.datetime, expires_at: dt.datetime) -> Holder:
        """The holder once the session's expiry slid forward, as the database now has it."""
        return self._replace(last_seen_at=last_seen_at, expires_at=expires_at, stored_at=time.monotonic())

    def attach(self, db: Session) -> User:
        """The account as a User of `db`, as if just loaded there (no SQL): its changes are saved as usual."""
        key = identity_key(User, self.user_id)
        known = db.identity_map.get(key)
        if known is not None:
            return known  # type: ignore[return-value]
        user = _loaded(db, key, zip(USER_COLUMNS, self.user, strict=True))
        roles = [
            _loaded(db, identity_key(UserRole, (self.user_id, name)), {"user_id": self.user_id, "role": name})
            for name in self.roles
        ]
        set_committed_value(user, "roles", roles)
        return user


def _loaded(db: Session, key: tuple[Any, ...], values: Any) -> Any:
    """The instance of `db` whose identity is `key` (orm.util.identity_key), with these column values, put there as
    SQLAlchemy's loading puts a row's instance (orm.loading._instance): made without the constructor's attribute
    events, given its identity, and entered in the session's identity map. `Session.add` would cost twice the rest
    of a remembered sign-in: it begins the session's transaction and walks the cascades, none of which a loaded
    instance needs."""
    instance = key[0]._sa_class_manager.new_instance()
    instance.__dict__.update(values)
    state = instance_state(instance)
    state.key = key
    state.session_id = db.hash_key
    db.identity_map.add(state)
    return instance


def holder_of_rows(rows: list[tuple[Any, ...]]) -> Holder | None:
    """The holder from a session's rows (the session's fields, the User's columns in USER_COLUMNS order, one of
    their roles or None), one row per role; None when there is no row."""
    if not rows:
        return None
    session, user, _role = rows[0]
    roles = tuple(role for _session, _user, role in rows if role is not None)
    return Holder(session.id, session.created_at, session.last_seen_at, session.expires_at, tuple(user), roles,
                  time.monotonic())  # fmt: skip


class SessionCache:
    """The remembered holders of session tokens (by token hash), in one app process; follows CHANNEL."""

    channel = CHANNEL

    def __init__(self) -> None:
        self._holders: dict[str, Holder] = {}
        self.generation = 0  # moves on at every forgetting: a lookup that began before is not kept
        self._echoes: dict[str, list[asyncio.Future[None]]] = {}  # announcements this process waits to hear

    def get(self, token_hash: str) -> Holder | None:
        holder = self._holders.get(token_hash)
        if holder is None:
            return None
        if time.monotonic() - holder.stored_at > TTL_SECONDS:
            del self._holders[token_hash]
            return None
        return holder

    def keep(self, token_hash: str, holder: Holder, since_generation: int) -> None:
        """Remember a holder looked up when the generation was `since_generation`, unless something was forgotten
        since (the lookup may have read the database before that change)."""
        if self not in _LISTENING or since_generation != self.generation:
            return
        if len(self._holders) >= MAX_ENTRIES:
            del self._holders[next(iter(self._holders))]  # the oldest
        self._holders[token_hash] = holder

    def forget(self, accounts: set[str]) -> None:
        self.generation += 1
        if EVERYONE in accounts:
            self._holders.clear()
            return
        for token_hash in [t for t, h in self._holders.items() if str(h.user_id) in accounts]:
            del self._holders[token_hash]

    def received(self, payload: str) -> None:
        self.forget({payload})
        for echo in self._echoes.pop(payload, []):
            if not echo.done():
                echo.set_result(None)

    def echo_of(self, payload: str) -> asyncio.Future[None]:
        """Done when this cache hears the announcement `payload` (asked before it is made)."""
        echo = asyncio.get_running_loop().create_future()
        waiting = self._echoes.setdefault(payload, [])
        waiting.append(echo)
        echo.add_done_callback(lambda _: echo in waiting and waiting.remove(echo))  # cancelled: not kept
        return echo

    def listening(self) -> None:
        self.forget({EVERYONE})  # what was announced while not listening is unknown
        _LISTENING.add(self)

    def lost(self) -> None:
        _LISTENING.discard(self)
        self.forget({EVERYONE})
        for echoes in list(self._echoes.values()):
            for echo in list(echoes):
                echo.cancel()
        self._echoes.clear()


_LISTENING: weakref.WeakSet[SessionCache] = weakref.WeakSet()  # the caches of this process in use: listening


def cache_of(db: Session) -> SessionCache | None:
    """The app's cache, given to its sessions in their `info`; None elsewhere (commands, the worker, tests)."""
    return db.info.get(SESSION_CACHE)


def _changed(db: Session, accounts: set[str]) -> None:
    """Announce, in the transaction, that these accounts' sessions changed; forgotten here at its commit."""
    fresh = accounts - db.info.setdefault(_CHANGED, set())
    if not fresh:
        return
    db.info[_CHANGED] |= fresh
    connection = db.connection()
    if connection.dialect.name == "postgresql":
        notify = text("SELECT pg_notify(:channel, :account)")
        listening = list(_LISTENING) if cache_of(db) is not None else []  # an app's session: AppSession.commit
        for account in sorted(fresh):
            db.info.setdefault(_ECHOES, []).extend(cache.echo_of(account) for cache in listening)
            connection.execute(notify, {"channel": CHANNEL, "account": account})


@event.listens_for(Session, "after_flush")
def _after_flush(db: Session, _flush: UOWTransaction) -> None:
    accounts = set()
    for instance in db.dirty | db.deleted:
        if isinstance(instance, User) and (instance in db.deleted or db.is_modified(instance, False)):
            accounts.add(str(instance.id))
        elif isinstance(instance, UserSession | UserRole):
            accounts.add(str(instance.user_id))
    accounts.update(str(i.user_id) for i in db.new if isinstance(i, UserRole))
    if accounts:
        _changed(db, accounts)


@event.listens_for(Session, "do_orm_execute")
def _after_bulk_change(state: ORMExecuteState) -> None:
    if not (state.is_update or state.is_delete) or state.execution_options.get(TOUCH):
        return
    if getattr(state.statement, "table", None) in _AUTH_TABLES:
        _changed(state.session, {EVERYONE})


@event.listens_for(Session, "after_commit")
def _forget_at_commit(db: Session) -> None:
    accounts = db.info.pop(_CHANGED, None)
    cache = cache_of(db)
    if accounts and cache is not None:
        cache.forget(accounts)


@event.listens_for(Session, "after_rollback")
def _nothing_changed(db: Session) -> None:
    db.info.pop(_CHANGED, None)
    for echo in db.info.pop(_ECHOES, ()):
        echo.cancel()


class AppSession(AsyncSession):
    """The app's sessions: a commit that changed accounts returns once this process has heard it announced (every
    cache of the process: one per app, and tests run two apps in one process)."""

    async def commit(self) -> None:
        await super().commit()
        echoes = self.sync_session.info.pop(_ECHOES, None)
        if echoes:
            await asyncio.wait(echoes, timeout=HEARING_SECONDS)  # heard, or the LISTEN connection lost, or not heard

    async def close(self) -> None:
        for echo in self.sync_session.info.pop(_ECHOES, ()):  # changes that were never committed
            echo.cancel()
        if holds_connection(self.sync_session):
            await super().close()
        else:  # nothing to give back, no I/O: closed here, without a greenlet (a read of a remembered session)
            self.sync_session.close()
