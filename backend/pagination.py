"""Keyset pagination for lists that grow (requests, notifications, the access log): newest first, PAGE_SIZE at a
time, the next page picked by the last row's (time, id), never by OFFSET, so a page deep in the past costs what the
first one does. The cursor is opaque to clients: base64url of "<ISO time>|<id>". A list in another order (the
district roster, by business name) keeps its key as a JSON list: `encode_values` / `decode_values`.

The JSON API answers a plain list and, when there is more, a `Link: <...?before=CURSOR>; rel="next"` header
(RFC 8288); pages show an "Older" link to the same URL.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar
from urllib.parse import urlencode

from sqlalchemy import ColumnElement, and_, or_

from backend.errors import InvalidInput

PAGE_SIZE = 50
NOT_A_CURSOR = "This page link is not valid (it may be cut short): start again from the first page"

T = TypeVar("T")
U = TypeVar("U")
Key = tuple[dt.datetime, Any]  # (time, id) of a row: id is a UUID or an integer


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    next_cursor: str | None  # None: this is the last page

    def map(self, convert: Callable[[T], U]) -> Page[U]:
        return Page([convert(item) for item in self.items], self.next_cursor)

    def next_link(self, path: str, **query: str) -> str | None:
        """The URL of the next page (the same filters), or None."""
        if self.next_cursor is None:
            return None
        return f"{path}?{urlencode({**{k: v for k, v in query.items() if v}, 'before': self.next_cursor})}"

    def link_header(self, path: str, **query: str) -> dict[str, str]:
        link = self.next_link(path, **query)
        return {"Link": f'<{link}>; rel="next"'} if link else {}


def encode(at: dt.datetime, row_id: Any) -> str:
    return base64.urlsafe_b64encode(f"{at.astimezone(dt.UTC).isoformat()}|{row_id}".encode()).decode().rstrip("=")


def decode(cursor: str | None, id_type: type = str) -> Key | None:
    """The key a cursor names (None for the first page); InvalidInput naming `before` for anything else."""
    if not cursor:
        return None
    try:
        at, row_id = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode().split("|")
        moment = dt.datetime.fromisoformat(at)
        if moment.tzinfo is None:
            raise ValueError(at)
        return moment, id_type(row_id)
    except (ValueError, UnicodeDecodeError, binascii.Error):
        raise InvalidInput({"before": NOT_A_CURSOR}) from None


def encode_values(*values: Any) -> str:
    """The cursor of a key of JSON values (texts, numbers; a UUID as its text), for a list in another order."""
    raw = json.dumps([str(v) if isinstance(v, uuid.UUID) else v for v in values], ensure_ascii=False)
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_values(cursor: str, types: Sequence[Callable[[Any], Any]], field: str = "before") -> tuple[Any, ...]:
    """The key an `encode_values` cursor names, each value converted by its type; InvalidInput naming `field` for
    anything else."""
    try:
        values = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if not isinstance(values, list) or len(values) != len(types):
            raise ValueError(cursor)
        return tuple(convert(value) for convert, value in zip(types, values, strict=True))
    except (ValueError, TypeError, AttributeError, binascii.Error):
        raise InvalidInput({field: NOT_A_CURSOR}) from None


def older_than(at: ColumnElement, row_id: ColumnElement, key: Key) -> ColumnElement[bool]:
    """Rows after `key` in newest-first order (time descending, then id descending)."""
    return or_(at < key[0], and_(at == key[0], row_id < key[1]))


def page_of(rows: Sequence[T], limit: int, key_of: Any) -> Page[T]:
    """A page from up to limit + 1 rows read in order: the extra row only says there is more."""
    items = list(rows[:limit])
    return Page(items, encode(*key_of(items[-1])) if len(rows) > limit else None)


async def every_page(fetch: Callable[[str | None], Awaitable[Page[T]]]) -> list[T]:
    """Every item of a paged list, page after page (a person's data export wants them all)."""
    items: list[T] = []
    cursor = None
    while True:
        page = await fetch(cursor)
        items += page.items
        if page.next_cursor is None:
            return items
        cursor = page.next_cursor
