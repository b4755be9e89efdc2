"""Demo data: a plausible Milwaukee-area program to try Porchlight with (`porchlight demo`)."""

from __future__ import annotations

import datetime as dt
import math
import os
import random
import uuid
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from backend.accounts import service as accounts
from backend.accounts.models import Role, User, UserRole
from backend.db import utcnow
from backend.devices import service as devices
from backend.devices.models import DeviceCamera, EdgeDevice, Status
from backend.districts import service as districts
from backend.districts.models import District, DistrictMember, MemberSource, MemberStatus
from backend.registry.models import Camera, Placement, Recorder, Site, SiteKind
from backend.settings import Settings


@dataclass(frozen=True)
class DemoLogin:
    role: str
    email: str
    password: str
    display_name: str
    # Agency accounts' second factor: a public demo key, to add to any authenticator app.
    totp_secret: str = ""


# Public demo credentials, shown by `make run` and on the home page outside production.
DEMO_LOGINS = (
    DemoLogin("owner", "owner@demo.porchlight.test", "porch-owner-demo", "Dana Owner"),
    DemoLogin("coordinator", "coordinator@demo.porchlight.test", "porch-coordinator-demo", "Chris Coordinator"),
    DemoLogin(
        "investigator",
        "investigator@demo.porchlight.test",
        "porch-investigator-demo",
        "Det. Ivy Investigator",
        totp_secret="PORCHLIGHTDEMOINVESTIGATORSECRET",
    ),
    DemoLogin(
        "live_desk",
        "livedesk@demo.porchlight.test",
        "porch-livedesk-demo",
        "J. Ortiz (live desk)",
        totp_secret="PORCHLIGHTDEMOLIVEDESKSECRETKEYS",
    ),
    DemoLogin("admin", "admin@demo.porchlight.test", "porch-admin-demo", "Alex Admin"),
)
AGENCY = "Milwaukee Police Department (demo)"
DISTRICT = "Historic Third Ward BID (demo)"

# Real neighbourhood centres; sites are scattered around them.
NEIGHBOURHOODS = [
    ("Historic Third Ward", 43.0333, -87.9090, "N Broadway"),
    ("East Side", 43.0606, -87.8853, "N Farwell Ave"),
    ("Bay View", 42.9928, -87.8980, "S Kinnickinnic Ave"),
    ("Walker's Point", 43.0220, -87.9130, "S 2nd St"),
    ("Riverwest", 43.0700, -87.8990, "N Holton St"),
    ("Sherman Park", 43.0700, -87.9680, "N Sherman Blvd"),
    ("Washington Heights", 43.0480, -87.9750, "W Vliet St"),
    ("Downtown", 43.0389, -87.9065, "N Water St"),
]
CAMERA_NAMES = ["Front door", "Back door", "Driveway", "Alley", "Garage", "Side yard", "Storefront", "Parking lot"]
BUSINESS_NAMES = ["Coffee", "Hardware", "Books", "Bakery", "Bike shop", "Tailor", "Deli", "Pharmacy", "Gallery"]
SITES_PER_NEIGHBOURHOOD = 40


def _offset(lat: float, lon: float, rng: random.Random, radius_m: float) -> tuple[float, float]:
    distance = radius_m * math.sqrt(rng.random())
    angle = rng.random() * 2 * math.pi
    dlat = distance * math.cos(angle) / 111_320
    dlon = distance * math.sin(angle) / (111_320 * math.cos(math.radians(lat)))
    return round(lat + dlat, 6), round(lon + dlon, 6)


async def demo_present(db: AsyncSession) -> bool:
    return await accounts.get_user_by_email(db, DEMO_LOGINS[0].email) is not None


MEMBERSHIPS = {
    "coordinator": {"district_name": DISTRICT},
    "investigator": {"agency_name": AGENCY},
    "live_desk": {"agency_name": AGENCY},  # the program's live desk: the investigators' agency
}


async def _create_login(db: AsyncSession, login: DemoLogin) -> User:
    user = await accounts.create_user(
        db,
        email=login.email,
        password=login.password,
        display_name=login.display_name,
        roles=[Role(login.role)],
        **MEMBERSHIPS.get(login.role, {}),
    )
    if login.totp_secret:
        user.totp_secret, user.totp_confirmed_at = login.totp_secret, utcnow()
    return user


async def seed(db: AsyncSession, *, seed_value: int = 414) -> int:
    """Create the demo logins and a few hundred sites with cameras. Returns the number of sites made."""
    if await demo_present(db):
        # A demo made before a login was added to DEMO_LOGINS gets that login now, and its district a roster.
        for login in DEMO_LOGINS:
            if await accounts.get_user_by_email(db, login.email) is None:
                await _create_login(db, login)
        await _district_roster(db, random.Random(seed_value))
        await db.commit()
        return 0
    for login in DEMO_LOGINS:
        user = await _create_login(db, login)
        if login.role == Role.OWNER:
            owner = user
    district_id = await db.scalar(select(District.id).where(District.name == DISTRICT))

    rng = random.Random(seed_value)
    users, roles, sites, cameras = [], [], [], []
    for hood_index, (hood, lat, lon, street) in enumerate(NEIGHBOURHOODS):
        for n in range(SITES_PER_NEIGHBOURHOOD):
            demo_owners_site = n == 0 and hood_index in (0, 4)  # a business in the district and a home
            if demo_owners_site:
                owner_id = owner.id
            else:
                owner_id = uuid.uuid4()
                users.append(
                    {
                        "id": owner_id,
                        "email": f"owner{hood_index:02d}{n:03d}@demo.porchlight.test",
                        "password_hash": None,
                        "display_name": f"Demo owner {hood_index * 100 + n}",
                        "time_zone": "America/Chicago",
                    }
                )
                roles.append({"user_id": owner_id, "role": Role.OWNER.value})
            business = hood_index == 0 or rng.random() < 0.3
            site_lat, site_lon = _offset(lat, lon, rng, 900)
            site_id = uuid.uuid4()
            number = rng.randrange(100, 3000)
            sites.append(
                {
                    "id": site_id,
                    "owner_id": owner_id,
                    "district_id": district_id if hood_index == 0 and business else None,
                    "name": f"{hood} {rng.choice(BUSINESS_NAMES)}" if business else f"Home on {street}",
                    "address": f"{number} {street}, Milwaukee, WI",
                    "latitude": site_lat,
                    "longitude": site_lon,
                    "kind": (SiteKind.BUSINESS if business else SiteKind.HOME).value,
                    "contact_phone": f"(414) 555-{rng.randrange(100, 10000):04d}",
                    "contact_email": "",
                    "contact_hours": rng.choice(["Any time", "Weekdays 9-17", "Evenings", ""]),
                    "investigator_note": "",
                }
            )
            for index, name in enumerate(
                rng.sample(CAMERA_NAMES, rng.randint(2, 3) if demo_owners_site else rng.randint(1, 3))
            ):
                cam_lat, cam_lon = _offset(site_lat, site_lon, rng, 15)
                outdoor = rng.random() < 0.85
                cameras.append(
                    {
                        "id": uuid.uuid4(),
                        "site_id": site_id,
                        "name": name,
                        "latitude": cam_lat,
                        "longitude": cam_lon,
                        "bearing_deg": rng.randrange(0, 360),
                        "field_of_view_deg": rng.choice([70, 90, 110, 130]),
                        "range_m": rng.choice([10, 20, 30, 50]),
                        "placement": (Placement.OUTDOOR if outdoor else Placement.INDOOR).value,
                        "recorder": rng.choice(list(Recorder)).value,
                        "retention_days": rng.choice([3, 7, 14, 30, 60]),
                        "note": "",
                        # One of the demo owner's cameras is paused, to show what that looks like.
                        "paused_at": utcnow() if demo_owners_site and hood_index == 4 and index == 0 else None,
                    }
                )
    if users:
        await db.execute(insert(User), users)
        await db.execute(insert(UserRole), roles)
    await db.execute(insert(Site), sites)
    await db.execute(insert(Camera), cameras)
    await _district_roster(db, rng)
    await db.commit()
    return len(sites)


# Businesses on the district's roster that have no account yet (listed, or invited).
ROSTER_ONLY = ["Broadway Florist", "Third Ward Tailors", "Riverside Records", "Water Street Wines", "Loft Yoga",
               "Milwaukee Street Deli", "Corner Cobbler", "Harbor Framing", "Old Brewery Antiques", "Canal Bike Co",
               "Market Hall Cheese", "Jefferson Jewelers", "Chicago Street Pottery", "Buffalo Street Books",
               "Erie Street Espresso", "St Paul Optics"]  # fmt: skip


def _boundary(lat: float, lon: float, half_m: float) -> dict:
    """A square GeoJSON Polygon ([lon, lat] corners, the ring closed) of `half_m` metres either side of a centre."""
    dlat = half_m / 111_320
    dlon = half_m / (111_320 * math.cos(math.radians(lat)))
    corners = [(lon - dlon, lat - dlat), (lon + dlon, lat - dlat), (lon + dlon, lat + dlat), (lon - dlon, lat + dlat)]
    ring = [[round(x, 6), round(y, 6)] for x, y in [*corners, corners[0]]]
    return {"type": "Polygon", "coordinates": [ring]}


async def _district_roster(db: AsyncSession, rng: random.Random) -> None:
    """The demo district's outline around its neighbourhood and a roster at every step of the onboarding funnel:
    businesses listed, invited (some over a week ago: they need a nudge), joined with their site in the district
    (its cameras, some with a paired device sharing on alert), joined elsewhere with no site yet, one waiting for
    approval, one who left. Once: a district with members keeps them."""
    district = await db.scalar(select(District).where(District.name == DISTRICT))
    if district is None or await db.scalar(select(func.count()).where(DistrictMember.district_id == district.id)):
        return
    _, lat, lon, street = NEIGHBOURHOODS[0]
    district.boundary = _boundary(lat, lon, 1100)  # the sites are scattered within 900 m of the centre
    now = utcnow()
    days = dt.timedelta(days=1)
    members: list[dict] = []

    def member(name: str, email: str, status: MemberStatus, **fields: object) -> dict:
        row = {
            "id": uuid.uuid4(), "district_id": district.id, "business_name": name, "email": email,
            "contact_name": fields.pop("contact_name", ""), "phone": f"(414) 555-{rng.randrange(1000, 10000):04d}",
            "address": fields.pop("address", f"{rng.randrange(100, 700)} {street}, Milwaukee, WI"),
            "status": status.value, "source": fields.pop("source", MemberSource.IMPORT.value),
            "match_key": districts.match_key(name, email), "created_at": now - 60 * days, "updated_at": now,
            **fields,
        }  # fmt: skip
        members.append(row)
        return row

    def invited(ago_days: float) -> dict[str, dt.datetime]:
        at = now - ago_days * days
        return {"invited_at": at, "invite_expires_at": at + 90 * days, "last_emailed_at": at, "emails_sent": 1}

    for index, name in enumerate(ROSTER_ONLY):
        email = f"hello@{name.lower().replace(' ', '-')}.example"
        if index < 6:  # listed, not invited yet
            member(name, email if index % 2 else "", MemberStatus.LISTED)
        else:  # invited: the first five over a week ago, so they need a nudge
            member(name, email, MemberStatus.LISTED, **invited(rng.uniform(9, 30) if index < 11 else rng.uniform(1, 6)))

    # The businesses whose sites are in the district: most of their owners joined (the demo owner among them).
    district_sites = (
        await db.execute(
            select(Site.id, Site.name, Site.address, Site.owner_id, User.email, User.display_name)
            .join(User, User.id == Site.owner_id).where(Site.district_id == district.id).order_by(Site.name, Site.id)
        )
    ).all()  # fmt: skip
    joined_sites = [found for index, found in enumerate(district_sites) if index % 3 != 2][:22]
    devices = []
    for index, found in enumerate(joined_sites):
        invited_days = rng.uniform(20, 50)
        joined_at = now - (invited_days - rng.uniform(1, 5)) * days
        member(found.name, found.email, MemberStatus.JOINED, contact_name=found.display_name, address=found.address,
               user_id=found.owner_id, joined_at=joined_at, **invited(invited_days))  # fmt: skip
        site_at = joined_at + rng.uniform(0.1, 2) * days
        await db.execute(update(Site).where(Site.id == found.id).values(created_at=site_at))
        await db.execute(update(Camera).where(Camera.site_id == found.id).values(created_at=site_at + 0.2 * days))
        if index % 4 == 1 and found.email != DEMO_LOGINS[0].email:  # a paired device (the demo owner has hers)
            paired_at = site_at + rng.uniform(1, 6) * days
            online = index % 8 != 5
            devices.append({
                "id": uuid.uuid4(), "owner_id": found.owner_id, "site_id": found.id, "name": "Shop core",
                "status": (Status.ONLINE if online else Status.OFFLINE).value, "status_since": paired_at,
                "created_at": paired_at, "paired_at": paired_at, "last_heartbeat_at": now if online else paired_at,
                "share_on_alert": index % 8 != 1, "share_on_alert_since": paired_at + days if index % 8 != 1 else None,
                "agent_version": "0.1.0", "desired_version": 1,
            })  # fmt: skip
    if devices:
        await db.execute(insert(EdgeDevice), devices)

    # Owners elsewhere who joined over a week ago and have not placed a site in the district yet: a nudge each.
    elsewhere = (
        await db.execute(
            select(User.id, User.email, User.display_name).join(Site, Site.owner_id == User.id)
            .where(Site.district_id.is_(None), Site.kind == SiteKind.BUSINESS.value, User.password_hash.is_(None))
            .order_by(User.email).limit(3)
        )
    ).all()  # fmt: skip
    for index, found in enumerate(elsewhere):
        name = f"{found.display_name}'s shop"
        if index < 2:
            member(name, found.email, MemberStatus.JOINED, contact_name=found.display_name, user_id=found.id,
                   joined_at=now - (10 + index) * days, **invited(14 + index))  # fmt: skip
        else:  # joined through the district-wide link at a meeting: waits for the coordinator's approval
            member(name, found.email, MemberStatus.PENDING, contact_name=found.display_name, user_id=found.id,
                   source=MemberSource.DISTRICT_LINK.value, created_at=now - 2 * days)  # fmt: skip
    member("Quarry Street Candles", "", MemberStatus.LEFT, joined_at=now - 40 * days, left_at=now - 5 * days,
           **invited(45))  # fmt: skip
    await db.execute(insert(DistrictMember), members)


DEMO_DEVICE = "Storefront core (demo)"
DEMO_EDGE_CONFIG = "demo-edge.toml"


def demo_edge_config(settings: Settings) -> Path:
    """The config of the demo owner's simulated edge device; `porchlight serve` runs its agent when it exists."""
    return settings.var_dir / DEMO_EDGE_CONFIG


def _toml_string(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


async def demo_device(db: AsyncSession, settings: Settings) -> Path | None:
    """The demo owner's edge device at their business, paired, with one simulated camera per registered camera
    there (the last one flaky) and linked to them; writes the agent's config with a fresh credential (0600)."""
    owner = await accounts.get_user_by_email(db, DEMO_LOGINS[0].email)
    if owner is None:
        return None
    site = await db.scalar(
        select(Site).where(Site.owner_id == owner.id, Site.kind == SiteKind.BUSINESS).order_by(Site.name).limit(1)
    )
    if site is None:
        return None
    now = utcnow()
    device = await db.scalar(select(EdgeDevice).where(EdgeDevice.owner_id == owner.id, EdgeDevice.name == DEMO_DEVICE))
    cameras = (await db.scalars(select(Camera).where(Camera.site_id == site.id).order_by(Camera.name))).all()
    keys = [(f"camera-{index + 1}", camera) for index, camera in enumerate(cameras)]
    if device is None:
        device = EdgeDevice(
            owner_id=owner.id, site_id=site.id, name=DEMO_DEVICE, status=Status.PAIRING, status_since=now,
            created_at=now, agent_version="", desired_version=0,
            cameras=[
                DeviceCamera(key=key, name=camera.name, camera_id=camera.id, status=Status.ONLINE, status_since=now,
                             created_at=now)
                for key, camera in keys
            ],
        )  # fmt: skip
        db.add(device)
        await db.flush()
        await devices.refresh_desired(db, device)
    credential = devices.issue_credential(device, now)
    await db.commit()
    lines = [
        "# The demo owner's simulated edge device (made by `porchlight demo`; `porchlight serve` runs its agent).",
        f"server = {_toml_string(f'http://127.0.0.1:{settings.port}')}",
        f"device_id = {_toml_string(str(device.id))}",
        f"credential = {_toml_string(credential)}",
    ]
    for index, (key, camera) in enumerate(keys):
        behaviour = "flaky" if index == len(keys) - 1 and len(keys) > 1 else "healthy"
        lines += ["", "[[cameras]]", f"key = {_toml_string(key)}", f"name = {_toml_string(camera.name)}",
                  f"simulate = {_toml_string(behaviour)}"]  # fmt: skip
    path = demo_edge_config(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as config:
        config.write("\n".join(lines) + "\n")
    return path
