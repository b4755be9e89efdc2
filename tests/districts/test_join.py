"""Joining, the member's side: an invite link's page says which district invites which business and what the
district will see; sign-up is filled in from the roster and carries the invite through (never as a free URL); the
invite is accepted once, for one account; a signed-in owner confirms; an account that cannot own cameras is refused;
a link that does not work says why and changes nothing. Then the site form, filled in and ticked "Part of" the
district; an owner may place sites only in a district they joined."""

from __future__ import annotations

import datetime as dt
import re
import uuid

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from backend.accounts.models import User
from backend.db import utcnow
from backend.districts import invites, service
from backend.districts.models import District, DistrictMember, MemberStatus
from backend.errors import Conflict, Gone
from backend.registry.models import Site
from tests.conftest import Client
from tests.districts.conftest import Coordinator, add_member, joined_member
from tests.helpers import PASSWORD, SITE, add_site, sign_up

SECRET = "test-secret-key-not-for-production"


async def invited(db: AsyncSession, coordinator: Coordinator, name: str = "Corner Bakery", **fields) -> DistrictMember:
    """A listed member whose coordinator printed a poster: their invite works."""
    member = await add_member(
        db, coordinator.district_id, name, email=fields.pop("email", "ana@bakery.example"),
        contact_name="Ana Baker", address="2401 N Holton St, Milwaukee", latitude=43.0589, longitude=-87.905, **fields,
    )  # fmt: skip
    member_id = member.id
    response = await coordinator.client.submit(f"/district/members/{member_id}/poster", {})
    assert response.status_code == 200, response.text
    return await fresh(db, member_id)


async def fresh(db: AsyncSession, member_id: uuid.UUID) -> DistrictMember:
    db.expire_all()
    return await db.get_one(DistrictMember, member_id)


def field_value(page: str, name: str) -> str:
    found = re.search(rf'<input id="f-{name}" name="{name}" type="\w+" value="([^"]*)"', page)
    return found.group(1) if found else ""


async def test_an_invite_opened_signed_out_leads_to_a_prefilled_sign_up_then_the_prefilled_site_form(
    db: AsyncSession, coordinator: Coordinator, client: Client
) -> None:
    member = await invited(db, coordinator)
    member_id, district_id = member.id, member.district_id
    token = invites.member_token(SECRET, member)

    landing = await client.get(f"/join/{token}")
    assert landing.status_code == 200
    page = landing.text
    assert "Riverside BID invites Corner Bakery" in page
    assert "The business details on its roster" in page and "where they point" in page
    assert "Never your footage, police requests to you, or police access to your information." in page
    assert f'href="/signup?invite={token}"' in page and f'href="/login?invite={token}"' in page
    assert (await fresh(db, member_id)).user_id is None  # opening it changed nothing

    signup = await client.get(f"/signup?invite={token}")
    assert field_value(signup.text, "email") == "ana@bakery.example"
    assert field_value(signup.text, "display_name") == "Ana Baker"
    assert f'<input type="hidden" name="invite" value="{token}">' in signup.text
    assert "Riverside BID invites Corner Bakery" in signup.text

    # A wrong password keeps the invite in the form.
    short = await client.submit(
        "/signup", {"email": "ana@bakery.example", "display_name": "Ana Baker", "password": "x", "invite": token}
    )
    assert short.status_code == 400 and f'name="invite" value="{token}"' in short.text

    created = await client.submit(
        "/signup", {"email": "ana@bakery.example", "display_name": "Ana Baker", "password": PASSWORD, "invite": token},
        follow_redirects=False,
    )  # fmt: skip
    assert created.status_code in (302, 303)
    assert created.headers["location"] == f"/sites/new?district={district_id}"
    joined = await fresh(db, member_id)
    me = (await client.get("/api/v1/me")).json()
    assert (joined.status, str(joined.user_id)) == (MemberStatus.JOINED.value, me["id"])
    assert joined.joined_at is not None

    form = await client.get(f"/sites/new?district={district_id}")
    assert form.status_code == 200
    assert field_value(form.text, "name") == "Corner Bakery"
    assert field_value(form.text, "address") == "2401 N Holton St, Milwaukee"
    assert field_value(form.text, "latitude") == "43.0589" and field_value(form.text, "longitude") == "-87.905"
    assert re.search(r'name="kind" value="business" checked', form.text)
    assert re.search(rf'name="district_id" value="{district_id}" checked> Part of Riverside BID', form.text)

    saved = await client.submit(
        "/sites/new",
        {"name": "Corner Bakery", "kind": "business", "address": "2401 N Holton St, Milwaukee", "latitude": "43.0589",
         "longitude": "-87.905", "contact_phone": "(414) 555-0100", "district_id": str(district_id)},
    )  # fmt: skip
    assert saved.status_code == 200 and "Add a camera" in saved.text  # the site page leads to the first camera
    site = await db.scalar(select(Site).where(Site.owner_id == uuid.UUID(me["id"])))
    assert site is not None and site.district_id == district_id

    # The funnel moved: invited, account, site.
    row = (await db.execute(service.members_with_steps(district_id).where(DistrictMember.id == member_id))).one()
    assert row.invited and row.account and row.site and row.cameras is None

    # The link is used: it says so to anyone else, and to its owner that they joined.
    async with Client(client.app) as stranger:
        used = await stranger.get(f"/join/{token}")
        assert used.status_code == 410 and "This invite has been used" in used.text
    mine = await client.get(f"/join/{token}")
    assert mine.status_code == 200 and "You are a member of Riverside BID" in mine.text


async def test_an_owner_with_an_account_signs_in_from_the_invite_and_ticks_which_sites_are_in_the_district(
    db: AsyncSession, coordinator: Coordinator, client: Client, app
) -> None:
    await sign_up(client, "owner@bakery.example", name="Olu Owner")
    bakery = await add_site(client, name="Bakery")
    home = await add_site(client, name="Home", kind="home")
    await client.send_json("POST", "/api/v1/auth/logout")
    member = await invited(db, coordinator)
    member_id, district_id = member.id, member.district_id
    token = invites.member_token(SECRET, member)

    async with Client(app) as phone:
        login = await phone.get(f"/login?invite={token}")
        assert f'name="invite" value="{token}"' in login.text and "Sign in to join" in login.text
        signed_in = await phone.submit(
            "/login", {"email": "owner@bakery.example", "password": PASSWORD, "invite": token, "next": "/devices"},
            follow_redirects=False,
        )  # fmt: skip
        assert signed_in.headers["location"] == f"/joined/{district_id}"
        assert (await fresh(db, member_id)).status == MemberStatus.JOINED.value

        offer = await phone.get(f"/joined/{district_id}")
        assert "You joined Riverside BID" in offer.text
        assert f'value="{bakery["id"]}"' in offer.text and f'value="{home["id"]}"' in offer.text
        placed = await phone.submit(f"/joined/{district_id}", {"site_ids": bakery["id"]})
        assert placed.status_code == 200 and "the sites you ticked are part of Riverside BID" in placed.text
        sites = (await phone.get("/api/v1/sites")).json()
        assert {s["name"]: s["district_id"] for s in sites} == {"Bakery": str(district_id), "Home": None}

        # Unticking takes a site out; a site that is not theirs is refused.
        await phone.submit(f"/joined/{district_id}", {})
        assert all(s["district_id"] is None for s in (await phone.get("/api/v1/sites")).json())
        foreign = await phone.submit(f"/joined/{district_id}", {"site_ids": str(uuid.uuid4())})
        assert foreign.status_code == 400 and "Choose among your own sites" in foreign.text

        # Another owner cannot see this membership page.
        async with Client(app) as other:
            await sign_up(other, "nosy@example.org")
            assert (await other.get(f"/joined/{district_id}")).status_code == 404


async def test_a_signed_in_owner_confirms_and_another_account_cannot_reuse_the_invite(
    db: AsyncSession, coordinator: Coordinator, client: Client, other_client: Client
) -> None:
    member = await invited(db, coordinator)
    member_id, token = member.id, invites.member_token(SECRET, member)
    await sign_up(client, "pat@bakery.example", name="Pat Owner")

    page = await client.get(f"/join/{token}")
    assert page.status_code == 200
    assert "Join Riverside BID as Pat Owner (pat@bakery.example)?" in page.text
    assert "Not you?" in page.text and 'action="/logout"' in page.text
    confirmed = await client.submit(f"/join/{token}", {}, follow_redirects=False)
    assert confirmed.headers["location"].startswith("/sites/new?district=")
    assert (await fresh(db, member_id)).status == MemberStatus.JOINED.value

    await sign_up(other_client, "sam@elsewhere.example")
    refused = await other_client.get(f"/join/{token}")
    assert refused.status_code == 410 and "This invite has been used" in refused.text
    assert (await other_client.submit(f"/join/{token}", {})).status_code == 410
    api = await other_client.send_json("POST", f"/api/v1/join/{token}")
    assert api.status_code == 410
    assert str((await fresh(db, member_id)).user_id) == (await client.get("/api/v1/me")).json()["id"]


async def test_an_owner_already_in_the_district_is_told_so_and_a_second_invite_changes_nothing(
    db: AsyncSession, coordinator: Coordinator, client: Client
) -> None:
    await joined_member(db, coordinator.district_id, client, "Joined Grocer", with_site=False)
    second = await invited(db, coordinator, "Grocer Annex", email="annex@example.org")
    token = invites.member_token(SECRET, second)
    page = await client.get(f"/join/{token}")
    assert page.status_code == 200 and "You are a member of Riverside BID" in page.text
    api = await client.send_json("POST", f"/api/v1/join/{token}")
    assert api.status_code == 409 and "already a member of Riverside BID, as Joined Grocer" in api.json()["detail"]
    assert (await fresh(db, second.id)).user_id is None


async def test_an_account_that_cannot_own_cameras_is_refused_and_nothing_changes(
    db: AsyncSession, coordinator: Coordinator
) -> None:
    member = await invited(db, coordinator)
    member_id, token = member.id, invites.member_token(SECRET, member)
    page = await coordinator.client.get(f"/join/{token}")
    assert page.status_code == 403
    assert "Only camera owner accounts can join a district" in page.text and "Sign out" in page.text
    assert (await coordinator.client.submit(f"/join/{token}", {})).status_code == 403
    api = await coordinator.client.send_json("POST", f"/api/v1/join/{token}")
    assert api.status_code == 403
    # From sign-in: they land on the page that says why, nothing joined.
    after = await invites.after_sign_in(db, coordinator.client.app.state.settings, await _user(db, coordinator), token)
    assert after == f"/join/{token}"
    assert (await fresh(db, member_id)).user_id is None


async def _user(db: AsyncSession, coordinator: Coordinator) -> User:
    return await db.get_one(User, coordinator.user_id)


async def test_links_that_do_not_work_say_why_and_change_nothing(
    db: AsyncSession, coordinator: Coordinator, client: Client
) -> None:
    member = await invited(db, coordinator)
    member_id, token = member.id, invites.member_token(SECRET, member)
    await sign_up(client, "pat@bakery.example")

    # Tampered (one character of its MAC changed), cut short, or never made here: unknown.
    tampered = token[:-1] + ("A" if token[-1] != "A" else "B")
    for bad in (tampered, token[:-3], "not-a-token", f"{token.split('.')[0]}.{'A' * 22}"):
        answer = await client.get(f"/join/{bad}")
        assert answer.status_code == 404 and "This invite link is not known" in answer.text, bad
        assert "Nothing was changed" in answer.text
        assert (await client.send_json("POST", f"/api/v1/join/{bad}")).status_code == 404
    # Signed with another server's key: unknown too.
    forged = invites.member_token("another-key", member)
    assert (await client.get(f"/join/{forged}")).status_code == 404

    # Expired.
    await db.execute(update(DistrictMember).where(DistrictMember.id == member_id)
                     .values(invite_expires_at=utcnow() - dt.timedelta(minutes=1)))  # fmt: skip
    await db.commit()
    expired = await client.get(f"/join/{token}")
    assert expired.status_code == 410 and "This invite has expired" in expired.text
    assert "Ask Riverside BID’s coordinator for a new invite." in expired.text
    assert (await client.submit(f"/join/{token}", {})).status_code == 410
    assert (await fresh(db, member_id)).user_id is None

    # Left the district.
    soon = utcnow() + dt.timedelta(days=1)
    await db.execute(
        update(DistrictMember)
        .where(DistrictMember.id == member_id)
        .values(status=MemberStatus.LEFT.value, invite_expires_at=soon)
    )
    await db.commit()
    left = await client.get(f"/join/{token}")
    assert left.status_code == 410 and "Corner Bakery left Riverside BID" in left.text


async def test_the_invite_goes_through_sign_up_only_as_a_checked_token(
    db: AsyncSession, coordinator: Coordinator, client: Client
) -> None:
    """No open redirect: whatever is posted as the invite, the person lands on a path made here."""
    for invite in ("https://evil.example/", "//evil.example", "/join/../../admin", "d.x"):
        async with Client(client.app) as browser:
            email = f"{uuid.uuid4().hex[:8]}@example.org"
            created = await browser.submit(
                "/signup", {"email": email, "display_name": "Eve", "password": PASSWORD, "invite": invite},
                follow_redirects=False,
            )  # fmt: skip
            assert created.headers["location"] == "/sites?welcome=1", invite
            form = await browser.get(f"/signup?invite={invite}")
            assert 'name="invite"' not in form.text


async def test_a_site_may_be_part_only_of_a_district_its_owner_joined(
    db: AsyncSession, coordinator: Coordinator, client: Client, other_client: Client
) -> None:
    other = District(name="Harbor BID")
    db.add(other)
    await db.commit()
    joined = await joined_member(db, coordinator.district_id, client, "Joined Grocer", with_site=False)
    district_id = joined.member.district_id

    # The API: their district is fine, another is refused naming the field; a PATCH the same way.
    ok = await client.send_json("POST", "/api/v1/sites", {**SITE, "district_id": str(district_id)})
    assert ok.status_code == 201 and ok.json()["district_id"] == str(district_id)
    refused = await client.send_json(
        "POST", "/api/v1/sites", {**SITE, "name": "Elsewhere", "district_id": str(other.id)}
    )
    assert refused.status_code == 400
    assert refused.json()["errors"] == [
        {"field": "district_id", "message": "Part of a district must be a district you have joined"}
    ]
    patched = await client.send_json("PATCH", f"/api/v1/sites/{ok.json()['id']}", {"district_id": str(other.id)})
    assert patched.status_code == 400
    cleared = await client.send_json("PATCH", f"/api/v1/sites/{ok.json()['id']}", {"district_id": None})
    assert cleared.status_code == 200 and cleared.json()["district_id"] is None
    assert [s["name"] for s in (await client.get("/api/v1/sites")).json()] == ["Corner bakery"]  # nothing half-saved

    # The page: the box is offered to a joined member only; a forged value comes back beside the field.
    form = await client.get("/sites/new")
    assert "Part of Riverside BID" in form.text
    forged = await client.submit(
        "/sites/new", {**{k: str(v) for k, v in SITE.items()}, "name": "Forged", "district_id": str(other.id)}
    )
    assert forged.status_code == 400
    assert 'id="f-district_id-error">Part of a district must be a district you have joined' in forged.text
    assert 'value="Forged"' in forged.text

    await sign_up(other_client, "stranger@example.org")
    assert "Part of" not in (await other_client.get("/sites/new")).text
    stranger = await other_client.send_json("POST", "/api/v1/sites", {**SITE, "district_id": str(district_id)})
    assert stranger.status_code == 400 and stranger.json()["errors"][0]["field"] == "district_id"


async def test_joining_through_the_district_link_on_the_web_asks_for_the_business_and_waits_for_approval(
    db: AsyncSession, coordinator: Coordinator, client: Client
) -> None:
    district = await db.get_one(District, coordinator.district_id)
    token = invites.district_token(SECRET, district)
    landing = await client.get(f"/join/{token}")
    assert landing.status_code == 200 and "Join Riverside BID" in landing.text
    assert f'href="/signup?invite={token}"' in landing.text

    created = await client.submit(
        "/signup", {"email": "fran@shop.example", "display_name": "Fran", "password": PASSWORD, "invite": token},
        follow_redirects=False,
    )  # fmt: skip
    assert created.headers["location"] == f"/join/{token}"  # the form for the business's details
    form = await client.get(f"/join/{token}")
    assert "You give these details to Riverside BID" in form.text
    assert field_value(form.text, "contact_name") == "Fran" and field_value(form.text, "email") == "fran@shop.example"

    blank = await client.submit(f"/join/{token}", {"business_name": " ", "address": "", "contact_name": "Fran"})
    assert blank.status_code == 400
    assert 'id="f-business_name-error">Business name is required' in blank.text
    assert 'id="f-address-error">Street address is required' in blank.text
    assert field_value(blank.text, "contact_name") == "Fran"
    assert await db.scalar(select(DistrictMember).where(DistrictMember.district_id == district.id)) is None

    # Fran clears the contact fields the form offered: the district gets no contact, not the account's.
    asked = await client.submit(f"/join/{token}", {"business_name": "Fran's Frames", "address": "3 Water St"})
    assert asked.status_code == 200 and "is waiting" in asked.text
    pending = await db.scalar(select(DistrictMember).where(DistrictMember.district_id == district.id))
    assert pending is not None and pending.status == MemberStatus.PENDING.value
    assert (pending.contact_name, pending.email) == ("", "")
    # Not a member yet: no "Part of" on the site form, which is filled in from what they gave.
    site_form = await client.get(f"/sites/new?district={district.id}")
    assert field_value(site_form.text, "name") == "Fran&#39;s Frames" and "Part of Riverside BID" not in site_form.text
    again = await client.get(f"/join/{token}")
    assert "You already asked to join Riverside BID" in again.text


async def test_of_two_accounts_accepting_one_invite_at_the_same_moment_only_the_first_gets_it(
    db: AsyncSession, coordinator: Coordinator, client: Client, other_client: Client
) -> None:
    """The second one read the invite before the first one's accept was saved: its claim finds the row taken."""
    member = await invited(db, coordinator)
    member_id = member.id
    district = await db.get_one(District, member.district_id)
    first = uuid.UUID((await sign_up(client, "first@bakery.example"))["id"])
    second = await sign_up(other_client, "second@bakery.example")
    await db.execute(
        update(DistrictMember)
        .where(DistrictMember.id == member_id)
        .values(user_id=first, status=MemberStatus.JOINED.value, joined_at=utcnow())
    )
    await db.commit()
    late = await db.get_one(User, uuid.UUID(second["id"]))
    stale = DistrictMember(id=member_id, invite_version=member.invite_version, business_name="Corner Bakery")
    try:
        await invites._link_member(db, late, district, stale)
    except Gone as exc:
        assert "an invite works for one account" in exc.detail
    else:
        raise AssertionError("the second account got the invite too")
    assert (await fresh(db, member_id)).user_id == first


async def test_a_contact_left_blank_on_the_district_link_keeps_the_account_email_off_the_coordinators_roster(
    db: AsyncSession, coordinator: Coordinator, client: Client
) -> None:
    """The member page promises the district sees what the business gave it, not the account's sign-in email."""
    token = invites.district_token(SECRET, await db.get_one(District, coordinator.district_id))
    await sign_up(client, "private-login@shop.example", name="Priya Private")
    joined = await client.send_json(
        "POST", f"/api/v1/join/{token}", {"business_name": "Quiet Shop", "address": "5 Water St", "contact_name": "",
                                          "email": ""},
    )  # fmt: skip
    assert joined.status_code == 200, joined.text
    member_id = joined.json()["member_id"]
    approved = await coordinator.client.send_json("POST", f"/api/v1/district/pending/{member_id}/approve", {})
    assert approved.status_code == 200, approved.text

    seen = [
        (await coordinator.client.get("/api/v1/district/members")).text,
        (await coordinator.client.get(f"/api/v1/district/members/{member_id}")).text,
        (await coordinator.client.get("/district/members.csv")).text,
    ]
    assert "Quiet Shop" in seen[0] and "Quiet Shop" in seen[1]
    for text in seen:
        assert "private-login@shop.example" not in text and "Priya Private" not in text


async def test_an_owner_who_left_can_join_again_through_the_district_link(
    db: AsyncSession, coordinator: Coordinator, client: Client
) -> None:
    """The business is on the roster already, so the first join through the link was kept apart by the owner's
    account; after leaving, that must not block a new request."""
    await add_member(db, coordinator.district_id, "Fran's Frames", email="fran@shop.example", address="3 Water St")
    token = invites.district_token(SECRET, await db.get_one(District, coordinator.district_id))
    await sign_up(client, "fran@shop.example", name="Fran")
    details = {"business_name": "Fran's Frames", "address": "3 Water St", "email": "fran@shop.example"}
    first = await client.send_json("POST", f"/api/v1/join/{token}", details)
    assert first.status_code == 200, first.text
    approved = await coordinator.client.send_json(
        "POST", f"/api/v1/district/pending/{first.json()['member_id']}/approve", {}
    )
    assert approved.status_code == 200
    assert (await client.send_json("DELETE", f"/api/v1/me/districts/{coordinator.district_id}")).status_code == 204

    again = await client.send_json("POST", f"/api/v1/join/{token}", details)
    assert again.status_code == 200, again.text
    assert again.json()["status"] == "pending" and again.json()["member_id"] != first.json()["member_id"]
    statuses = await db.scalars(
        select(DistrictMember.status)
        .where(DistrictMember.district_id == coordinator.district_id)
        .execution_options(populate_existing=True)
    )
    assert sorted(statuses) == ["left", "listed", "pending"]


async def test_one_owner_accepting_two_invites_of_a_district_at_the_same_moment_is_told_they_are_a_member(
    db: AsyncSession, coordinator: Coordinator, client: Client
) -> None:
    """Both accepts read "not a member yet" before either was saved: the second claim meets the first one's row."""
    first_token = invites.member_token(SECRET, await invited(db, coordinator))
    second = await invited(db, coordinator, "Corner Bakery Annex", email="annex@bakery.example")
    second_id, version = second.id, second.invite_version
    owner_id = uuid.UUID((await sign_up(client, "ana@bakery.example"))["id"])
    accepted = await client.send_json("POST", f"/api/v1/join/{first_token}", None)
    assert accepted.status_code == 200, accepted.text
    db.expire_all()
    district = await db.get_one(District, coordinator.district_id)
    owner = await db.get_one(User, owner_id)
    stale = DistrictMember(id=second_id, invite_version=version, business_name="Corner Bakery Annex")
    try:
        await invites._link_member(db, owner, district, stale)
    except Conflict as exc:
        assert exc.detail == "You are already a member of Riverside BID, as Corner Bakery."
    else:
        raise AssertionError("one owner became two members of one district")
    assert (await fresh(db, second_id)).user_id is None
