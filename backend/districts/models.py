from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from backend.db import Base, utcnow, uuid_pk


class District(Base):
    """A business improvement district whose coordinators onboard member businesses."""

    __tablename__ = "districts"

    id: Mapped[uuid.UUID] = uuid_pk()
    name: Mapped[str] = mapped_column(String(200), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
