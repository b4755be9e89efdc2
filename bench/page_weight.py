"""Page weight: the CSS and JS each page loads, gzip-compressed. Target: under 50 KB per page."""

from __future__ import annotations

import asyncio
import gzip
import re
import tempfile
from pathlib import Path

from litestar.testing import AsyncTestClient

from backend.app import create_app
from backend.db import migrate
from backend.settings import Settings
from bench.report import Target, record

TARGET_KB = 50.0
_ASSET = re.compile(r'<(?:link rel="stylesheet" href|script src)="([^"]+)"')


def _gz_kb(body: bytes) -> float:
    return len(gzip.compress(body, compresslevel=6)) / 1024


async def _measure(directory: Path) -> list[tuple[str, float, float]]:
    url = f"sqlite+aiosqlite:///{directory / 'bench.db'}"
    settings = Settings(database_url=url, secret_key="bench", var_dir=directory, show_demo_logins=False)
    async with AsyncTestClient(app=create_app(settings)) as client:
        await client.get("/health")
        headers = {"x-csrftoken": client.cookies["csrftoken"]}
        owner = {"email": "bench@example.com", "password": "bench-lantern-42", "display_name": "Bench"}
        await client.post("/api/v1/auth/signup", json=owner, headers=headers)
        headers = {"x-csrftoken": client.cookies["csrftoken"]}  # signing in gives a new CSRF token
        site = {
            "name": "Shop",
            "address": "1 Main St",
            "latitude": 43.0,
            "longitude": -87.9,
            "kind": "business",
            "contact_phone": "555-0100",
        }
        site_id = (await client.post("/api/v1/sites", json=site, headers=headers)).json()["id"]
        camera = {"name": "Door", "bearing_deg": 90, "placement": "outdoor", "recorder": "cloud", "retention_days": 7}
        camera_id = (await client.post(f"/api/v1/sites/{site_id}/cameras", json=camera, headers=headers)).json()["id"]
        pages = [
            "/sites",
            f"/sites/{site_id}",
            "/sites/new",
            f"/sites/{site_id}/cameras/new",
            f"/cameras/{camera_id}/edit",
            "/account",
            "/offline",
        ]
        rows = []
        for path in pages:
            html = (await client.get(path)).content
            assets = sum([_gz_kb((await client.get(src)).content) for src in _ASSET.findall(html.decode())], 0.0)
            rows.append((path, assets, _gz_kb(html)))
        await client.post("/logout", headers=headers)
        for path in ["/", "/login", "/signup"]:
            html = (await client.get(path)).content
            assets = sum([_gz_kb((await client.get(src)).content) for src in _ASSET.findall(html.decode())], 0.0)
            rows.append((path, assets, _gz_kb(html)))
    return rows


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        migrate(f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}")
        rows = asyncio.run(_measure(Path(tmp)))
    print(f"\nPage weight (gzip): CSS + JS per page, target < {TARGET_KB:.0f} KB")
    print(f"  {'page':<48} {'css+js KB':>9} {'html KB':>8}  verdict")
    for path, assets, html in rows:
        shown = re.sub(r"[0-9a-f]{8}-[0-9a-f-]{27}", "{id}", path)
        verdict = "ok" if assets < TARGET_KB else "OVER TARGET"
        print(f"  {shown:<48} {assets:>9.1f} {html:>8.1f}  {verdict}")
    worst = max(assets for _, assets, _ in rows)
    print(f"  heaviest page: {worst:.1f} KB of CSS+JS (target < {TARGET_KB:.0f} KB)")
    record("Page weight (gzip)", "heaviest page's CSS + JS", f"{worst:.1f} KB", measured=worst,
           target=Target(TARGET_KB, higher_is_better=False))  # fmt: skip
