"""The OpenAPI description (/schema/openapi.json) says how the API answers errors (problem details, RFC 9457), which
4xx each operation gives, and that request bodies refuse fields they do not know; and the app does what it says."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from typing import Any

from litestar import Litestar
from sqlalchemy.ext.asyncio import AsyncSession

from backend.accounts import service as accounts
from backend.accounts.models import Role
from backend.openapi import PUBLIC_OPERATIONS
from backend.web import MACHINE_PREFIXES
from tests.conftest import Client
from tests.helpers import PASSWORD, sign_up
from tests.requests.conftest import investigator
from tests.sharing.conftest import live_desk

METHODS = {"get", "put", "post", "patch", "delete", "head", "options"}
PROBLEM = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/ProblemDetails"}}}
# RFC 6749 answers a token request's errors as {"error", "error_description"} JSON, not as a problem.
OAUTH_ERRORS = {("POST", "/device/v1/token", "400")}
# RFC 6749 (sections 3.1 and 3.2): the pairing endpoints, form-encoded, ignore parameters they do not know.
OAUTH_FORMS = {("POST", "/device/v1/device_authorization"), ("POST", "/device/v1/token")}
# Bearer-authenticated (no cookie) or proved by a secret in the body: no CSRF token.
CSRF_EXEMPT = ("/device/", "/live/v1/whip", "/api/v1/push/subscription-change")


async def openapi(client: Client) -> dict[str, Any]:
    response = await client.get("/schema/openapi.json")
    assert response.status_code == 200
    return response.json()


def api_operations(schema: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in schema["paths"].items():
        if path.startswith(MACHINE_PREFIXES):
            for method, operation in item.items():
                if method in METHODS:
                    yield method.upper(), path, operation


def resolve(schema: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        node = schema["components"]["schemas"][node["$ref"].rsplit("/", 1)[1]]
    return node


def open_objects(schema: dict[str, Any], node: dict[str, Any], seen: set[int]) -> Iterator[dict[str, Any]]:
    """Every object schema inside `node` (through references, properties, items and unions) that does not say
    additionalProperties: false."""
    node = resolve(schema, node)
    if id(node) in seen:
        return
    seen.add(id(node))
    if node.get("type") == "object" or "properties" in node:
        if node.get("additionalProperties") is not False:
            yield node
    for child in node.get("properties", {}).values():
        yield from open_objects(schema, child, seen)
    for key in ("items", "additionalProperties"):
        if isinstance(node.get(key), dict):
            yield from open_objects(schema, node[key], seen)
    for key in ("oneOf", "anyOf", "allOf"):
        for child in node.get(key, []):
            yield from open_objects(schema, child, seen)


def fill(path: str) -> str:
    return re.sub(r"\{\w+\}", lambda _: str(uuid.uuid4()), path)


async def test_every_api_operation_declares_its_errors_as_problem_details(client: Client) -> None:
    schema = await openapi(client)
    assert set(resolve(schema, PROBLEM["application/problem+json"]["schema"])["required"]) == {
        "status",
        "title",
        "detail",
    }
    operations = list(api_operations(schema))
    assert len(operations) > 70
    for method, path, operation in operations:
        responses = operation["responses"]
        errors = {status for status in responses if int(status) >= 400}
        assert errors, f"{method} {path} declares no error answer"
        for status in errors:
            if (method, path, status) in OAUTH_ERRORS:
                assert list(responses[status]["content"]) == ["application/json"]
                continue
            assert responses[status]["content"] == PROBLEM, f"{method} {path} {status}"
        if (method, path) not in PUBLIC_OPERATIONS:  # signed in (a session, or a device's credential)
            assert {"400", "401", "403", "404"} <= errors, f"{method} {path}: {sorted(errors)}"
        if method not in {"GET", "HEAD", "OPTIONS"} and not path.startswith(CSRF_EXEMPT):
            assert "403" in errors, f"{method} {path}: a missing CSRF token is a 403"
    paths = schema["paths"]
    assert "429" in paths["/api/v1/auth/login"]["post"]["responses"]
    assert "429" in paths["/api/v1/devices/pair"]["post"]["responses"]
    assert "409" in paths["/api/v1/shares"]["post"]["responses"]
    assert "409" in paths["/api/v1/requests/{request_id}/answer"]["post"]["responses"]
    assert {"409", "412", "413", "415", "422", "423"} <= set(paths["/api/v1/uploads/{clip_id}"]["patch"]["responses"])
    assert {"412", "413"} <= set(paths["/api/v1/requests/{request_id}/uploads"]["post"]["responses"])
    assert "413" in paths["/api/v1/sites"]["post"]["responses"]  # every body has a size limit
    assert "401" not in paths["/api/v1/auth/login"]["post"]["responses"]
    # An answer without a body says so (no JSON `null`).
    assert "content" not in paths["/api/v1/auth/logout"]["post"]["responses"]["204"]


async def test_anonymous_calls_get_answers_the_schema_declares(client: Client) -> None:
    """Every operation, called signed out with unknown ids: the status and its content type are declared (the
    schemathesis test checks the same signed in)."""
    schema = await openapi(client)
    undeclared = []
    async with Client(client.app) as anonymous:
        for method, path, operation in api_operations(schema):
            response = await anonymous.request(
                method, fill(path), headers={"x-csrftoken": await anonymous.csrf_token()}, follow_redirects=False
            )
            declared = operation["responses"].get(str(response.status_code))
            media_type = response.headers.get("content-type", "").split(";")[0]
            if declared is None or (response.content and media_type not in declared.get("content", {})):
                undeclared.append(f"{method} {path}: {response.status_code} {media_type}")
    assert undeclared == []


async def test_request_bodies_refuse_unknown_fields_and_the_schema_says_so(
    client: Client, other_client: Client, app: Litestar, db: AsyncSession
) -> None:
    schema = await openapi(client)
    json_bodies = []
    for method, path, operation in api_operations(schema):
        content = operation.get("requestBody", {}).get("content", {})
        if (method, path) in OAUTH_FORMS:
            assert list(content) == ["application/x-www-form-urlencoded"]
            continue
        for media_type, body in content.items():
            assert media_type == "application/json", f"{method} {path}"
            open_ones = [node.get("title", node) for node in open_objects(schema, body["schema"], set())]
            assert open_ones == [], f"{method} {path} takes unknown fields in {open_ones}"
            json_bodies.append((method, path))
    assert len(json_bodies) > 20

    # And they are refused: by someone who may call the operation, an unknown field is a 400 that names it.
    await sign_up(client, "body-owner@example.com")
    await investigator(db, other_client, "body-det@mpd.example", "Milwaukee PD")
    async with Client(app) as desk, Client(app) as anonymous, Client(app) as coordinator:
        await live_desk(db, desk, email="body-desk@mpd.example")
        await accounts.create_user(
            db, email="body-coord@example.com", password=PASSWORD, display_name="Coordinator",
            roles=[Role.COORDINATOR], district_name="Body BID",
        )  # fmt: skip
        credentials = {"email": "body-coord@example.com", "password": PASSWORD}
        assert (await coordinator.send_json("POST", "/api/v1/auth/login", credentials)).is_success
        refused = set()
        for method, path in json_bodies:
            for caller in (anonymous, client, other_client, desk, coordinator):
                response = await caller.send_json(method, fill(path), {"zz_unknown": 1})
                if response.status_code == 400 and response.json()["errors"][0]["field"] == "zz_unknown":
                    refused.add((method, path))
                    break
    assert sorted(set(json_bodies) - refused) == []
