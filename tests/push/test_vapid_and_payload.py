"""VAPID signing reuse, the subject rule, and the payload size limit."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from backend.notifications.delivery import check_delivery_settings
from backend.settings import Settings
from push.payload import MAX_PLAINTEXT_BYTES, PayloadTooLarge, declarative_payload
from push.vapid import RENEW_BEFORE_SECONDS, TOKEN_LIFETIME_SECONDS, VapidKeys, VapidSigner, subject_problem


def test_one_token_per_push_service_origin_reused_until_shortly_before_it_expires(tmp_path: Path) -> None:
    signer = VapidSigner(VapidKeys.load_or_create(tmp_path / "vapid.pem"), "mailto:ops@porchlight.example.org")
    now = 1_800_000_000.0
    first = signer.authorization("https://fcm.googleapis.com/fcm/send/a", now)
    assert signer.authorization("https://fcm.googleapis.com/fcm/send/b", now + 60) == first
    assert signer.authorization("https://web.push.apple.com/x", now) != first
    later = now + TOKEN_LIFETIME_SECONDS - RENEW_BEFORE_SECONDS + 1
    assert signer.authorization("https://fcm.googleapis.com/fcm/send/a", later) != first


def test_the_key_is_generated_once_and_kept(tmp_path: Path) -> None:
    first = VapidKeys.load_or_create(tmp_path / "vapid.pem")
    assert (tmp_path / "vapid.pem").stat().st_mode & 0o777 == 0o600
    assert VapidKeys.load_or_create(tmp_path / "vapid.pem").public_key == first.public_key


@pytest.mark.parametrize(
    "subject", ["mailto:ops@localhost", "https://localhost", "https://127.0.0.1", "mailto:", "ops@example.org"]
)
def test_subjects_push_services_reject_are_named(subject: str) -> None:
    assert subject_problem(subject)


def test_production_refuses_to_start_with_a_localhost_subject(tmp_path: Path) -> None:
    settings = Settings(
        database_url="sqlite+aiosqlite://", secret_key="x", var_dir=tmp_path, environment="production",
        smtp_url="smtp+starttls://u:p@mail.example.org", public_url="https://cameras.example.gov",
    )  # fmt: skip
    check_delivery_settings(settings)  # the default subject is fine
    with pytest.raises(RuntimeError, match="PORCHLIGHT_VAPID_SUBJECT"):
        check_delivery_settings(replace(settings, vapid_subject="mailto:admin@localhost"))
    check_delivery_settings(replace(settings, environment="development", vapid_subject="mailto:admin@localhost"))


def test_payload_is_declarative_and_bounded_by_rfc_8291() -> None:
    payload = json.loads(declarative_payload(title="T", body="B", navigate="/n", tag="x", app_badge=3))
    assert payload == {
        "web_push": 8030,
        "notification": {"title": "T", "body": "B", "navigate": "/n", "tag": "x"},
        "app_badge": "3",
    }
    overhead = len(declarative_payload(title="", body="", navigate="/", tag="t"))
    assert (
        len(declarative_payload(title="", body="b" * (MAX_PLAINTEXT_BYTES - overhead), navigate="/", tag="t")) == 3993
    )
    with pytest.raises(PayloadTooLarge):
        declarative_payload(title="", body="b" * (MAX_PLAINTEXT_BYTES - overhead + 1), navigate="/", tag="t")
