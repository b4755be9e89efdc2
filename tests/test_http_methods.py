"""OPTIONS answers with the methods a path really serves (RFC 9110 section 9.3.7): every one, from the app's own
route table, on API paths and pages alike."""

from __future__ import annotations

import re
import uuid
from collections import defaultdict

from litestar import Litestar
from litestar.routes import HTTPRoute

from tests.conftest import Client
from tests.helpers import add_camera, add_site, sign_up

_SAMPLE = {"uuid": lambda: str(uuid.uuid4()), "int": lambda: "1", "str": lambda: "sample", "path": lambda: "sample"}


def allow_of(response) -> list[str]:
    return sorted(method.strip() for method in response.headers.get("allow", "").split(",") if method.strip())


async def test_options_on_a_site_and_a_camera_lists_every_method_they_serve(client: Client) -> None:
    await sign_up(client, "options@example.com")
    site = await add_site(client)
    camera = await add_camera(client, site["id"])
    for url in (f"/api/v1/sites/{site['id']}", f"/api/v1/cameras/{camera['id']}"):
        response = await client.options(url)
        assert response.status_code == 204, url
        assert allow_of(response) == ["DELETE", "GET", "OPTIONS", "PATCH"], url
        for method in ("GET", "PATCH"):  # each method it names is served (DELETE too, not tried: it deletes)
            assert (await client.send_json(method, url, {})).status_code != 405, (method, url)
    assert allow_of(await client.options("/api/v1/sites")) == ["GET", "OPTIONS", "POST"]


def registered_methods(app: Litestar) -> dict[str, set[str]]:
    """Every path of the route table (with its parameters' types) and the methods its handlers are registered for."""
    methods: dict[str, set[str]] = defaultdict(set)
    for route in app.routes:
        if isinstance(route, HTTPRoute):
            for handler in route.route_handlers:
                methods[route.path].update(handler.http_methods)
    return methods


async def test_options_names_exactly_the_registered_methods_on_every_path(client: Client, app: Litestar) -> None:
    table = registered_methods(app)
    assert len(table) > 80  # the whole table: API, device API, pages, static files
    wrong = []
    for path, methods in sorted(table.items()):
        url = re.sub(r"\{(\w+):(\w+)\}", lambda m: _SAMPLE[m.group(2)](), path)
        response = await client.options(url)
        if response.status_code >= 300 or allow_of(response) != sorted(methods | {"OPTIONS"}):
            wrong.append(f"{path}: {response.status_code} Allow: {response.headers.get('allow')}, "
                         f"registered: {sorted(methods)}")  # fmt: skip
    assert wrong == []
