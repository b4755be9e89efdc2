"""Every page form's error path: wrong or empty input comes back as the page (HTML, never JSON, never the page's
HTML inside a JSON answer), with each message beside its field in the words of the field's label.

The routes come from the app itself: a page form added without an entry in FORMS fails the test."""

from __future__ import annotations

import datetime as dt
import html
import json
import re
import uuid
import zoneinfo
from dataclasses import dataclass, field
from typing import Any

import httpx
from litestar import Litestar, post
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.response import Template
from litestar.routes import HTTPRoute
from litestar.template import TemplateConfig
from litestar.testing import AsyncTestClient
from sqlalchemy.ext.asyncio import AsyncSession

from backend.accounts import service as accounts
from backend.accounts.models import Role
from backend.districts import admin as district_admin
from backend.districts import invites
from backend.districts.models import District
from backend.web import MACHINE_PREFIXES, pages_answer_in_html
from push.fake_service import FakePushService
from tests.conftest import Client
from tests.districts.conftest import add_member
from tests.helpers import PASSWORD, add_camera, add_site, sign_up, subscribed_browser
from tests.requests.conftest import investigator, request_body
from tests.requests.test_evidence import upload
from tests.sharing.conftest import live_desk, online_device

UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}
UNKNOWN = str(uuid.UUID(int=7))  # an id nobody has: the action is refused and nothing changes
_HOUR_AGO = (dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)).astimezone(zoneinfo.ZoneInfo("America/Chicago"))
SEARCH = {  # the console's search fields, around the owner's site (tests.helpers.SITE)
    "latitude": "43.0589", "longitude": "-87.9050", "radius_m": "250",
    "window_start": _HOUR_AGO.strftime("%Y-%m-%dT%H:%M"),
    "window_end": (_HOUR_AGO + dt.timedelta(minutes=30)).strftime("%Y-%m-%dT%H:%M"),
}  # fmt: skip


@dataclass(frozen=True)
class Form:
    """How to reach a page form's error path: who posts (`anonymous`; `owner`; `sharer`, an owner with a share on;
    `investigator`; `desk`, the live desk; `admin`; `coordinator`, a district's), where (the path, with the ids of
    the objects the setup made), what, and which message each field must show (its error element's id without "f-"
    and "-error", and words of the message: the field's label where the message is about the value). `fields` empty:
    an action without input, sent for an object that does not exist or without what it needs; it must still answer
    a page or a redirect."""

    who: str
    path: str
    data: dict[str, Any] = field(default_factory=dict)
    fields: dict[str, str] = field(default_factory=dict)


# The key is the route as the app declares it; the path below fills in the ids.
FORMS: dict[tuple[str, str], Form] = {
    # Accounts
    ("POST", "/signup"): Form(
        "anonymous",
        "/signup",
        {"email": "nope", "display_name": " ", "password": "short"},
        {
            "email": "Email is not in the expected format",
            "display_name": "Your name is required",
            "password": "Password must be at least 8 characters",
        },
    ),
    ("POST", "/login"): Form(
        "anonymous",
        "/login",
        {"email": "", "password": ""},
        {"email": "Email is required", "password": "Password is required"},
    ),
    ("POST", "/login/code"): Form("anonymous", "/login/code", {"code": ""}),  # no password step: back to sign-in
    ("POST", "/password/forgot"): Form("anonymous", "/password/forgot", {"email": ""}, {"email": "Email is required"}),
    ("POST", "/password/reset/{token:str}"): Form(
        "anonymous",
        "/password/reset/not-a-token",
        {"new_password": ""},
        {"new_password": "New password is required"},
    ),
    ("POST", "/password/choose"): Form(
        "owner", "/password/choose", {"new_password": ""}, {"new_password": "New password is required"}
    ),
    ("POST", "/logout"): Form("anonymous", "/logout"),
    ("POST", "/account/email"): Form(
        "owner",
        "/account/email",
        {"new_email": "nope", "current_password": ""},
        {  # the password form on the same page has a current_password too: this form's ids say "email-"
            "email-new_email": "New email address is not in the expected format",
            "email-current_password": "Current password is required",
        },
    ),
    ("POST", "/account/email/confirm-again"): Form("anonymous", "/account/email/confirm-again"),
    ("POST", "/account/email/confirm/{token:str}"): Form("anonymous", "/account/email/confirm/not-a-token"),
    ("POST", "/account/delete"): Form(
        "owner", "/account/delete", {"password": ""}, {"password": "Password is required"}
    ),
    ("POST", "/account/password"): Form(
        "owner",
        "/account/password",
        {"current_password": "", "new_password": ""},
        {"current_password": "Current password is required", "new_password": "New password is required"},
    ),
    ("POST", "/account/time-zone"): Form(
        "owner", "/account/time-zone", {"time_zone": ""}, {"time_zone": "Show times in is required"}
    ),
    # Administration
    ("POST", "/admin/users"): Form(
        "admin",
        "/admin/users",
        {"email": "", "display_name": "", "role": "", "password": ""},
        {"email": "Email is required", "display_name": "Name is required", "password": "First password is required"},
    ),
    ("POST", "/admin/users/{user_id:uuid}/reset-second-factor"): Form(
        "admin", f"/admin/users/{UNKNOWN}/reset-second-factor"
    ),
    ("POST", "/admin/users/{user_id:uuid}/disable"): Form("admin", f"/admin/users/{UNKNOWN}/disable"),
    ("POST", "/admin/users/{user_id:uuid}/enable"): Form("admin", f"/admin/users/{UNKNOWN}/enable"),
    ("POST", "/admin/users/{user_id:uuid}/roles"): Form("admin", f"/admin/users/{UNKNOWN}/roles", {"roles": "owner"}),
    ("POST", "/admin/districts"): Form(
        "admin",
        "/admin/districts",
        {"name": " ", "boundary": '{{"type": "Point"}}'},  # the setup's ids are formatted in: braces doubled
        {"name": "Name is required", "boundary": "Boundary: The boundary is a Point; it must be a Polygon"},
    ),
    ("POST", "/admin/districts/{district_id:uuid}"): Form(
        "admin",
        "/admin/districts/{district}",
        {"name": "x" * 201, "boundary": "[[-87.9, 43.05]"},
        {"name": "Name must be at most 200 characters", "boundary": "Boundary: The boundary is not valid JSON"},
    ),
    ("POST", "/admin/districts/{district_id:uuid}/coordinators"): Form(
        "admin",
        "/admin/districts/{district}/coordinators",
        {"email": "not-an-address", "display_name": "", "password": ""},
        {
            "email": "Email is not in the expected format",
            "display_name": "Name is required",
            "password": "First password is required",
        },
    ),  # fmt: skip
    # Sites and cameras
    ("POST", "/sites/new"): Form(
        "owner",
        "/sites/new",
        {"name": "", "kind": "", "address": "", "latitude": "north", "longitude": "200"},
        {
            "name": "Name is required",
            "latitude": "Latitude must be a number",
            "longitude": "Longitude must be at most 180",
        },
    ),
    ("POST", "/sites/{site_id:uuid}/edit"): Form(
        "owner",
        "/sites/{site}/edit",
        {"name": "", "address": "x", "latitude": "91", "longitude": "0", "kind": "home"},
        {"name": "Name is required", "latitude": "Latitude must be at most 90"},
    ),
    ("POST", "/sites/{site_id:uuid}/delete"): Form("owner", f"/sites/{UNKNOWN}/delete"),
    ("POST", "/sites/{site_id:uuid}/cameras/new"): Form(
        "owner",
        "/sites/{site}/cameras/new",
        {"name": "", "bearing_deg": "400", "range_m": "0"},
        {"name": "Name is required", "bearing_deg": "must be at most 359", "range_m": "must be at least 1"},
    ),
    ("POST", "/cameras/{camera_id:uuid}/edit"): Form(
        "owner",
        "/cameras/{camera}/edit",
        {"name": "", "retention_days": "400"},
        {"name": "Name is required", "retention_days": "must be at most 365"},
    ),
    ("POST", "/cameras/{camera_id:uuid}/delete"): Form("owner", f"/cameras/{UNKNOWN}/delete"),
    ("POST", "/cameras/{camera_id:uuid}/pause"): Form("owner", f"/cameras/{UNKNOWN}/pause"),
    ("POST", "/cameras/{camera_id:uuid}/resume"): Form("owner", f"/cameras/{UNKNOWN}/resume"),
    # Notifications
    ("POST", "/settings/notifications/{subscription_id:uuid}/rename"): Form(
        "owner",
        "/settings/notifications/{subscription}/rename",
        {"name": " "},
        {"name-{subscription}": "Device name must not be blank"},
    ),
    ("POST", "/settings/notifications/{subscription_id:uuid}/kinds"): Form(
        "owner", f"/settings/notifications/{UNKNOWN}/kinds"
    ),
    ("POST", "/settings/notifications/{subscription_id:uuid}/test"): Form(
        "owner", f"/settings/notifications/{UNKNOWN}/test"
    ),
    ("POST", "/settings/notifications/{subscription_id:uuid}/remove"): Form(
        "owner", f"/settings/notifications/{UNKNOWN}/remove"
    ),
    ("POST", "/notifications/read-all"): Form("anonymous", "/notifications/read-all"),
    # Footage requests, the owner's side
    ("POST", "/requests/{request_id:uuid}/answer"): Form(
        "owner",
        "/requests/{new_request}/answer",
        {"answer": "need_more_info", "message": ""},
        {"message": "Say what you need to know"},
    ),
    ("POST", "/requests/{request_id:uuid}/messages"): Form(
        "owner", "/requests/{request}/messages", {"text": " "}, {"text": "Write your message first"}
    ),
    ("POST", "/requests/{request_id:uuid}/clips/{clip_id:uuid}/note"): Form(
        "owner",
        "/requests/{request}/clips/{clip}/note",
        {"note": "x" * 1001},
        {"note-{clip}": "Note must be at most 1000 characters"},
    ),
    # The investigators' console
    ("POST", "/console/requests"): Form(
        "investigator",
        "/console/requests",
        {**SEARCH, "camera_ids": "{camera}", "case_number": "", "request_type": "voluntary"},
        {"case_number": "Case number is required"},
    ),
    ("POST", "/console/requests/{request_id:uuid}/contact"): Form(
        "investigator", f"/console/requests/{UNKNOWN}/contact"
    ),
    ("POST", "/console/requests/{request_id:uuid}/withdraw"): Form(
        "investigator", f"/console/requests/{UNKNOWN}/withdraw"
    ),
    ("POST", "/console/requests/{request_id:uuid}/messages"): Form(
        "investigator", "/console/requests/{new_request}/messages", {"text": ""}, {"text": "Write your reply first"}
    ),
    # Edge devices
    ("POST", "/devices/add"): Form(
        "owner",
        "/devices/add",
        {"user_code": "", "name": "", "site_id": "nowhere"},
        {
            "user_code": "Code shown on the device is required",
            "name": "Name for the device is required",
            "site_id": "Site",
        },
    ),
    ("POST", "/devices/{device_id:uuid}/edit"): Form(
        "owner", "/devices/{device}/edit", {"name": " ", "site_id": "{site}"}, {"name": "Name is required"}
    ),
    ("POST", "/devices/{device_id:uuid}/alerts"): Form("owner", f"/devices/{UNKNOWN}/alerts", {"alerts": "off"}),
    ("POST", "/devices/{device_id:uuid}/share-on-alert"): Form(
        "owner",
        "/devices/{device}/share-on-alert",
        {"share_on_alert": "on", "alert_share_minutes": "7"},
        {"alert_share_minutes": "Choose how long to share"},
    ),
    ("POST", "/devices/{device_id:uuid}/remove"): Form("owner", f"/devices/{UNKNOWN}/remove"),
    ("POST", "/devices/cameras/{device_camera_id:uuid}/link"): Form(
        "owner",
        "/devices/cameras/{device_camera}/link",
        {"camera_id": "{elsewhere}"},
        {"link-{device_camera}": "Pick a camera registered at this device's site"},
    ),
    ("POST", "/devices/cameras/{device_camera_id:uuid}/register"): Form(
        "owner", f"/devices/cameras/{UNKNOWN}/register"
    ),
    # Share now
    ("POST", "/share"): Form(
        "owner",
        "/share",
        {"site_id": "", "minutes": "0", "note": "x" * 301},
        {
            "site_id": "Site is required",
            "minutes": "Share for must be at least 1",
            "note": "Note for the live desk must be at most 300 characters",
        },
    ),
    ("POST", "/share/{share_id:uuid}/extend"): Form(
        "sharer", "/share/{share}/extend", {"minutes": "lots"}, {"minutes": "More time must be a whole number"}
    ),
    ("POST", "/share/{share_id:uuid}/stop"): Form("sharer", f"/share/{UNKNOWN}/stop"),
    ("POST", "/share/{share_id:uuid}/answer"): Form("sharer", f"/share/{UNKNOWN}/answer", {"approve": "yes"}),
    ("POST", "/live/{share_id:uuid}/acknowledge"): Form("desk", f"/live/{UNKNOWN}/acknowledge"),
    ("POST", "/live/{share_id:uuid}/more-time"): Form("desk", f"/live/{UNKNOWN}/more-time", {"minutes": "30"}),
    # District announcements (the coordinator's), and leaving a district (a member's)
    ("POST", "/district/announcements"): Form(
        "coordinator",
        "/district/announcements",
        {"title": "", "body": "x" * 1001, "audience": ""},
        {
            "title": "Title is required",
            "body": "Message must be at most 1000 characters",
            "audience": "Send to is required",
        },
    ),
    ("POST", "/account/districts/{district_id:uuid}/leave"): Form("owner", f"/account/districts/{UNKNOWN}/leave"),
    # The district roster (the coordinator's)
    ("POST", "/district/members/new"): Form(
        "coordinator",
        "/district/members/new",
        {"business_name": "", "email": "nope", "latitude": "north", "longitude": "200"},
        {
            "business_name": "Business name is required",
            "email": "Email is not in the expected format",
            "latitude": "Latitude must be a number",
            "longitude": "Longitude must be at most 180",
        },
    ),
    ("POST", "/district/members/{member_id:uuid}/edit"): Form(
        "coordinator",
        "/district/members/{member}/edit",
        {"business_name": "Form Bakery", "latitude": "43.1"},
        {"longitude": "Longitude is required when a latitude is given"},
    ),
    ("POST", "/district/members/{member_id:uuid}/remove"): Form("coordinator", f"/district/members/{UNKNOWN}/remove"),
    ("POST", "/district/import"): Form("coordinator", "/district/import", {}, {"file": "Choose a CSV file to upload"}),
    ("POST", "/district/import/{import_id:str}/confirm"): Form(
        "coordinator", "/district/import/not-an-import/confirm", {}, {"file": "No such import preview in your district"}
    ),
    # Invites: joining through the district link (an owner's; before the coordinator renews that link below), the
    # coordinator's actions (the form member has no email to send to, no invite to revoke, and is not pending)
    ("POST", "/join/{token:str}"): Form(
        "owner",
        "/join/{join_token}",
        {"business_name": " ", "address": "", "email": "nope"},
        {
            "business_name": "Business name is required",
            "address": "Street address is required",
            "email": "Contact email is not in the expected format",
        },
    ),
    ("POST", "/joined/{district_id:uuid}"): Form("owner", f"/joined/{UNKNOWN}", {"site_ids": "{site}"}),
    ("POST", "/district/members/{member_id:uuid}/invite"): Form("coordinator", "/district/members/{member}/invite"),
    ("POST", "/district/members/{member_id:uuid}/nudge"): Form("coordinator", f"/district/members/{UNKNOWN}/nudge"),
    ("POST", "/district/members/{member_id:uuid}/revoke"): Form("coordinator", "/district/members/{member}/revoke"),
    ("POST", "/district/members/{member_id:uuid}/poster"): Form("coordinator", f"/district/members/{UNKNOWN}/poster"),
    ("POST", "/district/pending/{member_id:uuid}/approve"): Form("coordinator", "/district/pending/{member}/approve"),
    ("POST", "/district/pending/{member_id:uuid}/decline"): Form("coordinator", f"/district/pending/{UNKNOWN}/decline"),
    ("POST", "/district/join-link/off"): Form("coordinator", "/district/join-link/off"),
    ("POST", "/district/join-link/on"): Form("coordinator", "/district/join-link/on"),
    ("POST", "/district/join-link/renew"): Form("coordinator", "/district/join-link/renew"),
}


def page_forms(app: Litestar) -> set[tuple[str, str]]:
    """Every page route that takes a form or an action: not the JSON and device APIs, not reads."""
    return {
        (method, route.path)
        for route in app.routes
        if isinstance(route, HTTPRoute) and not route.path.startswith(MACHINE_PREFIXES)
        for method in route.route_handler_map
        if method in UNSAFE
    }


async def _world(app: Litestar, db: AsyncSession, push_service: FakePushService, clients: dict[str, Client]) -> dict:
    """An owner with a site, a camera, a device sending video, a browser subscribed to push, a request accepted
    with a clip sent and a message from the investigator, a camera at a second site, another owner with a share
    on; an investigator of the request's agency, the live desk, an administrator."""
    owner, police = clients["owner"], clients["investigator"]
    await sign_up(owner, "owner@example.com")
    site = await add_site(owner)
    camera = await add_camera(owner, site["id"])
    elsewhere = await add_camera(owner, (await add_site(owner, name="Home"))["id"])  # not at the device's site
    async with Client(app) as box:
        device = await online_device(owner, box, site["id"], "front")
    device_camera = (await owner.get(f"/api/v1/devices/{device.id}")).json()["cameras"][0]["id"]
    user = await accounts.get_user_by_email(db, "owner@example.com")
    assert user is not None
    await subscribed_browser(db, push_service, user)
    subscription = (await owner.get("/api/v1/push/subscriptions")).json()[0]["id"]

    await investigator(db, police, "det@mpd.example", "Milwaukee PD")
    sent = await police.send_json("POST", "/api/v1/agency/requests", request_body([camera["id"]]))
    assert sent.status_code == 201, sent.text
    request = sent.json()[0]["id"]
    accepted = await owner.send_json("POST", f"/api/v1/requests/{request}/answer", {"answer": "accept"})
    assert accepted.status_code == 200, accepted.text
    clip = (await upload(owner, request))["id"]
    wrote = await police.send_json("POST", f"/api/v1/agency/requests/{request}/messages", {"text": "Which door?"})
    assert wrote.status_code == 201, wrote.text  # the conversation is open: the owner's reply form is shown
    again = await police.send_json("POST", "/api/v1/agency/requests", request_body([camera["id"]], case_number="B-2"))
    assert again.status_code == 201, again.text
    new_request = again.json()[0]["id"]
    await owner.get(f"/requests/{new_request}")  # seen; the investigator waits for an answer

    sharer = clients["sharer"]  # another owner, with a share on (the first one's "Share now" form stays open)
    await sign_up(sharer, "sharer@example.com")
    shared_site = await add_site(sharer, name="Garage")
    async with Client(app) as box:
        await online_device(sharer, box, shared_site["id"], "side")
    shared = await sharer.send_json("POST", "/api/v1/shares", {"site_id": shared_site["id"], "minutes": 30})
    assert shared.status_code == 201, shared.text

    await live_desk(db, clients["desk"])
    await investigator(db, clients["admin"], "admin@example.com", "Milwaukee PD", role=Role.ADMIN, name="Admin")
    await accounts.create_user(
        db, email="coordinator@example.com", password=PASSWORD, display_name="Coordinator",
        roles=[Role.COORDINATOR], district_name="Coordinator BID",
    )  # fmt: skip
    signed_in = await clients["coordinator"].send_json(
        "POST", "/api/v1/auth/login", {"email": "coordinator@example.com", "password": PASSWORD}
    )
    assert signed_in.status_code == 200, signed_in.text
    coordinator = await accounts.get_user_by_email(db, "coordinator@example.com")
    assert coordinator is not None
    member = await add_member(db, coordinator.district_id, "Form Bakery")  # type: ignore[arg-type]
    own_district = await db.get_one(District, coordinator.district_id)
    join_token = invites.district_token(app.state.settings.secret_key, own_district)  # its district-wide link
    district = await district_admin.create_district(db, "Form BID")
    return {
        "site": site["id"], "camera": camera["id"], "device": device.id, "device_camera": device_camera,
        "subscription": subscription, "request": request, "new_request": new_request, "clip": clip,
        "district": district.id, "member": member.id, "join_token": join_token, "elsewhere": elsewhere["id"],
        "share": shared.json()["id"],
    }  # fmt: skip


def _is_json(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


def _error_of(page: str, field_id: str) -> str:
    found = re.search(rf'<p class="error" id="f-{re.escape(field_id)}-error">([^<]*)</p>', page)
    return html.unescape(found.group(1)) if found else ""


async def test_every_page_form_answers_its_errors_as_the_page_beside_each_field(
    app: Litestar, db: AsyncSession, push_service: FakePushService
) -> None:
    declared = page_forms(app)
    assert declared - FORMS.keys() == set(), "page forms without an entry in FORMS: say how to reach their errors"
    assert FORMS.keys() - declared == set(), "entries in FORMS for page forms that no longer exist"

    async with (
        Client(app) as anonymous, Client(app) as owner, Client(app) as sharer, Client(app) as police,
        Client(app) as desk, Client(app) as admin, Client(app) as coordinator,
    ):  # fmt: skip
        clients = {
            "anonymous": anonymous, "owner": owner, "sharer": sharer, "investigator": police, "desk": desk,
            "admin": admin, "coordinator": coordinator,
        }  # fmt: skip
        ids = await _world(app, db, push_service, clients)
        problems = []
        for (method, route), form in FORMS.items():
            client = clients[form.who]
            data = {key: str(value).format(**ids) for key, value in form.data.items()}
            response = await client.request(
                method, form.path.format(**ids), data={"_csrf_token": await client.csrf_token(), **data},
                follow_redirects=False,
            )  # fmt: skip
            problems += _problems(method, route, form, response, ids)
    assert problems == [], "\n".join(problems)


def _problems(method: str, route: str, form: Form, response: httpx.Response, ids: dict) -> list[str]:
    where = f"{method} {route} ({form.who})"
    status, kind = response.status_code, response.headers.get("content-type", "")
    if 300 <= status < 400:
        target = response.headers.get("location", "")
        if form.fields:
            return [f"{where}: redirected to {target} instead of showing the errors"]
        return [] if target.startswith("/") and not target.startswith(MACHINE_PREFIXES) else [f"{where}: to {target}"]
    if not 400 <= status < 500:
        return [f"{where}: answered {status}"]
    if not kind.startswith("text/html") or _is_json(response.text) or not response.text.startswith("<!doctype html>"):
        return [f"{where}: answered {status} as {kind!r}, not as a page"]
    page, found = response.text, []
    summary = re.search(r'<div class="error-summary".*?</div>', page, re.S)
    if form.fields and summary is None:
        found.append(f"{where}: no error summary at the top")
    for field_id, words in form.fields.items():
        field_id = field_id.format(**ids)
        message = _error_of(page, field_id)
        if words not in message:
            found.append(f"{where}: {field_id!r} says {message!r}, not {words!r}")
        if not re.search(rf'aria-describedby="[^"]*\bf-{re.escape(field_id)}-error\b', page):
            found.append(f"{where}: the message of {field_id!r} is not tied to its field (aria-describedby)")
        if summary and f'href="#f-{field_id}"' not in summary.group(0):
            found.append(f"{where}: the error summary does not link to {field_id!r}")
    if summary:  # the summary lists the errors in the order of the fields on the page
        listed = re.findall(r'href="#f-([^"]+)"', summary.group(0))
        on_page = sorted(listed, key=lambda name: page.find(f'id="f-{name}"', summary.end()))
        if listed != on_page:
            found.append(f"{where}: the error summary lists {listed}, the page's order is {on_page}")
    return found


async def test_a_page_handler_annotated_any_still_answers_its_form_errors_as_html() -> None:
    """The cause of JSON error pages: Litestar gives a handler annotated `-> Any` the JSON media type, and the
    Template it returns took it. The app sets every page handler's answers to HTML."""

    @post("/things")
    async def add_thing() -> Any:
        return Template(template_str="<!doctype html><p>Name is required</p>", status_code=400)

    @post("/api/v1/things")
    async def add_thing_api() -> Any:
        return {"ok": False}

    app = Litestar(
        [add_thing, add_thing_api],
        template_config=TemplateConfig(engine=JinjaTemplateEngine, directory="pwa/templates"),
    )
    pages_answer_in_html(app)
    async with AsyncTestClient(app) as client:
        page = await client.post("/things")
        api = await client.post("/api/v1/things")
    assert page.status_code == 400 and page.headers["content-type"].startswith("text/html")
    assert page.text == "<!doctype html><p>Name is required</p>"
    assert api.headers["content-type"].startswith("application/json")
