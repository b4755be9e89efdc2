"""agency accounts' TOTP second factor; sign-in attempts record wrong codes

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-24 20:05:00
"""

from collections.abc import Sequence

import advanced_alchemy.types
import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_OUTCOMES = "'succeeded', 'wrong_password', 'unknown_email', 'locked', 'rate_limited'"


def _outcome_check(batch_op, outcomes: str) -> None:
    batch_op.drop_constraint(op.f("ck_login_attempts_outcome_known"), type_="check")
    batch_op.create_check_constraint("outcome_known", f"outcome IN ({outcomes})")


def upgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("totp_secret", sa.String(length=64), nullable=True))
        batch_op.add_column(
            sa.Column("totp_confirmed_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("totp_last_step", sa.BigInteger(), nullable=True))
    with op.batch_alter_table("login_attempts", schema=None) as batch_op:
        _outcome_check(batch_op, _OUTCOMES + ", 'wrong_code'")


def downgrade() -> None:
    op.execute("DELETE FROM login_attempts WHERE outcome = 'wrong_code'")
    with op.batch_alter_table("login_attempts", schema=None) as batch_op:
        _outcome_check(batch_op, _OUTCOMES)
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("totp_last_step")
        batch_op.drop_column("totp_confirmed_at")
        batch_op.drop_column("totp_secret")
