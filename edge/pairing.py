"""`porchlight-edge pair`: show a code, wait for the owner to approve it in the app, keep the credential."""

from __future__ import annotations

import io
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TextIO

import httpx
import segno

from edge.client import DeviceAuthorization, PairedDevice, ServerUnavailable, poll_for_token, start_device_authorization
from edge.config import EdgeConfig, read_cameras, write_config


def render_code(authorization: DeviceAuthorization) -> str:
    """The user code large enough to read across a room, the link, and the link as a QR code."""
    spaced = "  ".join(authorization.user_code)
    qr = io.StringIO()
    segno.make(authorization.verification_uri_complete, error="m").terminal(out=qr, compact=True)
    return (
        "\nTo pair this box, open the Porchlight app and enter this code:\n\n"
        f"    +{'-' * (len(spaced) + 4)}+\n"
        f"    |  {spaced}  |\n"
        f"    +{'-' * (len(spaced) + 4)}+\n\n"
        f"or open {authorization.verification_uri_complete}\n"
        "or scan this with your phone:\n\n"
        f"{qr.getvalue()}\n"
        f"The code works for {authorization.expires_in / 60:.0f} minutes.\n"
    )


async def pair(
    server: str,
    config_path: Path,
    *,
    out: TextIO = sys.stdout,
    sleep: Callable[[float], Awaitable[Any]] | None = None,
) -> PairedDevice:
    """Pair this box and write its config (keeping cameras already in it). Raises PairingFailed or
    DeviceAPIError; ConfigError before anything is asked of the server when the existing file is unreadable."""
    server = server.rstrip("/")
    cameras = read_cameras(config_path)
    reported_kinds: set[str] = set()

    def network_trouble(error: ServerUnavailable) -> None:
        if error.kind not in reported_kinds:
            reported_kinds.add(error.kind)
            print(f"({error.message}; still trying)", file=out, flush=True)

    async with httpx.AsyncClient() as http:
        authorization = await start_device_authorization(http, server)
        print(render_code(authorization), file=out)
        print("Waiting for you to approve it in the Porchlight app…", file=out, flush=True)
        options: dict[str, Any] = {"on_network_error": network_trouble}
        if sleep is not None:
            options["sleep"] = sleep
        paired = await poll_for_token(http, server, authorization, **options)
    write_config(
        config_path,
        EdgeConfig(server=server, device_id=paired.device_id, credential=paired.access_token, cameras=cameras),
    )
    print(f"Paired as {paired.device_name} at {paired.site_name}", file=out)
    print(
        f"Config written to {config_path}; start the agent with: porchlight-edge run --config {config_path}", file=out
    )
    return paired
