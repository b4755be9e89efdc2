"""A site's position is checked against the program's area (PORCHLIGHT_PROGRAM_AREA): outside it, or at 0, 0, the
site is saved with a warning, on its page and in the API; without a geocoder there is no address search at all."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.registry.models import Site
from backend.registry.service import block_of
from backend.settings import Settings, _program_area
from tests.conftest import Client, make_settings
from tests.helpers import SITE, add_site, sign_up

MILWAUKEE = (43.0389, -87.9065, 25.0)  # the program covers 25 km around downtown Milwaukee


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return make_settings(database_url, tmp_path, program_area=MILWAUKEE)


def form(**overrides: object) -> dict[str, str]:
    return {k: str(v) for k, v in {**SITE, **overrides}.items()}


async def test_a_site_inside_the_area_has_no_warning(client: Client) -> None:
    await sign_up(client, "owner@example.com")
    site = await add_site(client)
    assert site["position_warning"] is None
    page = await client.submit("/sites/new", form())
    assert "Site saved." in page.text and 'data-testid="position-warning"' not in page.text


async def test_a_site_outside_the_area_is_saved_with_a_warning_in_the_api_and_on_its_page(
    client: Client, db: AsyncSession
) -> None:
    await sign_up(client, "owner@example.com")
    chicago = await add_site(client, latitude=41.8781, longitude=-87.6298)  # 130 km south
    assert "131 km from the centre of the program's area, which reaches 25 km" in chicago["position_warning"]
    again = await client.get(f"/api/v1/sites/{chicago['id']}")
    assert again.json()["position_warning"] == chicago["position_warning"]

    page = await client.submit("/sites/new", form(name="Lake house", latitude="41.8781", longitude="-87.6298"))
    assert page.status_code == 200 and "Site saved." in page.text
    assert 'data-testid="position-warning"' in page.text and "Check the latitude and longitude" in page.text
    assert await db.scalar(select(func.count()).select_from(Site)) == 2  # a warning, not a refusal
    overview = await client.get("/sites")
    assert overview.text.count('data-testid="position-warning"') == 2

    # Moved back into the area, the warning goes.
    fixed = await client.send_json("PATCH", f"/api/v1/sites/{chicago['id']}", {"latitude": 43.06, "longitude": -87.9})
    assert fixed.status_code == 200 and fixed.json()["position_warning"] is None


async def test_a_site_at_0_0_is_saved_with_a_warning_that_it_was_probably_never_filled_in(client: Client) -> None:
    await sign_up(client, "owner@example.com")
    page = await client.submit("/sites/new", form(latitude="0", longitude="0"))
    assert page.status_code == 200 and "Site saved." in page.text
    assert "The position is 0, 0, in the ocean off West Africa" in page.text
    assert "Edit the site</a>" in page.text
    site_id = page.url.path.rsplit("/", 1)[1]
    api = await client.get(f"/api/v1/sites/{site_id}")
    assert "never filled in" in api.json()["position_warning"]


async def test_the_0_0_warning_needs_no_program_area(client: Client, settings: Settings) -> None:
    from backend.registry.service import ProgramArea, position_warning

    assert ProgramArea.of(settings) == ProgramArea(*MILWAUKEE)
    assert "0, 0" in (position_warning(0.0, 0.0, None) or "")
    assert position_warning(41.8781, -87.6298, None) is None  # no area: anywhere else is fine
    assert position_warning(43.2, -87.9, ProgramArea(*MILWAUKEE)) is None


async def test_without_a_geocoder_there_is_no_address_search(client: Client, db: AsyncSession) -> None:
    await sign_up(client, "owner@example.com")
    new = await client.get("/sites/new")
    assert new.status_code == 200 and "Find the position" not in new.text and "find_position" not in new.text
    # A crafted press of the button does no search: the form is saved as typed.
    saved = await client.submit("/sites/new", {**form(), "find_position": "1"})
    assert "Site saved." in saved.text and 'data-testid="found-position"' not in saved.text
    assert await db.scalar(select(func.count()).select_from(Site)) == 1


def test_the_program_area_setting_is_read_and_a_bad_one_is_refused_at_start() -> None:
    assert _program_area("43.0389, -87.9065, 25") == (43.0389, -87.9065, 25.0)
    assert _program_area("") is None
    with pytest.raises(RuntimeError, match="latitude,longitude,radius_km"):
        _program_area("Milwaukee")
    with pytest.raises(RuntimeError, match="radius_km above 0"):
        _program_area("43,-87,0")


@pytest.mark.parametrize(
    ("address", "block"),
    [
        ("2401 N Holton St, Milwaukee, WI", "2400 block of N Holton St"),
        ("12 Main St", "0 block of Main St"),
        ("1234B Elm Ave #3, Springfield", "1200 block of Elm Ave"),
        ("Unit 5, 710-712 W Wells St Apt 2", "700 block of W Wells St"),
        ("Corner of 5th and Main", ""),
        ("", ""),
    ],
)
def test_the_block_names_the_street_and_never_the_house(address: str, block: str) -> None:
    assert block_of(address) == block
