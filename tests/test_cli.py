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
    config = tmp_path / "demo-edge.toml"
    assert config.stat().st_mode & 0o777 == 0o600
    settings = tomllib.loads(config.read_text())
    device = await db.scalar(select(EdgeDevice))
    assert device.name == "Storefront core (demo)" and settings["device_id"] == str(device.id)
    assert device.credential_hash == token_hash(settings["credential"])
    site_cameras = (await db.scalars(select(Camera.name).where(Camera.site_id == device.site_id))).all()
    assert sorted(c["name"] for c in settings["cameras"]) == sorted(site_cameras)
    assert {c["simulate"] for c in settings["cameras"]} == {"healthy", "flaky"}

    again = await invoke(runner, ["demo"])  # every `make run`: the same device, a fresh credential in its config
    assert again.exit_code == 0
    assert await db.scalar(select(func.count()).select_from(EdgeDevice)) == 1
    renewed = tomllib.loads(config.read_text())
    db.expire_all()
    assert renewed["credential"] != settings["credential"]
    assert (await db.scalar(select(EdgeDevice))).credential_hash == token_hash(renewed["credential"])


async def test_totp_code_prints_the_current_code_of_a_key(runner: CliRunner) -> None:
    import time

    import pyotp

    result = await invoke(runner, ["totp-code", "PORC HLIG HTDE MOIN VEST IGAT ORSE CRET"])
    totp = pyotp.TOTP("PORCHLIGHTDEMOINVESTIGATORSECRET")
    assert result.exit_code == 0 and result.output.strip() in {totp.at(time.time() + d) for d in (-30, 0, 30)}
