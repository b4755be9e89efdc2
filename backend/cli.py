"""The `porchlight` command: serve, migrate, demo data and user management."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
from collections.abc import Awaitable, Callable
from typing import TypeVar

import click
from sqlalchemy.ext.asyncio import AsyncSession

from backend.accounts.models import Role
from backend.db import make_engine, migrate
from backend.errors import InvalidInput
from backend.settings import Settings

T = TypeVar("T")


def _with_db(settings: Settings, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    async def run() -> T:
        engine = make_engine(settings)
        try:
            async with AsyncSession(engine, expire_on_commit=False) as db:
                return await work(db)
        finally:
            await engine.dispose()

    return asyncio.run(run())


@click.group()
def main() -> None:
    """Porchlight: community camera registry that serves the camera owner first."""


@main.command("migrate")
def migrate_command() -> None:
    """Bring the database schema up to date (Alembic upgrade head)."""
    settings = Settings.from_env()
    migrate(settings.database_url)
    click.echo("Database is up to date.")


@main.command()
def demo() -> None:
    """Seed demo users and a few hundred Milwaukee-area sites and cameras (once)."""
    from backend import demo as demo_data

    settings = Settings.from_env()
    created = _with_db(settings, demo_data.seed)
    click.echo(f"Demo data: {created} sites created." if created else "Demo data is already present.")
    if config := _with_db(settings, lambda db: demo_data.demo_device(db, settings)):
        click.echo(f"Demo edge device: {demo_data.DEMO_DEVICE}, its agent's config in {config}.")


@main.command()
@click.option("--host", default=None, help="Address to listen on (PORCHLIGHT_HOST, default 127.0.0.1).")
@click.option("--port", default=None, type=int, help="Port (PORCHLIGHT_PORT, default 8000).")
@click.option("--workers", default=None, type=int, help="Worker processes (PORCHLIGHT_WORKERS, default 1).")
def serve(host: str | None, port: int | None, workers: int | None) -> None:
    """Serve the app with uvicorn."""
    import uvicorn

    from backend import demo as demo_data

    settings = Settings.from_env()
    host = host or settings.host
    port = port or settings.port
    shown_host = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    click.echo(f"\n  Porchlight is running: open http://{shown_host}:{port}\n")
    if settings.show_demo_logins and _with_db(settings, demo_data.demo_present):
        click.echo("  Demo logins (email / password):")
        for login in demo_data.DEMO_LOGINS:
            click.echo(f"    {login.role:<13} {login.email:<38} {login.password}")
            if login.totp_secret:
                click.echo(f"    {'':<13} then a code from an authenticator app with the key {login.totp_secret}")
                click.echo(f"    {'':<13} (no app? `porchlight totp-code {login.totp_secret}` prints the current code)")
        click.echo("")
    click.echo(f"  API: http://{shown_host}:{port}/api/v1   OpenAPI: http://{shown_host}:{port}/schema\n")
    if not settings.smtp_url and settings.environment != "production":
        click.echo(f"  No SMTP server set: emails Porchlight sends are at http://{shown_host}:{port}/dev/mailbox\n")
    workers = workers or settings.workers
    agent = _start_demo_agent(settings)
    try:
        if workers > 1 and sys.platform == "linux":  # a socket per worker (SO_REUSEPORT): see backend/serving.py
            from backend.serving import serve_workers

            exit_code = serve_workers(host, port, workers, proxy_headers=True, log_level="info")
        else:  # one process; or elsewhere, where SO_REUSEPORT does not spread connections, uvicorn's workers
            uvicorn.run("backend.app:create_app_from_env", factory=True, host=host, port=port, workers=workers,
                        proxy_headers=True, log_level="info")  # fmt: skip
            exit_code = 0
    finally:
        if agent is not None:
            agent.terminate()
            agent.wait(timeout=10)
    if exit_code:
        raise SystemExit(exit_code)


def _start_demo_agent(settings: Settings) -> subprocess.Popen[bytes] | None:
    """Outside production, the demo owner's simulated edge device runs beside the server (see `porchlight demo`),
    so that its health shows live in the app."""
    from backend import demo as demo_data

    config = demo_data.demo_edge_config(settings)
    agent_command = shutil.which("porchlight-edge", path=os.path.dirname(sys.executable))  # the venv's bin
    if not settings.show_demo_logins or not config.exists() or agent_command is None:
        return None
    log = config.with_suffix(".log")
    click.echo(f"  Demo edge device: {demo_data.DEMO_DEVICE} is running its agent (log: {log}).\n")
    with log.open("ab") as output:
        return subprocess.Popen(
            [agent_command, "run", "--config", str(config)],
            stdout=output,
            stderr=subprocess.STDOUT,
        )


@main.command("totp-code")
@click.argument("secret")
def totp_code(secret: str) -> None:
    """Print the current 6-digit code for a TOTP key (to try the demo investigator without an authenticator app)."""
    import pyotp

    click.echo(pyotp.TOTP(secret.replace(" ", "")).now())


@main.group()
def users() -> None:
    """Manage accounts."""


@users.command("create")
@click.option("--email", required=True)
@click.option("--name", "display_name", required=True, help="Name shown in the app.")
@click.option(
    "--role",
    "roles",
    multiple=True,
    required=True,
    type=click.Choice([r.value for r in Role]),
    help="Repeat for several roles.",
)
@click.option("--agency", default=None, help="Agency name (required for investigator and live_desk).")
@click.option("--district", default=None, help="District name (required for coordinator).")
@click.password_option(help="At least 8 characters, not a common password.")
def create_user(
    email: str, display_name: str, roles: tuple[str, ...], agency: str | None, district: str | None, password: str
) -> None:
    """Create an account with the given roles."""
    from backend.accounts import service

    async def work(db: AsyncSession) -> None:
        await service.create_user(
            db,
            email=email,
            password=password,
            display_name=display_name,
            roles=[Role(r) for r in roles],
            agency_name=agency,
            district_name=district,
        )

    try:
        _with_db(Settings.from_env(), work)
    except InvalidInput as exc:
        raise click.UsageError("; ".join(exc.errors.values())) from exc
    click.echo(f"Created {email} ({', '.join(roles)}).")


@main.group()
def districts() -> None:
    """Business improvement districts (their coordinators: `users create --role coordinator --district NAME`)."""


def _boundary_file(path: str | None) -> str:
    if path is None:
        return ""
    try:
        with open(path, encoding="utf-8") as file:
            return file.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise click.UsageError(f"Cannot read the boundary file {path}: {exc}") from exc


def _district_work(work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """Run a district command; a refusal is one clear line and exit code 2 (1 for a district that does not exist)."""
    from backend.errors import NotFound

    try:
        return _with_db(Settings.from_env(), work)
    except InvalidInput as exc:
        raise click.UsageError("; ".join(exc.errors.values())) from exc
    except NotFound as exc:
        raise click.ClickException(exc.detail) from exc


@districts.command("create")
@click.argument("name")
@click.option("--boundary", "boundary_path", default=None, help="A GeoJSON file with the district's Polygon.")
def districts_create(name: str, boundary_path: str | None) -> None:
    """Create the district NAME, with an optional boundary."""
    from backend.districts import admin

    boundary = _boundary_file(boundary_path)
    district = _district_work(lambda db: admin.create_district(db, name, boundary))
    click.echo(f"Created {district.name}{' with its boundary' if district.boundary else ''}.")


@districts.command("list")
def districts_list() -> None:
    """Every district with its coordinators, roster size and whether it has a boundary."""
    from backend.districts import admin

    found = _district_work(admin.list_districts)
    if not found:
        click.echo("No districts yet: `porchlight districts create NAME` makes one.")
    for district in found:
        people = ", ".join(f"{c.display_name} <{c.email}>" for c in district.coordinators) or "no coordinator yet"
        boundary = "boundary set" if district.has_boundary else "no boundary"
        click.echo(f"{district.name}: {district.members} members ({district.joined} joined), {boundary}; {people}")


@districts.command("set-boundary")
@click.argument("name")
@click.argument("boundary_path", metavar="FILE")
def districts_set_boundary(name: str, boundary_path: str) -> None:
    """Set the boundary of the district NAME from a GeoJSON FILE (a Polygon, or a Feature or FeatureCollection
    holding one)."""
    from backend.districts import admin

    boundary = _boundary_file(boundary_path)
    district = _district_work(lambda db: admin.set_boundary(db, name, boundary))
    corners = len(district.boundary["coordinates"][0]) - 1 if district.boundary else 0
    click.echo(f"Boundary of {district.name} set: {corners} corners.")


@main.group()
def evidence() -> None:
    """Evidence clips on disk."""


@evidence.command("verify")
def evidence_verify() -> None:
    """Re-hash every received clip against its recorded SHA-256 and list missing, changed and stray files.
    Exit code 1 if anything is wrong."""
    from backend.requests.evidence import ClipStore, verify_store

    settings = Settings.from_env()
    check = _with_db(settings, lambda db: verify_store(db, ClipStore(settings.evidence_path)))
    for line in [*check.missing, *check.changed, *check.orphaned]:
        click.echo(line)
    click.echo(
        f"{check.checked} clips checked: {len(check.missing)} missing, {len(check.changed)} changed, "
        f"{len(check.orphaned)} stray files."
    )
    if check.problems:
        raise SystemExit(1)


@main.group()
def audit() -> None:
    """The custody log's hash chains."""


@audit.command("verify")
def audit_verify() -> None:
    """Recompute every agency's custody chain and name each row that was changed, removed or inserted.
    Prints each chain's head: compare it with one recorded earlier. Exit code 1 if anything is wrong."""
    from backend.requests.audit import verify

    check = _with_db(Settings.from_env(), verify)
    for line in check.problems:
        click.echo(line)
    for chain in check.chains:
        click.echo(f"{chain.agency}: {chain.events} events, head event {chain.head_id} {chain.head_hash}")
    click.echo(f"{check.events} custody events in {len(check.chains)} chains checked: {len(check.problems)} problems.")
    if check.problems:
        raise SystemExit(1)


@main.command()
@click.argument("role")
def grants(role: str) -> None:
    """Print the PostgreSQL grants for ROLE, the database user the application runs as (migrations run as the
    tables' owner). The custody log is append-only: ROLE may read and add rows, never change or remove them."""
    from backend.db import app_grants

    for statement in app_grants(role):
        click.echo(f"{statement};")


@main.command()
@click.option("--host", default=None, help="Address to listen on (PORCHLIGHT_HOST, default 127.0.0.1).")
@click.option("--port", default=8001, type=int, help="Port (default 8001).")
def relay(host: str | None, port: int) -> None:
    """Run the live relay (WHIP/WHEP) as its own process. Route /live/v1/ to it and set
    PORCHLIGHT_RELAY_IN_PROCESS=0 on the app processes (one relay process: it holds the peer connections)."""
    import uvicorn

    settings = Settings.from_env()
    click.echo(f"Live relay on http://{host or settings.host}:{port}/live/v1 (Ctrl+C stops it).")
    uvicorn.run("backend.app:create_relay_from_env", factory=True, host=host or settings.host, port=port)


@main.command()
def worker() -> None:
    """Deliver push notifications and sweep footage requests until stopped (run several on PostgreSQL:
    they share the work). Set PORCHLIGHT_BACKGROUND_IN_PROCESS=0 on the app processes when workers run.
    """
    import signal

    from backend.listening import listening
    from backend.notifications.delivery import running_worker
    from backend.requests.evidence import ClipStore
    from backend.sweeper import running_sweeper
    from push.outbox import DOORBELL

    settings = Settings.from_env()

    async def run() -> None:
        engine = make_engine(settings)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        try:
            async with (
                listening(settings.database_url, [DOORBELL]),  # deliveries queued by the app processes wake it
                running_worker(settings, engine),
                running_sweeper(engine, ClipStore(settings.evidence_path)),
            ):
                click.echo("Push worker running; Ctrl+C stops it.")
                await stop.wait()
        finally:
            await engine.dispose()

    asyncio.run(run())
