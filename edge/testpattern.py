"""The test pattern a simulated camera shares: moving bars under a barcode of the wall-clock time.

Every frame carries the time it was made, so whoever watches it (a browser's `<video>`, a test's decoder) can
measure glass-to-glass latency by reading the frame back and comparing with its own clock.

The barcode (fixed; the live desk's benchmark decodes it in the browser):

- the top 32 pixel rows of the frame are the strip; its chroma is neutral (U = V = 128);
- 48 blocks, each 13 pixels wide, the first at x = 8 (so x from 8 to 8 + 48 * 13 = 632), each spanning all
  32 rows; everything else in the strip is black;
- block n (n = 0 first, leftmost) is bit 47 - n of a 48-bit unsigned integer, most significant bit first:
  white (Y = 235) for 1, black (Y = 16) for 0;
- the integer is `int(time.time() * 1000)`, Unix time in milliseconds, taken when the frame is produced.

To read it back, sample each block near its centre (x = 8 + 13 * n + 6, y around 16; a few pixels averaged
resist compression) and call it 1 when the luma is above the midpoint 125. `read_barcode` does exactly that.
In a browser, draw the `<video>` into a canvas: white blocks come out near RGB 255 and black near 0 (limited-range
video), so take the mean of R, G and B above 128 as 1.
Frames are 640x360 yuv420p by default; the strip needs a frame at least 640 pixels wide and 32 high.
"""

from __future__ import annotations

import time

import av

BARCODE_ROWS = 32
BARCODE_BITS = 48
BARCODE_X = 8
BARCODE_BLOCK_WIDTH = 13
BARCODE_WHITE = 235
BARCODE_BLACK = 16
BARCODE_THRESHOLD = (BARCODE_WHITE + BARCODE_BLACK) // 2
NEUTRAL_CHROMA = 128
# Below the strip: a bright bar crossing a dark ramp, once every few seconds, so a viewer sees motion.
BAR_WIDTH = 48
BAR_SECONDS_ACROSS = 4.0


def now_ms() -> int:
    """The value a frame made now carries."""
    return int(time.time() * 1000)


def barcode_row(value: int, width: int) -> bytes:
    """One luma row of the strip for a 48-bit `value`."""
    if not 0 <= value < 1 << BARCODE_BITS:
        raise ValueError(f"the barcode holds a 48-bit unsigned value, not {value}")
    row = bytearray([BARCODE_BLACK]) * width
    for bit in range(BARCODE_BITS):
        if value >> (BARCODE_BITS - 1 - bit) & 1:
            start = BARCODE_X + bit * BARCODE_BLOCK_WIDTH
            row[start : start + BARCODE_BLOCK_WIDTH] = bytes([BARCODE_WHITE]) * BARCODE_BLOCK_WIDTH
    return bytes(row)


class TestPattern:
    """Makes the frames: `frame(index, fps)` draws the barcode of the current time and the moving bar."""

    __test__ = False  # not a pytest test class, whatever its name

    def __init__(self, width: int = 640, height: int = 360) -> None:
        if width < BARCODE_X + BARCODE_BITS * BARCODE_BLOCK_WIDTH + BARCODE_X or height <= BARCODE_ROWS or width % 2:
            raise ValueError(f"a {width}x{height} frame cannot hold the barcode strip (at least 640x34, even width)")
        self.width = width
        self.height = height
        # A dark horizontal ramp, 40..100, as the background of everything below the strip.
        self._ramp = bytes(40 + 60 * x // width for x in range(width))
        self._chroma_row = bytes([NEUTRAL_CHROMA]) * (width // 2)

    def luma(self, millis: int, bar_x: int) -> bytes:
        """The Y plane, row after row (line size = width)."""
        strip = barcode_row(millis, self.width) * BARCODE_ROWS
        row = bytearray(self._ramp)
        bar_end = min(self.width, bar_x + BAR_WIDTH)
        row[bar_x:bar_end] = bytes([210]) * (bar_end - bar_x)
        return strip + bytes(row) * (self.height - BARCODE_ROWS)

    def chroma(self, bar_x: int, neutral: bool) -> bytes:
        """A U or V plane: neutral in the strip, the bar tinted below it."""
        half_width, half_height = self.width // 2, (self.height + 1) // 2
        strip_rows = BARCODE_ROWS // 2
        if neutral:
            return self._chroma_row * half_height
        row = bytearray(self._chroma_row)
        start, end = bar_x // 2, min(half_width, (bar_x + BAR_WIDTH) // 2)
        row[start:end] = bytes([90]) * (end - start)
        return self._chroma_row * strip_rows + bytes(row) * (half_height - strip_rows)

    def frame(self, index: int, fps: float, millis: int | None = None) -> av.VideoFrame:
        """Frame number `index` of a `fps` stream, stamped with `millis` (default: now)."""
        millis = now_ms() if millis is None else millis
        travel = self.width - BAR_WIDTH
        position = (index / fps / BAR_SECONDS_ACROSS) % 2  # across and back
        bar_x = int(travel * (position if position <= 1 else 2 - position)) & ~1
        frame = av.VideoFrame(self.width, self.height, "yuv420p")
        planes = (self.luma(millis, bar_x), self.chroma(bar_x, neutral=True), self.chroma(bar_x, neutral=False))
        for number, (plane, data) in enumerate(zip(frame.planes, planes, strict=True)):
            _fill_plane(plane, data, self.width if number == 0 else self.width // 2)
        return frame


def _fill_plane(plane: av.video.plane.VideoPlane, data: bytes, row_width: int) -> None:
    """Copy tightly packed rows into a plane whose rows may be padded (line_size > width)."""
    if plane.line_size == row_width:
        plane.update(data)
        return
    padding = bytes(plane.line_size - row_width)
    rows = [data[start : start + row_width] + padding for start in range(0, len(data), row_width)]
    plane.update(b"".join(rows))


def read_barcode_from_luma(luma: bytes, line_size: int) -> int:
    """The 48-bit value of a strip, from a Y plane's bytes with `line_size` bytes per row."""
    value = 0
    rows = range(BARCODE_ROWS // 2 - 4, BARCODE_ROWS // 2 + 5, 4)
    for bit in range(BARCODE_BITS):
        centre = BARCODE_X + bit * BARCODE_BLOCK_WIDTH + BARCODE_BLOCK_WIDTH // 2
        samples = [luma[row * line_size + x] for row in rows for x in (centre - 2, centre, centre + 2)]
        value = value << 1 | (sum(samples) / len(samples) > BARCODE_THRESHOLD)
    return value


def read_barcode(frame: av.VideoFrame) -> int:
    """The milliseconds a (decoded) test-pattern frame carries: compare with `now_ms()` for the latency."""
    if frame.format.name not in ("yuv420p", "yuvj420p", "nv12", "yuv422p", "yuv444p"):
        frame = frame.reformat(format="yuv420p")
    luma = frame.planes[0]
    return read_barcode_from_luma(bytes(luma), luma.line_size)
