"""The installable app's own files: web app manifest, service worker, offline page."""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

from litestar import Controller, Request, Response, get
from litestar.response import Template

from backend.web import STATIC_DIR, Viewer, provide_viewer

APP_NAME = "Porchlight"
THEME_COLOR = "#0b3a5b"
BACKGROUND_COLOR = "#ffffff"
ICONS = [
    {"src": "icons/icon-192.png", "sizes": "192x192", "type": "image/png", "purpose": "any"},
    {"src": "icons/icon-512.png", "sizes": "512x512", "type": "image/png", "purpose": "any"},
    {"src": "icons/maskable-512.png", "sizes": "512x512", "type": "image/png", "purpose": "maskable"},
]
# Public files the service worker keeps for offline use: never anything behind sign-in.
SHELL_FILES = ["app.css", "app.js", "icons/icon-192.png"]


@lru_cache(maxsize=1)
def _worker_source() -> str:
    return (STATIC_DIR.parent / "sw.js").read_text()


def _static_url(request: Request, path: str) -> str:
    return f"/static/{request.app.state.assets_version}/{path}"


class PwaRoutes(Controller):
    include_in_schema = False

    @get("/manifest.webmanifest", media_type="application/manifest+json", cache=False)
    async def manifest(self, request: Request) -> dict[str, Any]:
        return {
            "id": "/",
            "name": f"{APP_NAME} — your cameras, your call",
            "short_name": APP_NAME,
            "description": "Register your security cameras and answer police footage requests on your terms.",
            "start_url": "/?source=pwa",
            "scope": "/",
            "display": "standalone",
            "orientation": "portrait",
            "theme_color": THEME_COLOR,
            "background_color": BACKGROUND_COLOR,
            "icons": [{**icon, "src": _static_url(request, icon["src"])} for icon in ICONS],
            # A long press on the installed app's icon: straight to "Share now" during an incident.
            "shortcuts": [
                {
                    "name": "Share now",
                    "short_name": "Share now",
                    "description": "Share your cameras live with the police live desk",
                    "url": "/share",
                    "icons": [{"src": _static_url(request, ICONS[0]["src"]), "sizes": "192x192", "type": "image/png"}],
                }
            ],
        }

    @get("/sw.js", media_type="text/javascript")
    async def service_worker(self, request: Request) -> Response[bytes]:
        version = request.app.state.assets_version
        shell = ["/offline", *(_static_url(request, f) for f in SHELL_FILES)]
        body = _worker_source().replace("__VERSION__", version).replace('"__SHELL__"', json.dumps(shell)[1:-1])
        # The browser must always fetch the worker fresh so a new release takes over.
        return Response(body.encode(), media_type="text/javascript", headers={"Cache-Control": "no-cache"})

    @get("/offline", cache=False, dependencies={"viewer": provide_viewer})
    async def offline(self, request: Request, viewer: Viewer) -> Template:
        """With the header of whoever is signed in, so the page the worker keeps matches their navigation; never
        an unread count (the kept copy would show a stale one)."""
        request.state.unread = 0
        return Template("offline.html")
