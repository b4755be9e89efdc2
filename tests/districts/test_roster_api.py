"""The roster's JSON API: problem details naming the field, the member's shape, the district's totals; and the API
description says what the operations answer."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.districts.models import DistrictMember
from tests.conftest import Client
from tests.districts.conftest import Coordinator, joined_member


async def test_a_member_is_added_read_corrected_and_removed_through_the_api(
    coordinator: Coordinator, db: AsyncSession
) -> None:
    api = coordinator.client
    created = await api.send_json(
        "POST", "/api/v1/district/members",
        {"business_name": "Moth Coffee", "email": "Hello@Moth.example", "latitude": 43.05, "longitude": -87.91},
    )  # fmt: skip
    assert created.status_code == 201, created.text
    member = created.json()
    assert member["email"] == "hello@moth.example" and member["status"] == "listed" and member["source"] == "manual"
    assert [s["step"] for s in member["steps"]] == ["invited", "account", "site", "cameras", "device", "share_on_alert"]
    assert all(s["reached_at"] is None for s in member["steps"]) and member["furthest_step"] is None

    again = await api.send_json(
        "POST", "/api/v1/district/members", {"business_name": "Moth", "email": "hello@moth.example"}
    )
    assert again.status_code == 400
    assert again.json()["errors"] == [
        {"field": "email", "message": "Moth Coffee is already on the roster with this email"}
    ]
    wrong = await api.send_json("POST", "/api/v1/district/members", {"business_name": "", "latitude": 91, "zz": 1})
    assert wrong.status_code == 400
    assert [e["field"] for e in wrong.json()["errors"]] == ["zz", "business_name", "latitude"]
    assert await db.scalar(select(func.count()).select_from(DistrictMember)) == 1

    read = await api.get(f"/api/v1/district/members/{member['id']}")
    assert read.status_code == 200 and read.json() == member
    patched = await api.send_json("PATCH", f"/api/v1/district/members/{member['id']}", {"phone": "414-555-0111"})
    assert patched.status_code == 200 and patched.json()["phone"] == "414-555-0111"
    assert patched.json()["business_name"] == "Moth Coffee"  # what the PATCH did not carry stays

    totals = (await api.get("/api/v1/district")).json()
    assert totals["members"] == 1 and totals["by_status"]["listed"] == 1
    assert [s["reached"] for s in totals["steps"]] == [0, 0, 0, 0, 0, 0]

    gone = await api.send_json("DELETE", f"/api/v1/district/members/{member['id']}")
    assert gone.status_code == 204
    assert (await api.get(f"/api/v1/district/members/{member['id']}")).status_code == 404


async def test_only_coordinators_reach_the_roster_api(
    coordinator: Coordinator, db: AsyncSession, client: Client
) -> None:
    joined = await joined_member(db, coordinator.district_id, client, "Nook Books")
    # The member's own owner account is not a coordinator: 403, whatever district they are in.
    assert (await client.get("/api/v1/district/members")).status_code == 403
    assert (await client.get(f"/api/v1/district/members/{joined.member.id}")).status_code == 403
    refused = await joined.owner.send_json("POST", "/api/v1/district/members", {"business_name": "Sneaky"})
    assert refused.status_code == 403
    assert refused.headers["content-type"].startswith("application/problem+json")


async def test_the_api_description_lists_the_roster_operations_and_their_answers(client: Client) -> None:
    paths = (await client.get("/schema/openapi.json")).json()["paths"]
    assert {"get", "post"} <= set(paths["/api/v1/district/members"])
    assert "409" in paths["/api/v1/district/members/{member_id}"]["delete"]["responses"]
    assert {"409", "410"} <= set(paths["/api/v1/district/import/{import_id}/confirm"]["post"]["responses"])
    assert "413" in paths["/api/v1/district/import/preview"]["post"]["responses"]
