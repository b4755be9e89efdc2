"""The `porchlight` command: migrate, users create, demo."""

from __future__ import annotations

import tomllib
from pathlib import Path

import anyio
import pytest
from click.testing import CliRunner, Result
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.accounts.models import Agency, User
from backend.cli import main
from backend.demo import DEMO_LOGINS
from backend.devices.models import EdgeDevice
from backend.registry.models import Camera, Site
from backend.tokens import token_hash


@pytest.fixture
def runner(database_url: str, tmp_path: Path, db: AsyncSession) -> CliRunner:
    return CliRunner(env={"PORCHLIGHT_DATABASE_URL": database_url, "PORCHLIGHT_VAR_DIR": str(tmp_path)})


async def invoke(runner: CliRunner, args: list[str]) -> Result:
    """The command runs its own event loop, so it runs in a thread beside the test's."""
    return await anyio.to_thread.run_sync(runner.invoke, main, args)


async def test_migrate_is_idempotent(runner: CliRunner) -> None:
    result = await invoke(runner, ["migrate"])
    assert result.exit_code == 0, result.output
    assert "Database is up to date." in result.output


async def test_users_create_makes_an_agency_account(runner: CliRunner, db: AsyncSession) -> None:
    args = ["users", "create", "--email", "Det@Example.org", "--name", "Det. Doe", "--role", "investigator"]
    refused = await invoke(runner, [*args, "--password", "detective-lantern-9"])
    assert refused.exit_code == 2
    assert "must belong to an agency" in refused.output
    created = await invoke(runner, [*args, "--agency", "Example PD", "--password", "detective-lantern-9"])
    assert created.exit_code == 0, created.output
    user = await db.scalar(select(User).where(User.email == "det@example.org"))
    assert user is not None and sorted(user.role_names) == ["investigator"]
    assert (await db.get(Agency, user.agency_id)).name == "Example PD"


async def test_users_create_refuses_a_weak_password(runner: CliRunner) -> None:
    result = await invoke(
        runner,
        ["users", "create", "--email", "a@example.org", "--name", "A", "--role", "admin", "--password", "qwerty123"],
    )
    assert result.exit_code == 2 and "common passwords" in result.output


async def test_demo_seeds_milwaukee_once(runner: CliRunner, db: AsyncSession) -> None:
    first = await invoke(runner, ["demo"])
    assert first.exit_code == 0, first.output
    sites = await db.scalar(select(func.count()).select_from(Site))
    assert sites >= 300
    assert await db.scalar(select(func.count()).select_from(Camera)) >= sites
    lat_min, lat_max, lon_min, lon_max = (
        await db.execute(
            select(func.min(Site.latitude), func.max(Site.latitude), func.min(Site.longitude), func.max(Site.longitude))
        )
    ).one()
    assert 42.9 < lat_min and lat_max < 43.2 and -88.1 < lon_min and lon_max < -87.8  # in Milwaukee
    second = await invoke(runner, ["demo"])
    assert "already present" in second.output
    assert await db.scalar(select(func.count()).select_from(Site)) == sites


async def test_demo_pairs_a_simulated_edge_device_for_the_demo_owner(
    runner: CliRunner, db: AsyncSession, tmp_path: Path
) -> None:
    await invoke(runner, ["demo"])
    demo_owner = await db.scalar(select(User.id).where(User.email == DEMO_LOGINS[0].email))
    config = tmp_path / "demo-edge.toml"
    assert config.stat().st_mode & 0o777 == 0o600
    settings = tomllib.loads(config.read_text())
    device = await db.scalar(select(EdgeDevice).where(EdgeDevice.owner_id == demo_owner))  # members have theirs
    device_id = device.id
    assert device.name == "Storefront core (demo)" and settings["device_id"] == str(device.id)
    assert device.credential_hash == token_hash(settings["credential"])
    site_cameras = (await db.scalars(select(Camera.name).where(Camera.site_id == device.site_id))).all()
    assert sorted(c["name"] for c in settings["cameras"]) == sorted(site_cameras)
    assert {c["simulate"] for c in settings["cameras"]} == {"healthy", "flaky"}

    again = await invoke(runner, ["demo"])  # every `make run`: the same device, a fresh credential in its config
    assert again.exit_code == 0
    assert await db.scalar(select(func.count()).where(EdgeDevice.owner_id == demo_owner)) == 1
    renewed = tomllib.loads(config.read_text())
    db.expire_all()
    assert renewed["credential"] != settings["credential"]
    assert (await db.get(EdgeDevice, device_id)).credential_hash == token_hash(renewed["credential"])


async def test_totp_code_prints_the_current_code_of_a_key(runner: CliRunner) -> None:
    import time

    import pyotp

    result = await invoke(runner, ["totp-code", "PORC HLIG HTDE MOIN VEST IGAT ORSE CRET"])
    totp = pyotp.TOTP("PORCHLIGHTDEMOINVESTIGATORSECRET")
    assert result.exit_code == 0 and result.output.strip() in {totp.at(time.time() + d) for d in (-30, 0, 30)}


WARD = {"type": "Polygon", "coordinates": [[[-87.91, 43.05], [-87.90, 43.05], [-87.90, 43.07], [-87.91, 43.07]]]}


async def test_districts_create_list_and_set_boundary(runner: CliRunner, db: AsyncSession, tmp_path: Path) -> None:
    import json

    from backend.districts.models import District

    ward = tmp_path / "ward.geojson"
    ward.write_text(json.dumps({"type": "Feature", "properties": {}, "geometry": WARD}))
    created = await invoke(runner, ["districts", "create", "Third Ward BID", "--boundary", str(ward)])
    assert created.exit_code == 0, created.output
    assert created.output == "Created Third Ward BID with its boundary.\n"
    district = await db.scalar(select(District))
    assert district.boundary == {"type": "Polygon", "coordinates": [[*WARD["coordinates"][0], [-87.91, 43.05]]]}

    coordinator = ["users", "create", "--email", "casey@ward.example", "--name", "Casey", "--role", "coordinator",
                   "--district", "Third Ward BID", "--password", "detective-lantern-9"]  # fmt: skip
    assert (await invoke(runner, coordinator)).exit_code == 0
    assert (await invoke(runner, ["districts", "create", "Harbor BID"])).output == "Created Harbor BID.\n"
    listed = await invoke(runner, ["districts", "list"])
    assert listed.exit_code == 0
    assert listed.output.splitlines() == [
        "Harbor BID: 0 members (0 joined), no boundary; no coordinator yet",
        "Third Ward BID: 0 members (0 joined), boundary set; Casey <casey@ward.example>",
    ]

    set_boundary = await invoke(runner, ["districts", "set-boundary", "harbor bid", str(ward)])
    assert set_boundary.exit_code == 0, set_boundary.output
    assert set_boundary.output == "Boundary of Harbor BID set: 4 corners.\n"
    db.expire_all()
    assert (await db.scalar(select(District).where(District.name == "Harbor BID"))).boundary is not None


async def test_districts_commands_refuse_in_one_clear_line(runner: CliRunner, db: AsyncSession, tmp_path: Path) -> None:
    from backend.districts.models import District

    assert (await invoke(runner, ["districts", "create", "Harbor BID"])).exit_code == 0
    duplicate = await invoke(runner, ["districts", "create", "HARBOR BID"])
    assert duplicate.exit_code == 2 and "A district named Harbor BID already exists" in duplicate.output

    point = tmp_path / "point.geojson"
    point.write_text('{"type": "Point", "coordinates": [-87.9, 43.05]}')
    wrong = await invoke(runner, ["districts", "create", "Point BID", "--boundary", str(point)])
    assert wrong.exit_code == 2 and "Boundary: The boundary is a Point; it must be a Polygon" in wrong.output
    missing = await invoke(runner, ["districts", "create", "File BID", "--boundary", str(tmp_path / "none.json")])
    assert missing.exit_code == 2 and "Cannot read the boundary file" in missing.output
    not_json = tmp_path / "ward.txt"
    not_json.write_text("Third Ward, roughly")
    refused = await invoke(runner, ["districts", "set-boundary", "Harbor BID", str(not_json)])
    assert refused.exit_code == 2 and "is not valid JSON" in refused.output
    unknown = await invoke(runner, ["districts", "set-boundary", "Nowhere BID", str(point)])
    assert unknown.exit_code == 1 and "No district is named 'Nowhere BID'" in unknown.output

    assert (await db.scalars(select(District.name))).all() == ["Harbor BID"]
    assert await db.scalar(select(District.boundary)) is None
