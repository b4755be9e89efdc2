"""Importing a district's member roster from a CSV file: a preview that saves nothing to the roster, then a confirm
that applies the same file, checked again against the roster as it is then, in one transaction.

Between the two the uploaded file waits in the database (a DistrictImport row of the district) for an hour, so the
confirm may reach another app process than the preview did. Rows are matched to members by `service.match_key`,
so importing a file twice changes nothing the second time. Importing never sends an invite: that is a step of its own.
"""

from __future__ import annotations

import csv
import datetime as dt
import enum
import io
import math
import re
import uuid
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from backend.accounts.models import User
from backend.accounts.service import normalize_email
from backend.db import utcnow
from backend.districts import service
from backend.districts.models import (
    ADDRESS_MAX,
    BUSINESS_NAME_MAX,
    CONTACT_NAME_MAX,
    EMAIL_MAX,
    IMPORT_MAX_BYTES,
    PHONE_MAX,
    DistrictImport,
    DistrictMember,
    MemberSource,
    MemberStatus,
)
from backend.errors import Conflict, Gone, InvalidInput, NotFound
from backend.validation import EMAIL_PATTERN

MAX_BYTES = IMPORT_MAX_BYTES
# The largest request an upload may be (the file itself is refused above MAX_BYTES with a message saying so; a
# larger body is a 413 before it is read).
UPLOAD_BODY_MAX = 4 * MAX_BYTES
MAX_ROWS = 5000
KEEP_FOR = dt.timedelta(hours=1)
FIELD = "file"  # the form's (and the API's multipart) field the messages are about

NOT_UTF8 = (
    "This file is not UTF-8 text, so its accents and symbols would come out wrong. In Excel choose "
    '"Save As" › "CSV UTF-8 (Comma delimited)"; in Google Sheets "Download" › "Comma-separated values"; then upload '
    "that file."
)
TOO_LARGE = "This file is larger than 2 MB. Split the roster into smaller files (up to 5,000 rows each)."
TOO_MANY_ROWS = "This file has {rows:,} rows; an import takes up to 5,000. Split it into files of 5,000 rows or fewer."
EMPTY = "This file is empty. Upload a CSV file whose first row names the columns."
NO_BUSINESS_COLUMN = (
    'The first row must name the columns, one of them "Business name". This file\'s first row is: {found}.'
)
NOT_TEXT = "This file is not a CSV text file (it contains binary data). Save the roster as CSV and upload that."
NO_IMPORT = "No such import preview in your district. Upload the file again."
EXPIRED = "This import preview expired (previews are kept for an hour). Upload the file again."
ROSTER_CHANGED = "The roster changed while this import was being saved. Nothing was imported: upload the file again."


class Verdict(enum.StrEnum):
    NEW = "new"
    UPDATED = "updated"
    DUPLICATE = "duplicate"
    INVALID = "invalid"


VERDICT_LABELS = {
    Verdict.NEW: "New",
    Verdict.UPDATED: "Updated",
    Verdict.DUPLICATE: "Duplicate",
    Verdict.INVALID: "Invalid",
}

# The roster's fields, with what a column may be called (compared casefolded, punctuation as spaces).
COLUMNS: dict[str, tuple[str, ...]] = {
    "business_name": ("business name", "business", "name", "company", "company name", "business names",
                      "organization", "organisation", "organization name", "member", "member name", "store"),
    "contact_name": ("contact name", "contact", "contact person", "owner", "owner name", "manager", "person"),
    "email": ("email", "email address", "e mail", "e mail address", "contact email", "mail"),
    "phone": ("phone", "phone number", "telephone", "tel", "contact phone", "mobile", "cell"),
    "address": ("address", "street address", "street", "business address", "location"),
    "latitude": ("latitude", "lat"),
    "longitude": ("longitude", "lon", "lng", "long"),
}  # fmt: skip
_COLUMN_OF = {alias: name for name, aliases in COLUMNS.items() for alias in aliases}
FIELD_LABELS = {
    "business_name": "Business name", "contact_name": "Contact name", "email": "Email", "phone": "Phone",
    "address": "Street address", "latitude": "Latitude", "longitude": "Longitude",
}  # fmt: skip
_MAX = {"business_name": BUSINESS_NAME_MAX, "contact_name": CONTACT_NAME_MAX, "email": EMAIL_MAX,
        "phone": PHONE_MAX, "address": ADDRESS_MAX}  # fmt: skip
_TEXT = tuple(_MAX)
_EMAIL = re.compile(EMAIL_PATTERN)


@dataclass
class ImportRow:
    line: int  # line number in the file (the header is 1)
    values: dict[str, Any]
    verdict: Verdict = Verdict.NEW
    reason: str = ""
    changed: list[str] = field(default_factory=list)  # fields an update changes
    formulas: list[str] = field(default_factory=list)  # fields whose text starts like a formula
    member_id: uuid.UUID | None = None  # the member an update changes
    key: str = ""

    @property
    def business_name(self) -> str:
        return str(self.values.get("business_name") or "")


@dataclass
class Preview:
    import_id: str
    expires_at: dt.datetime
    rows: list[ImportRow]
    ignored_columns: list[str]

    @property
    def counts(self) -> dict[Verdict, int]:
        counts = dict.fromkeys(Verdict, 0)
        for row in self.rows:
            counts[row.verdict] += 1
        return counts

    def of(self, verdict: str) -> list[ImportRow]:
        return [row for row in self.rows if row.verdict == verdict]

    @property
    def formula_rows(self) -> int:
        return sum(1 for row in self.rows if row.formulas)


@dataclass(frozen=True)
class ImportResult:
    added: int
    updated: int
    duplicate: int
    invalid: int


# --- Reading the file ---


def decode(content: bytes) -> str:
    """The file as text: UTF-8, with or without the byte order mark Excel writes. Anything else is refused with
    what to do (guessing another encoding would turn accents into wrong letters without anyone seeing)."""
    if len(content) > MAX_BYTES:
        raise InvalidInput({FIELD: TOO_LARGE})
    if not content.strip():
        raise InvalidInput({FIELD: EMPTY})
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidInput({FIELD: NOT_UTF8}) from exc
    if "\x00" in text:
        raise InvalidInput({FIELD: NOT_TEXT})
    return text


def _delimiter(text: str) -> str:
    """Comma, or what the header row is separated by (a spreadsheet set to another language writes semicolons)."""
    header = text.lstrip("\r\n").split("\n", 1)[0]
    return max((",", ";", "\t"), key=header.count) if header.count(",") == 0 else ","


def parse(content: bytes) -> tuple[list[ImportRow], list[str]]:
    """The file's rows with their values by roster field (blank rows skipped), and the columns it ignores. Whole-file
    problems (encoding, no business-name column, too many rows) are InvalidInput about the file."""
    text = decode(content)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_delimiter(text))
    try:
        header = next(reader, None)
        while header is not None and not any(cell.strip() for cell in header):
            header = next(reader, None)
        if header is None:
            raise InvalidInput({FIELD: EMPTY})
        columns: dict[int, str] = {}
        ignored: list[str] = []
        for index, title in enumerate(header):
            name = _COLUMN_OF.get(service.normalise_words(title))
            if name is None or name in columns.values():
                if title.strip():
                    ignored.append(title.strip())
                continue
            columns[index] = name
        if "business_name" not in columns.values():
            found = ", ".join(f'"{t.strip()}"' for t in header if t.strip())[:300]
            raise InvalidInput({FIELD: NO_BUSINESS_COLUMN.format(found=found)})
        rows: list[ImportRow] = []
        for cells in reader:
            if not any(cell.strip() for cell in cells):
                continue
            if len(rows) == MAX_ROWS:
                extra = 1 + sum(1 for more in reader if any(cell.strip() for cell in more))
                raise InvalidInput({FIELD: TOO_MANY_ROWS.format(rows=MAX_ROWS + extra)})
            values = {name: cells[index].strip() if index < len(cells) else "" for index, name in columns.items()}
            rows.append(ImportRow(reader.line_num, values))
    except csv.Error as exc:
        raise InvalidInput(
            {FIELD: f"This file is not a CSV file this import can read (line {reader.line_num}: {exc})"}
        ) from exc
    return rows, ignored


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _check(row: ImportRow) -> None:
    """The row's own problems (the verdict invalid with the reason), its formula cells, its typed values."""
    values = row.values
    problems = []
    raw_email = values.get("email", "")
    for name in _TEXT:
        text = values.get(name, "")
        if service.starts_like_formula(text):
            row.formulas.append(name)
        if len(text) > _MAX[name]:
            problems.append(f"{FIELD_LABELS[name]} is longer than {_MAX[name]} characters")
    if not values.get("business_name"):
        problems.append("Business name is missing")
    if raw_email and not _EMAIL.match(raw_email):
        problems.append(f'Email "{raw_email[:60]}" is not an email address')
    latitude, longitude = values.get("latitude", ""), values.get("longitude", "")
    position: dict[str, float | None] = {"latitude": None, "longitude": None}
    for name, text, limit in (("latitude", latitude, 90), ("longitude", longitude, 180)):
        if not text:
            continue
        number = _number(text)
        if number is None:
            problems.append(f'{FIELD_LABELS[name]} "{text[:30]}" is not a number')
        elif not -limit <= number <= limit:
            problems.append(f"{FIELD_LABELS[name]} {text[:30]} is out of range (-{limit} to {limit})")
        else:
            position[name] = number
    if bool(latitude) != bool(longitude):
        problems.append("Latitude and longitude: give both, or neither (this row has only one)")
    if problems:
        row.verdict, row.reason = Verdict.INVALID, "; ".join(problems)
        return
    values["email"] = normalize_email(raw_email)
    values.update(position)
    row.key = service.match_key(values["business_name"], values["email"], values.get("address", ""))


def _same(old: Any, new: Any) -> bool:
    if isinstance(old, float) or isinstance(new, float):
        return old is not None and new is not None and abs(float(old) - float(new)) < 1e-9
    return old == new


async def classify(db: AsyncSession, district_id: uuid.UUID, rows: list[ImportRow]) -> None:
    """Each row's verdict against the roster (its match keys loaded once) and the rows before it in the file.
    A blank cell changes nothing: it leaves what the roster has."""
    roster = {
        found.match_key: found
        for found in await db.execute(
            select(DistrictMember.id, DistrictMember.match_key, DistrictMember.status,
                   *(getattr(DistrictMember, n) for n in FIELD_LABELS))
            .where(DistrictMember.district_id == district_id)
        )
    }  # fmt: skip
    seen: dict[str, int] = {}
    for row in rows:
        _check(row)
        if row.verdict == Verdict.INVALID:
            continue
        if row.key in seen:
            row.verdict, row.reason = Verdict.DUPLICATE, f"Repeats line {seen[row.key]} of this file"
            continue
        seen[row.key] = row.line
        existing = roster.get(row.key)
        if existing is None:
            continue
        if existing.status == MemberStatus.LEFT:  # what they gave the district was cleared when they left
            row.verdict, row.reason = Verdict.DUPLICATE, f"{existing.business_name} left the district"
            continue
        row.member_id = existing.id
        row.changed = [
            name
            for name in FIELD_LABELS
            if row.values.get(name) not in (None, "") and not _same(getattr(existing, name), row.values[name])
        ]
        if row.changed:
            row.verdict = Verdict.UPDATED
            row.reason = "Changes " + ", ".join(FIELD_LABELS[name].lower() for name in row.changed)
        else:
            row.verdict, row.reason = Verdict.DUPLICATE, f"Already on the roster as {existing.business_name}"


# --- Where the uploaded file waits between preview and confirm: the district's DistrictImport rows ---


async def _kept(db: AsyncSession, district_id: uuid.UUID, import_id: str) -> DistrictImport:
    """The district's preview, locked until the transaction ends (two confirms of one file apply it once); unknown
    (or another district's) is NotFound, older than an hour Gone, and deleted."""
    try:
        wanted = uuid.UUID(import_id)
    except ValueError as exc:
        raise NotFound(NO_IMPORT) from exc
    kept = await db.scalar(
        select(DistrictImport)
        .where(DistrictImport.id == wanted, DistrictImport.district_id == district_id)
        .with_for_update()
    )
    if kept is None:
        raise NotFound(NO_IMPORT)
    if kept.created_at < utcnow() - KEEP_FOR:
        await db.delete(kept)
        await db.commit()
        raise Gone(EXPIRED)
    return kept


# --- Preview and confirm ---


async def preview(db: AsyncSession, coordinator: User, content: bytes | None) -> Preview:
    """Each row of the uploaded file with its verdict against the roster; keeps the file for the confirm (and
    deletes the district's expired previews) and saves nothing to the roster."""
    district = await service.coordinated_district(db, coordinator)
    if content is None:
        raise InvalidInput({FIELD: "Choose a CSV file to upload"})
    rows, ignored = parse(content)
    await classify(db, district.id, rows)
    now = utcnow()
    expired = DistrictImport.created_at < now - KEEP_FOR
    await db.execute(delete(DistrictImport).where(DistrictImport.district_id == district.id, expired))
    import_id = uuid.uuid4()
    kept = DistrictImport(id=import_id, district_id=district.id, coordinator_id=coordinator.id, content=content)
    db.add(kept)
    await db.commit()
    return Preview(str(import_id), now + KEEP_FOR, rows, ignored)


async def confirm(db: AsyncSession, coordinator: User, import_id: str) -> ImportResult:
    """Apply a previewed file: re-read it, check every row against the roster as it is now, insert the new
    members (listed, not invited), update the changed ones and delete the kept file, all in one transaction."""
    district = await service.coordinated_district(db, coordinator)
    kept = await _kept(db, district.id, import_id)
    rows, _ = parse(kept.content)
    await classify(db, district.id, rows)
    now = utcnow()
    new = [
        {
            "id": uuid.uuid4(), "district_id": district.id, "status": MemberStatus.LISTED.value,
            "source": MemberSource.IMPORT.value, "match_key": row.key, "created_at": now, "updated_at": now,
            **{name: row.values.get(name) or ("" if name in _TEXT else None) for name in FIELD_LABELS},
        }
        for row in rows
        if row.verdict == Verdict.NEW
    ]  # fmt: skip
    updated = [
        {"id": row.member_id, "updated_at": now, **{name: row.values[name] for name in row.changed}}
        for row in rows
        if row.verdict == Verdict.UPDATED
    ]
    try:
        if new:
            await db.execute(insert(DistrictMember), new)
        if updated:  # by primary key: the ids are this district's members (classify read them in its query)
            await db.execute(update(DistrictMember), updated)
        await db.delete(kept)
        await db.commit()
    except IntegrityError as exc:  # a member with one of these keys was saved meanwhile (another tab)
        await db.rollback()
        raise Conflict(ROSTER_CHANGED) from exc
    counts = {verdict: sum(1 for row in rows if row.verdict == verdict) for verdict in Verdict}
    return ImportResult(len(new), len(updated), counts[Verdict.DUPLICATE], counts[Verdict.INVALID])
