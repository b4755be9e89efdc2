"""Messages name a field as its form's label does, all wrong fields are told at once, and the error summary lists
them in the form's order: on the page and in the JSON API (`errors`: the API name as `field`, the label's words in
`message`)."""

from __future__ import annotations

import html
import re
from typing import Annotated

import msgspec
import pytest

from backend.accounts.schemas import SignupIn
from backend.errors import InvalidInput
from backend.registry.schemas import CameraIn, SiteIn
from backend.validation import field_errors, label, labels, parse_form
from tests.conftest import Client
from tests.helpers import CAMERA, SITE, add_site, sign_up


def summary_of(page: str) -> list[tuple[str, str]]:
    """The error summary's links: (field, message), top to bottom."""
    found = re.search(r'<div class="error-summary".*?</div>', page, re.S)
    assert found, "no error summary"
    return [(name, html.unescape(text)) for name, text in re.findall(r'<a href="#f-([^"]+)">([^<]*)</a>', found[0])]


def beside(page: str, name: str) -> str:
    found = re.search(rf'<p class="error" id="f-{name}-error">([^<]*)</p>', page)
    return html.unescape(found[1]) if found else ""


def label_on_page(page: str, name: str) -> str:
    """The text of a field's label (or its fieldset's legend), without "(optional)"."""
    found = re.search(rf'<label for="f-{name}">([^<]*)', page) or re.search(
        rf'id="f-{name}"[^>]*>\s*<legend>([^<]*)', page
    )
    assert found, f"no label for {name}"
    return found[1].strip()


def fields_in_page_order(page: str, names: list[str]) -> list[str]:
    return sorted(names, key=lambda name: page.index(f'id="f-{name}"'))


async def test_sign_up_with_three_wrong_fields_says_all_three_at_once_in_the_forms_words(client: Client) -> None:
    page = await client.submit("/signup", {"email": "not-an-address", "display_name": "  ", "password": "short"})
    assert page.status_code == 400
    assert summary_of(page.text) == [
        ("email", "Email is not in the expected format"),
        ("display_name", "Your name is required"),
        ("password", "Password must be at least 8 characters"),
    ]
    for name in ("email", "display_name", "password"):
        assert beside(page.text, name).startswith(label_on_page(page.text, name)), name
    assert fields_in_page_order(page.text, ["password", "email", "display_name"]) == [
        "email",
        "display_name",
        "password",
    ]

    api = await client.send_json("POST", "/api/v1/auth/signup", {"email": "x", "display_name": "", "password": "1"})
    assert api.status_code == 400
    assert api.json()["errors"] == [
        {"field": "email", "message": "Email must be at least 3 characters"},
        {"field": "display_name", "message": "Your name is required"},
        {"field": "password", "message": "Password must be at least 8 characters"},
    ]
    assert (await client.get("/api/v1/me")).status_code == 401  # nobody was signed up


async def test_changing_the_password_says_both_wrong_fields_at_once_with_their_labels(client: Client) -> None:
    await sign_up(client, "owner@example.com")
    page = await client.submit("/account/password", {"current_password": "wrong one", "new_password": "short"})
    assert page.status_code == 400
    assert beside(page.text, "current_password") == "Wrong password; it was not changed"
    assert beside(page.text, "new_password") == "New password must be at least 8 characters"
    assert label_on_page(page.text, "new_password") == "New password"


CAMERA_FORM = {"name": " ", "bearing_deg": "400", "range_m": "0", "placement": "outdoor", "recorder": "nvr_dvr",
               "retention_days": "-3"}  # fmt: skip


async def test_the_camera_form_says_every_wrong_field_with_its_label_in_the_forms_order(client: Client) -> None:
    await sign_up(client, "owner@example.com")
    site = await add_site(client)
    page = await client.submit(f"/sites/{site['id']}/cameras/new", CAMERA_FORM)
    assert page.status_code == 400
    wrong = ["name", "bearing_deg", "range_m", "retention_days"]
    assert [name for name, _ in summary_of(page.text)] == fields_in_page_order(page.text, wrong) == wrong
    for name, message in summary_of(page.text):
        assert message == beside(page.text, name)
        assert message.startswith(label_on_page(page.text, name) + " "), (name, message)
    assert dict(summary_of(page.text)) == {
        "name": "Name is required",
        "bearing_deg": "Faces (degrees) must be at most 359",
        "range_m": "Sees up to (metres) must be at least 1",
        "retention_days": "Keeps video for (days) must be at least 1",
    }
    assert (await client.get(f"/api/v1/sites/{site['id']}")).json()["cameras"] == []

    body = {**CAMERA, "bearing_deg": 400, "range_m": 5000, "retention_days": 0}
    api = await client.send_json("POST", f"/api/v1/sites/{site['id']}/cameras", body)
    assert api.status_code == 400
    assert api.json()["errors"] == [
        {"field": "bearing_deg", "message": "Faces (degrees) must be at most 359"},
        {"field": "range_m", "message": "Sees up to (metres) must be at most 1000"},
        {"field": "retention_days", "message": "Keeps video for (days) must be at least 1"},
    ]
    assert (await client.get(f"/api/v1/sites/{site['id']}")).json()["cameras"] == []


async def test_the_site_form_says_every_wrong_field_with_its_label_in_the_forms_order(client: Client) -> None:
    await sign_up(client, "owner@example.com")
    form = {**SITE, "name": "", "kind": "castle", "latitude": "91", "longitude": "east"}
    page = await client.submit("/sites/new", form)
    assert page.status_code == 400
    wrong = ["name", "kind", "latitude", "longitude"]
    assert [name for name, _ in summary_of(page.text)] == fields_in_page_order(page.text, wrong) == wrong
    for name, message in summary_of(page.text):
        assert message == beside(page.text, name)
        assert message.startswith(label_on_page(page.text, name) + " "), (name, message)
    assert (await client.get("/api/v1/sites")).json() == []

    api = await client.send_json("POST", "/api/v1/sites", {**SITE, "address": "", "latitude": 91, "kind": "castle"})
    assert api.status_code == 400
    assert [(e["field"], e["message"]) for e in api.json()["errors"]] == [
        ("kind", f"{labels(SiteIn)['kind']} is not one of the allowed choices"),
        ("address", f"{labels(SiteIn)['address']} is required"),
        ("latitude", "Latitude must be at most 90"),
    ]
    assert (await client.get("/api/v1/sites")).json() == []


async def test_the_device_form_says_every_wrong_field_with_its_label(client: Client) -> None:
    await sign_up(client, "owner@example.com")
    await add_site(client)
    page = await client.submit("/devices/add", {"user_code": "", "name": " ", "site_id": "somewhere"})
    assert page.status_code == 400
    assert summary_of(page.text) == [
        ("user_code", "Code shown on the device is required"),
        ("name", "Name for the device is required"),
        ("site_id", "Site is not one of the choices"),
    ]
    for name, message in summary_of(page.text):
        assert message.startswith(label_on_page(page.text, name) + " ")


class Party(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    guests: Annotated[int, msgspec.Meta(ge=1), label("Number of guests")]
    host: str
    note: Annotated[str, msgspec.Meta(max_length=5)] = ""


def test_labels_come_from_the_struct_and_every_field_is_checked_on_its_own() -> None:
    """One place for a label: the Struct's field (`label(...)`), read by the form template and by every message."""
    assert labels(SignupIn)["display_name"] == "Your name"
    assert labels(CameraIn)["retention_days"] == "Keeps video for (days)"
    assert labels(Party) == {"guests": "Number of guests", "host": "Host", "note": "Note"}
    with pytest.raises(InvalidInput) as refused:
        parse_form(Party, {"guests": "0", "host": " ", "note": "too long", "_csrf_token": "ignored"})
    assert refused.value.errors == {
        "guests": "Number of guests must be at least 1",
        "host": "Host is required",
        "note": "Note must be at most 5 characters",
    }
    assert parse_form(Party, {"guests": " 3 ", "host": "Pat"}) == Party(guests=3, host="Pat")
    assert field_errors(Party, {"guests": "2", "host": "Pat", "zz": 1}, form=False) == {
        "zz": "zz is not a field this request accepts",
        "guests": "Number of guests must be a whole number",
    }
