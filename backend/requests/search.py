"""The console's camera search as an investigator works through it: which results start ticked (the cameras that
see the incident point), the filters, where each camera is (its block, never its owner), and how many owners the
ticks would ask. The search itself, and what a result may show, are the requests service's."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

from sqlalchemy.ext.asyncio import AsyncSession

from backend.accounts.models import User
from backend.registry import geo
from backend.registry import service as registry
from backend.registry.models import Placement
from backend.requests import service
from backend.requests.schemas import CameraSearchIn, FoundCamera

FILTER_LABELS = {
    "in_view": "with the incident point in view",
    "outdoor": "outdoors",
    "still_kept": "whose recorder probably still keeps the incident's footage",
}
# Which results start ticked: those that see the incident point (the default), all, or none.
TICKS = ("view", "all", "none")


class Filters(NamedTuple):
    in_view: bool = False
    outdoor: bool = False
    still_kept: bool = False

    @classmethod
    def of(cls, values: Mapping[str, Any]) -> Filters:
        """From a query string or a form: a filter is on when its box was ticked."""
        return cls(*(str(values.get(name) or "") not in {"", "0"} for name in FILTER_LABELS))

    def keeps(self, camera: FoundCamera) -> bool:
        return (
            (camera.incident_in_view or not self.in_view)
            and (camera.placement is Placement.OUTDOOR or not self.outdoor)
            and (not camera.probably_overwritten or not self.still_kept)
        )

    def params(self) -> dict[str, str]:
        """The filters that are on, as query parameters."""
        return {name: "1" for name, on in zip(FILTER_LABELS, self, strict=True) if on}


@dataclass(frozen=True)
class Result:
    camera: FoundCamera
    block: str  # "2400 block of N Holton St", or empty when the address has no house number
    direction: str  # from the incident point to the camera, as a compass point
    owner: int  # the owner's number within this search (1, 2, ...): groups the ticks per owner, names nobody
    ticked: bool


@dataclass(frozen=True)
class ConsoleSearch:
    total: int  # cameras within the radius
    listed: int  # the nearest of them, before the filters
    in_view: int  # of the rows, how many have the incident point in view
    rows: list[Result]  # those listed that pass the filters, nearest first
    ticks: str

    @property
    def hidden(self) -> int:
        return self.listed - len(self.rows)

    @property
    def ticked_owners(self) -> int:
        """How many owners the ticked rows would ask: one request goes to each."""
        return len({row.owner for row in self.rows if row.ticked})


async def console_search(
    db: AsyncSession, investigator: User, query: CameraSearchIn, filters: Filters, *, ticks: str = "view",
    ticked_ids: set[uuid.UUID] | None = None,
) -> ConsoleSearch:  # fmt: skip
    """The search with its rows ticked as asked: `ticked_ids` (a form sent back) wins; else `ticks`."""
    found = await service.search_cameras(db, investigator, query)
    places = await registry.police_places(db, [camera.id for camera in found.cameras])
    ticks = ticks if ticks in TICKS else "view"
    owners: dict[uuid.UUID, int] = {}
    rows = []
    for camera in found.cameras:
        place = places.get(camera.id)
        if place is None:  # removed since the search read it
            continue
        owner = owners.setdefault(place.owner_id, len(owners) + 1)
        if not filters.keeps(camera):
            continue
        if ticked_ids is not None:
            ticked = camera.id in ticked_ids
        else:
            ticked = ticks == "all" or (ticks == "view" and camera.incident_in_view)
        bearing = geo.initial_bearing_deg(query.latitude, query.longitude, camera.latitude, camera.longitude)
        rows.append(Result(camera, place.block, geo.compass_point(bearing), owner, ticked))
    return ConsoleSearch(
        total=found.total,
        listed=len(found.cameras),
        in_view=sum(row.camera.incident_in_view for row in rows),
        rows=rows,
        ticks=ticks,
    )
