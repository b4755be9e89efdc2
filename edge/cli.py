"""The `porchlight-edge` command: pair, run, event, alert, simulate."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from edge import __version__

if TYPE_CHECKING:
    from edge.config import EdgeConfig

EXIT_FAILED = 1
EXIT_CONFIG = 2
EXIT_REVOKED = 3


def _config_path(value: str | None) -> Path:
    from edge.config import default_config_path

    return Path(value).expanduser() if value else default_config_path()


def _positive_float(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError("must be more than 0")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="porchlight-edge",
        description="Porchlight's agent for the box on a camera owner's network: it pairs with the owner's "
        "account, watches the cameras and tells Porchlight how they are. It sends video only while the owner "
        'shares it live ("share now"), and only for as long as the share lasts.',
    )
    parser.add_argument("--version", action="version", version=f"porchlight-edge {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    config_help = "config file (default: $PORCHLIGHT_EDGE_CONFIG or ~/.config/porchlight-edge/config.toml)"

    pair = commands.add_parser(
        "pair",
        help="pair this box with a Porchlight account (shows a code to approve in the app)",
        description="Show a code and a QR code; approve it in the Porchlight app to pair this box. "
        "Cameras already in the config file are kept.",
    )
    pair.add_argument("--server", required=True, help="Porchlight's address, e.g. https://porchlight.example.org")
    pair.add_argument("--config", help=config_help)

    run = commands.add_parser(
        "run",
        help="run the agent: watch the cameras, send heartbeats, follow the desired state",
        description="Run until stopped (Ctrl-C or SIGTERM). Exit code 2: not paired or bad config; "
        "3: the device was removed from Porchlight.",
    )
    run.add_argument("--config", help=config_help)
    run.add_argument("--simulate", type=int, default=0, metavar="N", help="add N simulated healthy cameras")
    run.add_argument(
        "--interval", type=_positive_float, metavar="SECONDS", help="heartbeat every SECONDS (overrides the server's)"
    )
    run.add_argument("--verbose", action="store_true", help="also log every retry")
    run.add_argument(
        "--panic-key",
        action="store_true",
        help="pressing Enter in this terminal reports a panic-button press (button_press)",
    )
    run.add_argument(
        "--panic-gpio",
        metavar="PATH",
        help="a sysfs GPIO value file, e.g. /sys/class/gpio/gpio17/value: a 0->1 change reports a button press",
    )

    event = commands.add_parser(
        "event",
        help="report an event, e.g. a panic-button press",
        description="Report an event to Porchlight, e.g. `porchlight-edge event button_press --detail 'back door'`.",
    )
    event.add_argument("kind", metavar="KIND", help="what happened: button_press")
    event.add_argument("--detail", default="", help="a few words about it")
    event.add_argument("--config", help=config_help)

    alert = commands.add_parser(
        "alert",
        help="press the panic button: report a button_press event",
        description="Report a panic-button press to Porchlight (the same as `porchlight-edge event button_press`).",
    )
    alert.add_argument("--detail", default="", help="a few words about it")
    alert.add_argument("--config", help=config_help)

    simulate = commands.add_parser(
        "simulate",
        help="run many simulated devices from this process (demos and load)",
        description="Pair --devices simulated boxes under an owner's site (signing in as the owner), then send their "
        "heartbeats, spread over the interval. Credentials are kept in the state file, so a re-run reuses them.",
    )
    simulate.add_argument("--server", required=True, help="Porchlight's address")
    simulate.add_argument("--devices", type=int, default=200, help="how many devices (default 200)")
    simulate.add_argument("--cameras", type=int, default=4, help="simulated cameras per device (default 4)")
    simulate.add_argument("--email", required=True, help="the owner's email, to approve the pairings")
    simulate.add_argument("--password", required=True, help="the owner's password")
    simulate.add_argument("--site-id", required=True, help="the owner's site the devices belong to")
    simulate.add_argument(
        "--state",
        default="simulated-devices.json",
        help="where credentials are kept (default ./simulated-devices.json)",
    )
    simulate.add_argument("--interval", type=_positive_float, default=30.0, help="heartbeat interval (default 30 s)")
    simulate.add_argument("--duration", type=_positive_float, help="stop after this many seconds (default: run on)")
    return parser


def _setup_logging(verbose: bool = False) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(message)s",
        datefmt="%H:%M:%S",
        stream=sys.stdout,
        force=True,
    )
    # httpx logs every request at INFO; the agent says what matters itself.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)
    # WebRTC's ICE checks log every candidate pair at INFO; the agent says when sharing starts and stops.
    logging.getLogger("aioice").setLevel(logging.WARNING)
    logging.getLogger("aiortc").setLevel(logging.WARNING)


def _pair(arguments: argparse.Namespace) -> int:
    from edge.client import DeviceAPIError, PairingFailed
    from edge.config import ConfigError
    from edge.pairing import pair

    try:
        asyncio.run(pair(arguments.server, _config_path(arguments.config)))
    except ConfigError as error:
        print(f"porchlight-edge: {error}", file=sys.stderr)
        return EXIT_CONFIG
    except PairingFailed as error:
        print(str(error), file=sys.stderr)
        return EXIT_FAILED
    except DeviceAPIError as error:
        print(f"Cannot start pairing: {error.message}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("\nPairing cancelled.", file=sys.stderr)
        return EXIT_FAILED
    return 0


def _paired_config(path: Path) -> EdgeConfig | None:
    """The paired box's config, or None after saying on stderr what is wrong with the file."""
    from edge.config import ConfigError, load_config

    try:
        return load_config(path)
    except ConfigError as error:
        print(f"porchlight-edge: {error}", file=sys.stderr)
        return None


def _run(arguments: argparse.Namespace) -> int:
    from edge.agent import Agent
    from edge.cameras import build_cameras

    path = _config_path(arguments.config)
    config = _paired_config(path)
    if config is None:
        return EXIT_CONFIG
    _setup_logging(arguments.verbose)
    cameras = build_cameras(config.cameras, arguments.simulate)
    if not cameras:
        logging.getLogger("edge").info("No cameras configured: add [[cameras]] to %s (heartbeats go on)", path)
    agent = Agent(
        config,
        cameras,
        config_path=path,
        interval_override_s=arguments.interval,
        panic_key=arguments.panic_key,
        panic_gpio=Path(arguments.panic_gpio) if arguments.panic_gpio else None,
    )
    return asyncio.run(agent.run())


def _send_event(config_argument: str | None, kind: str, detail: str) -> int:
    """Report one event with the paired box's credential, trying again a few times while the server is down."""
    from edge.client import CredentialRevoked, DeviceClient, RequestRejected, ServerUnavailable, utc_now

    path = _config_path(config_argument)
    config = _paired_config(path)
    if config is None:
        return EXIT_CONFIG

    async def send() -> int:
        import httpx

        from edge.agent import revoked_message
        from edge.client import send_event_with_retries

        occurred_at = utc_now()  # when it happened, not when the network let it through
        async with httpx.AsyncClient() as http:
            client = DeviceClient(config.server, config.credential, http)
            try:
                await send_event_with_retries(client, kind, detail, occurred_at)
            except CredentialRevoked:
                print(revoked_message(config.server), file=sys.stderr)
                return EXIT_REVOKED
            except RequestRejected as error:
                print(f"Event refused: {error.message}", file=sys.stderr)
                return EXIT_FAILED
            except ServerUnavailable as error:
                print(f"Event not sent: {error.message}", file=sys.stderr)
                return EXIT_FAILED
        print(f"Event {kind} sent.")
        return 0

    return asyncio.run(send())


def _event(arguments: argparse.Namespace) -> int:
    return _send_event(arguments.config, arguments.kind, arguments.detail)


def _alert(arguments: argparse.Namespace) -> int:
    return _send_event(arguments.config, "button_press", arguments.detail)


def _simulate(arguments: argparse.Namespace) -> int:
    from edge.simulate import SimulationError, run_simulation

    _setup_logging()
    try:
        asyncio.run(
            run_simulation(
                server=arguments.server,
                devices=arguments.devices,
                cameras_per_device=arguments.cameras,
                email=arguments.email,
                password=arguments.password,
                site_id=arguments.site_id,
                state_path=Path(arguments.state),
                interval_s=arguments.interval,
                duration_s=arguments.duration,
            )
        )
    except SimulationError as error:
        print(f"porchlight-edge simulate: {error}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        return 0
    return 0


def main(argv: list[str] | None = None) -> int:
    arguments = build_parser().parse_args(argv)
    handlers = {"pair": _pair, "run": _run, "event": _event, "alert": _alert, "simulate": _simulate}
    return handlers[arguments.command](arguments)


if __name__ == "__main__":
    raise SystemExit(main())
