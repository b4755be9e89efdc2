"""Address search for a site's position, through one configured Nominatim-compatible endpoint (PORCHLIGHT_GEOCODER_URL).

Called only when an owner asks for it and a geocoder is configured: without one, nothing here runs and no address
leaves the server. No database work here, so no transaction is held open while the geocoder answers."""

from __future__ import annotations

from typing import NamedTuple

import httpx

TIMEOUT_SECONDS = 5.0
USER_AGENT = "Porchlight (community camera registry)"  # Nominatim's usage policy asks for an identifying agent
MAX_PLACES = 5


class Place(NamedTuple):
    latitude: float
    longitude: float
    label: str  # the geocoder's name for what it found, to check against the address typed


class GeocoderUnavailable(Exception):
    """The geocoder did not answer, or answered something that is not a list of places."""


async def search(url: str, address: str) -> list[Place]:
    """The places the geocoder finds for an address, best first (at most MAX_PLACES); empty when none."""
    params = {"q": address, "format": "jsonv2", "limit": str(MAX_PLACES)}
    try:
        async with httpx.AsyncClient(timeout=TIMEOUT_SECONDS) as client:
            response = await client.get(url, params=params, headers={"user-agent": USER_AGENT})
            response.raise_for_status()
            found = response.json()
        return [
            Place(float(item["lat"]), float(item["lon"]), str(item.get("display_name", ""))[:300])
            for item in found[:MAX_PLACES]
            if -90 <= float(item["lat"]) <= 90 and -180 <= float(item["lon"]) <= 180
        ]
    except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
        raise GeocoderUnavailable(str(exc)) from exc
