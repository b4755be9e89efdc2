"""disabled accounts: an administrator can disable an agency account; its sign-in attempts are recorded as such

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-03 16:47:00
"""

from collections.abc import Sequence

import advanced_alchemy.types
import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_OUTCOMES_BEFORE = "'succeeded', 'wrong_password', 'unknown_email', 'locked', 'rate_limited', 'wrong_code'"
_OUTCOMES_NOW = _OUTCOMES_BEFORE + ", 'disabled'"


def _outcomes(allowed: str) -> None:
    with op.batch_alter_table("login_attempts", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("ck_login_attempts_outcome_known"), type_="check")
        batch_op.create_check_constraint(batch_op.f("ck_login_attempts_outcome_known"), f"outcome IN ({allowed})")


def upgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("disabled_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True)
        )
    _outcomes(_OUTCOMES_NOW)


def downgrade() -> None:
    op.execute("DELETE FROM login_attempts WHERE outcome = 'disabled'")
    _outcomes(_OUTCOMES_BEFORE)
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("disabled_at")
