"""The agent's config file: where the server is, the device's credential, and the cameras to watch.

A TOML file, by default `$PORCHLIGHT_EDGE_CONFIG` or `~/.config/porchlight-edge/config.toml`:

    server = "https://porchlight.example.org"
    device_id = "3f2c..."
    credential = "..."
    heartbeat_interval_s = 30

    [[cameras]]
    key = "front-door"
    name = "Front door"
    url = "rtsp://user:pass@192.168.1.20:554/stream1"

    [[cameras]]
    name = "Test camera"
    simulate = "healthy"        # or "flaky" or "dead": no real camera is read

It holds a secret, so it is written atomically and readable by its owner only (0600, directory 0700).
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

SIMULATED_BEHAVIOURS = ("healthy", "flaky", "dead")


class ConfigError(Exception):
    """A config file that is missing, unpaired or unreadable; the message is one line a person can act on."""


@dataclass(frozen=True)
class CameraConfig:
    key: str
    name: str
    url: str | None = None
    simulate: str | None = None


@dataclass(frozen=True)
class EdgeConfig:
    server: str
    device_id: str
    credential: str
    heartbeat_interval_s: float | None = None
    cameras: list[CameraConfig] = field(default_factory=list)


def default_config_path() -> Path:
    configured = os.environ.get("PORCHLIGHT_EDGE_CONFIG")
    if configured:
        return Path(configured).expanduser()
    return Path.home() / ".config" / "porchlight-edge" / "config.toml"


def slugify(name: str) -> str:
    """A short stable key from a camera's name: "Front door" -> "front-door"."""
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:40].strip("-")


def _read_toml(path: Path) -> dict:
    try:
        with path.open("rb") as file:
            return tomllib.load(file)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path} is not valid TOML ({error}); fix it or remove it and pair again") from None
    except OSError as error:
        raise ConfigError(f"cannot read {path}: {error.strerror or error}") from None


def _parse_cameras(path: Path, raw: object) -> list[CameraConfig]:
    if raw is None:
        return []
    if not isinstance(raw, list) or not all(isinstance(item, dict) for item in raw):
        raise ConfigError(f"{path}: `cameras` must be [[cameras]] tables with key, name and url")
    cameras: list[CameraConfig] = []
    seen: set[str] = set()
    for number, item in enumerate(raw, start=1):
        name = str(item.get("name") or item.get("key") or f"Camera {number}")
        key = str(item.get("key") or slugify(name) or f"camera-{number}")
        url, simulate = item.get("url"), item.get("simulate")
        if simulate is not None and simulate not in SIMULATED_BEHAVIOURS:
            raise ConfigError(f"{path}: camera {name!r} has simulate = {simulate!r}; use one of {SIMULATED_BEHAVIOURS}")
        if not url and simulate is None:
            raise ConfigError(f'{path}: camera {name!r} needs a url (rtsp://...) or simulate = "healthy"')
        if key in seen:
            raise ConfigError(f"{path}: two cameras have the key {key!r}; give each a different key")
        seen.add(key)
        cameras.append(CameraConfig(key=key, name=name, url=str(url) if url else None, simulate=simulate))
    return cameras


def read_cameras(path: Path) -> list[CameraConfig]:
    """The cameras already in a config file (none when there is no file): pairing keeps them."""
    if not path.exists():
        return []
    return _parse_cameras(path, _read_toml(path).get("cameras"))


def load_config(path: Path) -> EdgeConfig:
    """The paired device's config, or a ConfigError saying which file and which command to run."""
    pair_hint = f"run: porchlight-edge pair --server URL --config {path}"
    if not path.exists():
        raise ConfigError(f"{path} does not exist: this box is not paired yet; {pair_hint}")
    raw = _read_toml(path)
    missing = [name for name in ("server", "device_id", "credential") if not raw.get(name)]
    if missing:
        raise ConfigError(f"{path} has no {', '.join(missing)}: this box is not paired yet; {pair_hint}")
    interval = raw.get("heartbeat_interval_s")
    if interval is not None and (not isinstance(interval, int | float) or interval <= 0):
        raise ConfigError(f"{path}: heartbeat_interval_s must be a positive number of seconds")
    return EdgeConfig(
        server=str(raw["server"]).rstrip("/"),
        device_id=str(raw["device_id"]),
        credential=str(raw["credential"]),
        heartbeat_interval_s=float(interval) if interval is not None else None,
        cameras=_parse_cameras(path, raw.get("cameras")),
    )


def _toml_string(value: str) -> str:
    """A TOML basic string; control characters are escaped (TOML forbids them raw)."""
    escaped = []
    for character in value:
        if character in '"\\':
            escaped.append("\\" + character)
        elif ord(character) < 0x20 or ord(character) == 0x7F:
            escaped.append(f"\\u{ord(character):04x}")
        else:
            escaped.append(character)
    return '"' + "".join(escaped) + '"'


def render_config(config: EdgeConfig) -> str:
    lines = [
        "# porchlight-edge: written by `porchlight-edge pair`. Keep it private: the credential is this box's key.",
        f"server = {_toml_string(config.server)}",
        f"device_id = {_toml_string(config.device_id)}",
        f"credential = {_toml_string(config.credential)}",
    ]
    if config.heartbeat_interval_s is not None:
        lines.append(f"heartbeat_interval_s = {config.heartbeat_interval_s:g}")
    for camera in config.cameras:
        lines += ["", "[[cameras]]", f"key = {_toml_string(camera.key)}", f"name = {_toml_string(camera.name)}"]
        if camera.url:
            lines.append(f"url = {_toml_string(camera.url)}")
        if camera.simulate:
            lines.append(f"simulate = {_toml_string(camera.simulate)}")
    return "\n".join(lines) + "\n"


def write_private_file(path: Path, text: str) -> None:
    """Write atomically (temporary file, then rename) a file only its owner may read: created 0600 before the
    secret goes in, in a directory made 0700."""
    if not path.parent.exists():
        path.parent.mkdir(mode=0o700, parents=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(descriptor, 0o600)  # the mode given to open() is only used when the file is new
        with os.fdopen(descriptor, "w", encoding="utf-8") as file:
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def write_config(path: Path, config: EdgeConfig) -> None:
    write_private_file(path, render_config(config))
