"""One frozen settings object, read from PORCHLIGHT_* environment variables."""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def _env(name: str, default: str) -> str:
    return os.environ.get(f"PORCHLIGHT_{name}", default)


def _env_bool(name: str, default: bool) -> bool:
    return _env(name, "1" if default else "0").strip().lower() in {"1", "true", "yes", "on"}


def _program_area(text: str) -> tuple[float, float, float] | None:
    """PORCHLIGHT_PROGRAM_AREA as "latitude,longitude,radius_km" (empty: none)."""
    if not text.strip():
        return None
    try:
        latitude, longitude, radius_km = (float(part) for part in text.split(","))
    except ValueError as exc:
        raise RuntimeError(f"PORCHLIGHT_PROGRAM_AREA must be latitude,longitude,radius_km (got {text!r})") from exc
    if not (-90 <= latitude <= 90 and -180 <= longitude <= 180 and radius_km > 0):
        raise RuntimeError("PORCHLIGHT_PROGRAM_AREA: latitude -90..90, longitude -180..180, radius_km above 0")
    return latitude, longitude, radius_km


def _secret_key(var_dir: Path, environment: str) -> str:
    """The configured secret, else (outside production) one generated once into var/ (never committed)."""
    configured = os.environ.get("PORCHLIGHT_SECRET_KEY")
    if configured:
        return configured
    if environment == "production":
        raise RuntimeError("PORCHLIGHT_SECRET_KEY must be set in production (e.g. `openssl rand -base64 48`)")
    path = var_dir / "secret_key"
    if path.exists():
        return path.read_text().strip()
    var_dir.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    path.write_text(key)
    path.chmod(0o600)
    return key


@dataclass(frozen=True)
class Settings:
    database_url: str
    secret_key: str
    var_dir: Path
    host: str = "127.0.0.1"
    port: int = 8000
    # "development" prints demo logins and allows http cookies; "production" demands https.
    environment: str = "development"
    # Session cookies carry Secure when the app is served over https (behind TLS or a proxy).
    secure_cookies: bool = False
    session_days: int = 30
    map_tile_url: str = ""
    workers: int = 1
    show_demo_logins: bool = True
    # Web Push: the VAPID private key (PEM; generated into var/ when empty), the contact push services see,
    # push-service hosts allowed beyond the browsers' own (tests add 127.0.0.1), a CA file to trust for them.
    vapid_private_key: str = ""
    vapid_subject: str = "mailto:push@porchlight.example.org"
    push_extra_hosts: tuple[str, ...] = ()
    push_ca_file: str = ""
    # How long a delivery worker holds the messages it claimed without renewing (it renews every third of it):
    # a worker that died is taken over this long after it last renewed.
    push_lease_seconds: float = 20.0
    # Messages a delivery worker sends at once. Each is a possible repeat if the worker dies before recording its
    # outcome (a Topic makes a repeat replace the first on the phone rather than stack); raise it when the push
    # services answer slowly and fan-outs take too long.
    push_concurrency: int = 12
    # Outgoing email: the SMTP server (smtp+starttls://user:password@host:587, smtps://…:465, or smtp://host for a
    # relay on the same host); empty: emails are saved to var/mailbox and listed at /dev/mailbox (not in production).
    smtp_url: str = ""
    mail_from: str = "Porchlight <no-reply@porchlight.example.org>"
    # Where people reach Porchlight (https://cameras.example.gov): the links in emails start with it, never with
    # the Host a request claims. Empty: http://{host}:{port} (development).
    public_url: str = ""
    # Push delivery and the request sweeper inside the app process (one-process installs); off when
    # `porchlight worker` processes do that work.
    background_in_process: bool = True
    # Evidence clips: where they are stored (write-once) and the largest file an owner may send.
    evidence_dir: Path | None = None
    max_clip_bytes: int = 2 * 1024**3
    # Share now: the program's agency (its live desk sees shares; empty: the only agency there is), the longest
    # share the program allows, and the STUN/TURN servers peers use (JSON list of RTCIceServer; none on loopback).
    program_agency: str = ""
    share_max_minutes: int = 240
    ice_servers: tuple[dict[str, Any], ...] = ()
    # The live relay inside the app process; off when `porchlight relay` runs it (same database).
    relay_in_process: bool = True
    # The program's area as (latitude, longitude, radius_km): a site placed outside it is saved with a warning.
    # None: only a site at 0, 0 is warned about.
    program_area: tuple[float, float, float] | None = None
    # A Nominatim-compatible search URL (https://nominatim.example.org/search): the site form offers to find a
    # position from the address. Empty: no address search, and no call to any outside service.
    geocoder_url: str = ""

    @property
    def evidence_path(self) -> Path:
        return self.evidence_dir or self.var_dir / "evidence"

    def link(self, path: str) -> str:
        """An absolute link for an email."""
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/") + path

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @classmethod
    def from_env(cls) -> Settings:
        var_dir = Path(_env("VAR_DIR", str(PROJECT_ROOT / "var"))).resolve()
        environment = _env("ENV", "development")
        return cls(
            database_url=_env("DATABASE_URL", f"sqlite+aiosqlite:///{var_dir / 'porchlight.db'}"),
            secret_key=_secret_key(var_dir, environment),
            var_dir=var_dir,
            host=_env("HOST", "127.0.0.1"),
            port=int(_env("PORT", "8000")),
            environment=environment,
            secure_cookies=_env_bool("SECURE_COOKIES", environment == "production"),
            session_days=int(_env("SESSION_DAYS", "30")),
            map_tile_url=_env("MAP_TILE_URL", ""),
            workers=int(_env("WORKERS", "1")),
            show_demo_logins=_env_bool("SHOW_DEMO_LOGINS", environment != "production"),
            vapid_private_key=_env("VAPID_PRIVATE_KEY", ""),
            vapid_subject=_env("VAPID_SUBJECT", "mailto:push@porchlight.example.org"),
            push_extra_hosts=tuple(h.strip() for h in _env("PUSH_EXTRA_HOSTS", "").split(",") if h.strip()),
            push_ca_file=_env("PUSH_CA_FILE", ""),
            push_lease_seconds=float(_env("PUSH_LEASE_SECONDS", "20")),
            push_concurrency=int(_env("PUSH_CONCURRENCY", "12")),
            smtp_url=_env("SMTP_URL", ""),
            mail_from=_env("MAIL_FROM", "Porchlight <no-reply@porchlight.example.org>"),
            public_url=_env("PUBLIC_URL", ""),
            background_in_process=_env_bool("BACKGROUND_IN_PROCESS", True),
            evidence_dir=Path(_env("EVIDENCE_DIR", str(var_dir / "evidence"))).resolve(),
            max_clip_bytes=int(_env("MAX_CLIP_BYTES", str(2 * 1024**3))),
            program_agency=_env("PROGRAM_AGENCY", ""),
            share_max_minutes=int(_env("SHARE_MAX_MINUTES", "240")),
            ice_servers=tuple(json.loads(_env("ICE_SERVERS", "[]"))),
            relay_in_process=_env_bool("RELAY_IN_PROCESS", True),
            program_area=_program_area(_env("PROGRAM_AREA", "")),
            geocoder_url=_env("GEOCODER_URL", ""),
        )
