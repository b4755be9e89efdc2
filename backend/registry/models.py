from __future__ import annotations

import datetime as dt
import enum
import uuid
from typing import Any

from sqlalchemy import BigInteger, CheckConstraint, Float, ForeignKey, Index, Integer, String, event
from sqlalchemy.engine import Connection
from sqlalchemy.engine.default import DefaultExecutionContext
from sqlalchemy.orm import Mapped, Mapper, mapped_column, relationship

from backend.db import Base, enum_check, utcnow, uuid_pk
from backend.registry.geo import cell_id, unit_vector


class SiteKind(enum.StrEnum):
    HOME = "home"
    BUSINESS = "business"


class Placement(enum.StrEnum):
    INDOOR = "indoor"
    OUTDOOR = "outdoor"


class Recorder(enum.StrEnum):
    NVR_DVR = "nvr_dvr"
    CLOUD = "cloud"
    DOORBELL = "doorbell"
    SD_CARD = "sd_card"
    OTHER = "other"


RECORDER_LABELS = {
    Recorder.NVR_DVR: "NVR / DVR",
    Recorder.CLOUD: "Cloud service",
    Recorder.DOORBELL: "Doorbell",
    Recorder.SD_CARD: "SD card",
    Recorder.OTHER: "Other",
}

# Limits shared by the schemas (what a request may carry) and the tables (what may be stored).
NAME_MAX = 100
NOTE_MAX = 1000
RETENTION_DAYS_MAX = 365
RANGE_M_MAX = 1000


_POSITION_CHECKS = (
    CheckConstraint("latitude BETWEEN -90 AND 90", name="latitude_range"),
    CheckConstraint("longitude BETWEEN -180 AND 180", name="longitude_range"),
)


class Site(Base):
    """A home or business where an owner has cameras."""

    __tablename__ = "sites"
    __table_args__ = (*_POSITION_CHECKS, enum_check("kind", SiteKind, "kind_known"))

    id: Mapped[uuid.UUID] = uuid_pk()
    owner_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    district_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("districts.id", ondelete="SET NULL"), index=True)
    name: Mapped[str] = mapped_column(String(NAME_MAX))
    address: Mapped[str] = mapped_column(String(300))
    latitude: Mapped[float] = mapped_column(Float)
    longitude: Mapped[float] = mapped_column(Float)
    kind: Mapped[str] = mapped_column(String(10))
    contact_phone: Mapped[str] = mapped_column(String(40), default="")
    contact_email: Mapped[str] = mapped_column(String(254), default="")
    contact_hours: Mapped[str] = mapped_column(String(100), default="")
    investigator_note: Mapped[str] = mapped_column(String(NOTE_MAX), default="")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    cameras: Mapped[list[Camera]] = relationship(
        back_populates="site", cascade="all, delete-orphan", passive_deletes=True, order_by="Camera.name"
    )


GEO_SEARCH_COLUMNS = (
    "paused_at", "unit_x", "unit_y", "unit_z", "latitude", "longitude", "id", "site_id", "name", "bearing_deg",
    "field_of_view_deg", "range_m", "placement", "recorder", "retention_days",
)  # fmt: skip


def _geo_cell_of_inserted_row(context: DefaultExecutionContext) -> Any:
    row = context.get_current_parameters()
    return cell_id(row["latitude"], row["longitude"])


def _unit_of_inserted_row(axis: int) -> Any:
    def default(context: DefaultExecutionContext) -> float:
        row = context.get_current_parameters()
        return unit_vector(row["latitude"], row["longitude"])[axis]

    return default


class Camera(Base):
    __tablename__ = "cameras"
    __table_args__ = (
        *_POSITION_CHECKS,
        CheckConstraint("bearing_deg BETWEEN 0 AND 359", name="bearing_range"),
        CheckConstraint("field_of_view_deg BETWEEN 1 AND 360", name="fov_range"),
        CheckConstraint(f"range_m BETWEEN 1 AND {RANGE_M_MAX}", name="range_m_range"),
        CheckConstraint(f"retention_days BETWEEN 1 AND {RETENTION_DAYS_MAX}", name="retention_range"),
        enum_check("placement", Placement, "placement_known"),
        enum_check("recorder", Recorder, "recorder_known"),
        # The geo search (registry.service.find_cameras_near) reads one range of this index per row of grid
        # cells. It holds every column the search reads, so a neighbourhood's cameras come from a few adjacent
        # index pages instead of one table page each (measured on 1M cameras: a fifth off a dense 250 m search).
        Index("ix_cameras_geo_cell", "geo_cell", *GEO_SEARCH_COLUMNS),
        # The search counts the cameras of cells wholly inside its circle from this narrow one: a third of the
        # time the wide one takes on SQLite, half on PostgreSQL (1 km of a dense city holds thousands).
        Index("ix_cameras_cell_paused", "geo_cell", "paused_at"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    site_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(NAME_MAX))
    latitude: Mapped[float] = mapped_column(Float)
    longitude: Mapped[float] = mapped_column(Float)
    bearing_deg: Mapped[int] = mapped_column(Integer)
    field_of_view_deg: Mapped[int] = mapped_column(Integer)
    range_m: Mapped[int] = mapped_column(Integer)
    placement: Mapped[str] = mapped_column(String(10))
    recorder: Mapped[str] = mapped_column(String(20))
    retention_days: Mapped[int] = mapped_column(Integer)
    note: Mapped[str] = mapped_column(String(NOTE_MAX), default="")
    # Set while the owner has paused the camera: it is then not offered to police.
    paused_at: Mapped[dt.datetime | None]
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    # The grid cell of (latitude, longitude) for the geo search (backend.registry.geo). Kept in step on
    # every flush of a Camera object (below) and, for rows inserted as dicts, by the column default.
    geo_cell: Mapped[int] = mapped_column(BigInteger, default=_geo_cell_of_inserted_row)
    # The position on the unit sphere (geo.unit_vector), kept in step the same way: the search measures and
    # orders by the chord to the incident in SQL.
    unit_x: Mapped[float] = mapped_column(Float, default=_unit_of_inserted_row(0))
    unit_y: Mapped[float] = mapped_column(Float, default=_unit_of_inserted_row(1))
    unit_z: Mapped[float] = mapped_column(Float, default=_unit_of_inserted_row(2))

    site: Mapped[Site] = relationship(back_populates="cameras")


@event.listens_for(Camera, "before_insert")
@event.listens_for(Camera, "before_update")
def _file_camera_under_its_cell(_mapper: Mapper[Camera], _connection: Connection, camera: Camera) -> None:
    camera.geo_cell = cell_id(camera.latitude, camera.longitude)
    camera.unit_x, camera.unit_y, camera.unit_z = unit_vector(camera.latitude, camera.longitude)
