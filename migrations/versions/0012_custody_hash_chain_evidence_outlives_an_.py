"""custody hash chain; evidence outlives an owner's account

The custody log becomes a SHA-256 chain per agency (requests.audit) whose rows are never changed, so its ids of
people, requests and shares lose their foreign keys. Rows recorded before this revision are chained here, in the
order they were written. An owner's upload rows lose the owner's name and address first: an agency reads the log.

Footage requests and clips no longer go with their owner's account: a request answered with clips stays with its
case, its owner_id set to NULL.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03 16:30:20.231821
"""

from collections.abc import Sequence
from types import SimpleNamespace

import advanced_alchemy.types
import sqlalchemy as sa
from alembic import op

from backend.requests import audit

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_UNLINKED = (
    ("owner_id", "users", "CASCADE"),
    ("request_id", "footage_requests", "SET NULL"),
    ("share_id", "share_sessions", "SET NULL"),
    ("actor_id", "users", "SET NULL"),
)
_events = sa.table(
    "custody_events",
    sa.column("id", sa.BigInteger()),
    sa.column("at", advanced_alchemy.types.DateTimeUTC(timezone=True)),
    *(sa.column(name, sa.Uuid()) for name in ("actor_id", "agency_id", "owner_id", "request_id", "share_id")),
    *(sa.column(name, sa.String()) for name in ("action", "actor_name", "case_number", "ip", "sha256", "detail")),
    sa.column("prev_hash", sa.String()),
    sa.column("hash", sa.String()),
)


def _chain_existing_rows() -> None:
    connection = op.get_bind()
    connection.execute(
        _events.update()
        .where(_events.c.action == "upload")  # only an owner uploads
        .values(actor_name="Camera owner", ip="")
    )
    heads: dict[object, str] = {}
    rows = connection.execute(sa.select(_events).order_by(_events.c.agency_id, _events.c.id)).mappings().all()
    for row in rows:
        prev_hash = heads.get(row["agency_id"], audit.GENESIS)
        heads[row["agency_id"]] = audit.row_hash(prev_hash, SimpleNamespace(**row))  # type: ignore[arg-type]
        connection.execute(
            _events.update().where(_events.c.id == row["id"]).values(prev_hash=prev_hash, hash=heads[row["agency_id"]])
        )


def _owner_link(table: str, ondelete: str, nullable: bool) -> None:
    with op.batch_alter_table(table, schema=None) as batch_op:
        batch_op.alter_column("owner_id", existing_type=sa.Uuid(), nullable=nullable)
        batch_op.drop_constraint(batch_op.f(f"fk_{table}_owner_id_users"), type_="foreignkey")
        batch_op.create_foreign_key(
            batch_op.f(f"fk_{table}_owner_id_users"), "users", ["owner_id"], ["id"], ondelete=ondelete
        )


def upgrade() -> None:
    with op.batch_alter_table("custody_events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("prev_hash", sa.String(length=64), nullable=False, server_default=""))
        batch_op.add_column(sa.Column("hash", sa.String(length=64), nullable=False, server_default=""))
        batch_op.create_index("ix_custody_events_agency_chain", ["agency_id", "id"], unique=False)
        for column, table, _ in _UNLINKED:
            batch_op.drop_constraint(batch_op.f(f"fk_custody_events_{column}_{table}"), type_="foreignkey")
    _chain_existing_rows()
    with op.batch_alter_table("custody_events", schema=None) as batch_op:
        batch_op.alter_column("prev_hash", existing_type=sa.String(length=64), server_default=None)
        batch_op.alter_column("hash", existing_type=sa.String(length=64), server_default=None)
    for table in ("evidence_clips", "footage_requests"):
        _owner_link(table, "SET NULL", nullable=True)


def downgrade() -> None:
    # Requests and clips of deleted accounts have no owner to go back to.
    op.execute("DELETE FROM evidence_clips WHERE owner_id IS NULL")
    op.execute("DELETE FROM footage_requests WHERE owner_id IS NULL")
    for table in ("footage_requests", "evidence_clips"):
        _owner_link(table, "CASCADE", nullable=False)
    op.execute("DELETE FROM custody_events WHERE owner_id IS NOT NULL AND owner_id NOT IN (SELECT id FROM users)")
    for column, table, _ in _UNLINKED:
        op.execute(
            f"UPDATE custody_events SET {column} = NULL WHERE {column} IS NOT NULL "
            f"AND {column} NOT IN (SELECT id FROM {table})"
        )
    with op.batch_alter_table("custody_events", schema=None) as batch_op:
        for column, table, ondelete in _UNLINKED:
            batch_op.create_foreign_key(
                batch_op.f(f"fk_custody_events_{column}_{table}"), table, [column], ["id"], ondelete=ondelete
            )
        batch_op.drop_index("ix_custody_events_agency_chain")
        batch_op.drop_column("hash")
        batch_op.drop_column("prev_hash")
