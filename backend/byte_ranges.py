"""HTTP range requests (RFC 9110, section 14) for files served in parts: one byte range per request, which is what
a browser's video player asks for when it starts, buffers and seeks. Litestar's File response sends whole files
only (no Range, no 206), hence this."""

from __future__ import annotations

import re
from dataclasses import dataclass

from backend.errors import ServiceError

_SPEC = re.compile(r"^(\d*)-(\d*)$")


@dataclass(frozen=True)
class ByteRange:
    """Bytes `start` to `end` of a file, both included (as Content-Range says them)."""

    start: int
    end: int

    @property
    def length(self) -> int:
        return self.end - self.start + 1

    def content_range(self, size: int) -> str:
        return f"bytes {self.start}-{self.end}/{size}"


class RangeNotSatisfiable(ServiceError):
    """416: the range asked for is not in the file (it starts past its end, or cannot be read)."""

    status_code = 416
    title = "Range not satisfiable"

    def __init__(self, size: int) -> None:
        super().__init__(f"The file has {size:,} bytes; ask for a range within bytes 0-{size - 1}")
        self.size = size

    @property
    def headers(self) -> dict[str, str]:
        return {"Content-Range": f"bytes */{self.size}", "Accept-Ranges": "bytes"}


def requested_range(header: str | None, size: int, *, if_range: str | None = None, etag: str = "") -> ByteRange | None:
    """The range a Range header asks for within a file of `size` bytes, or None for the whole file: no header,
    another unit than bytes (which a server must ignore), several ranges (a server may send the whole file
    instead), or an If-Range naming another version. A range past the end or written wrong is refused (416)."""
    if not header or (if_range is not None and if_range.strip() != etag):
        return None
    unit, _, specs = header.partition("=")
    if unit.strip().lower() != "bytes":
        return None
    if "," in specs:
        return None
    match = _SPEC.match(specs.strip())
    if match is None or match.groups() == ("", ""):
        raise RangeNotSatisfiable(size)
    first, last = match.groups()
    if first == "":  # the last N bytes
        suffix = int(last)
        if suffix == 0:
            raise RangeNotSatisfiable(size)
        return ByteRange(max(size - suffix, 0), size - 1)
    start = int(first)
    end = size - 1 if last == "" else min(int(last), size - 1)
    if start >= size or (last != "" and int(last) < start):
        raise RangeNotSatisfiable(size)
    return ByteRange(start, end)
