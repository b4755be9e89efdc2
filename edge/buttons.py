"""Panic buttons for `porchlight-edge run`: Enter on the agent's terminal, or a GPIO pin read through sysfs.

Each calls `on_press(source)` once per press; the agent reports it as a `button_press` event. A press within
`debounce_s` of the last one counts once (a bouncing contact, a key held down).
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

log = logging.getLogger("edge")

DEBOUNCE_S = 1.0
GPIO_POLL_S = 0.05


async def watch_keyboard(
    on_press: Callable[[str], None], *, stream: TextIO | None = None, debounce_s: float = DEBOUNCE_S
) -> None:
    """Enter on the terminal (`stream`, default standard input) is a press; returns when the input ends."""
    descriptor = (stream or sys.stdin).fileno()
    loop = asyncio.get_running_loop()
    lines: asyncio.Queue[bool] = asyncio.Queue()

    def readable() -> None:
        try:
            data = os.read(descriptor, 1024)
        except OSError:
            data = b""
        if not data:
            loop.remove_reader(descriptor)
            lines.put_nowait(False)
        elif b"\n" in data or b"\r" in data:
            lines.put_nowait(True)

    loop.add_reader(descriptor, readable)
    last_press = -float("inf")
    try:
        while await lines.get():
            if time.monotonic() - last_press >= debounce_s:
                last_press = time.monotonic()
                on_press("Enter key")
    finally:
        loop.remove_reader(descriptor)


async def watch_gpio(
    path: Path,
    on_press: Callable[[str], None],
    *,
    poll_s: float = GPIO_POLL_S,
    debounce_s: float = DEBOUNCE_S,
) -> None:
    """Poll a sysfs GPIO value file (e.g. /sys/class/gpio/gpio17/value, "0" or "1"); a 0 -> 1 edge is a press.
    A file that cannot be read is said once and polled on."""
    previous: str | None = None
    last_press = -float("inf")
    unreadable = False
    while True:
        try:
            value: str | None = path.read_text().strip()[:1]
        except OSError as error:
            value = None
            if not unreadable:
                log.warning("Panic button: cannot read %s (%s); still trying", path, error.strerror or error)
            unreadable = True
        else:
            if unreadable:
                log.info("Panic button: %s can be read again", path)
            unreadable = False
        if value == "1" and previous == "0" and time.monotonic() - last_press >= debounce_s:
            last_press = time.monotonic()
            on_press(f"GPIO {path}")
        if value in ("0", "1"):
            previous = value
        await asyncio.sleep(poll_s)
