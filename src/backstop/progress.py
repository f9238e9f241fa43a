"""A one-line progress bar on stderr, fed by the engine's Progress callback (done, total or None).

Self-written so that the engine needs no terminal library: it redraws at most ten times a
second, shows percent, counts, rate and time left, and stays silent unless the stream is a
terminal (or the caller forces it, e.g. `--progress` into a log file).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TextIO

BAR_WIDTH = 24
MIN_INTERVAL = 0.1  # seconds between redraws: ~10 per second


def _count(number: float) -> str:
    """12345 -> '12.3k': counts stay short whatever they count."""
    for unit, size in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(number) >= size:
            return f"{number / size:.1f}{unit}"
    return f"{number:.0f}" if number == int(number) else f"{number:.1f}"


def _bytes(number: float) -> str:
    """12345678 -> '11.8 MiB'."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(number) < 1024 or unit == "TiB":
            return f"{number:.0f} {unit}" if unit == "B" else f"{number:.1f} {unit}"
        number /= 1024
    raise AssertionError("unreachable")


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{hours}:{minutes:02}:{seconds:02}" if hours else f"{minutes}:{seconds:02}"


class ProgressBar:
    """Callable as `progress(done, total)`; `close()` (or leaving the `with` block) ends the line.

    `unit` names what is counted ("packs"); "B" shows the counts as sizes. `enabled=None`
    draws only when `stream` is a terminal.
    """

    def __init__(
        self,
        label: str,
        *,
        unit: str = "",
        stream: TextIO | None = None,
        enabled: bool | None = None,
        clock: Callable[[], float] = time.monotonic,
        min_interval: float = MIN_INTERVAL,
    ) -> None:
        self.label = label
        self.unit = unit
        self.stream = sys.stderr if stream is None else stream
        if enabled is None:
            isatty = getattr(self.stream, "isatty", None)
            enabled = bool(isatty and isatty())
        self.enabled = enabled
        self.clock = clock
        self.min_interval = min_interval
        self.started: float | None = None
        self.last_draw: float | None = None
        self.done = 0
        self.total: int | None = None
        self.width = 0  # of the last line drawn, to blank leftovers of a longer one
        self.drawn: tuple[int, int | None] | None = None  # the state on screen

    def __call__(self, done: int, total: int | None) -> None:
        now = self.clock()
        if self.started is None:
            self.started = now
        self.done, self.total = done, total
        if not self.enabled:
            return
        finished = total is not None and done >= total
        if self.last_draw is not None and now - self.last_draw < self.min_interval and not finished:
            return
        self._draw(now)

    def _amount(self, number: float) -> str:
        return _bytes(number) if self.unit == "B" else _count(number)

    def line(self, now: float) -> str:
        elapsed = now - (self.started if self.started is not None else now)
        rate = self.done / elapsed if elapsed > 0 else 0.0
        unit = f" {self.unit}" if self.unit and self.unit != "B" else ""
        parts = [self.label]
        if self.total:
            fraction = min(max(self.done / self.total, 0.0), 1.0)
            filled = int(fraction * BAR_WIDTH)
            parts.append(f"{fraction * 100:5.1f}% [{'#' * filled}{'.' * (BAR_WIDTH - filled)}]")
            parts.append(f"{self._amount(self.done)}/{self._amount(self.total)}{unit}")
        else:
            parts.append(f"{self._amount(self.done)}{unit}")
        if elapsed > 0:
            parts.append(f"{self._amount(rate)}{unit}/s")
            if self.total and rate > 0 and self.done < self.total:
                parts.append(f"{_duration((self.total - self.done) / rate)} left")
        return "  ".join(parts)

    def _draw(self, now: float) -> None:
        text = self.line(now)
        pad = " " * max(self.width - len(text), 0)
        self.stream.write(f"\r{text}{pad}")
        self.stream.flush()
        self.width = len(text)
        self.last_draw = now
        self.drawn = (self.done, self.total)

    def close(self) -> None:
        """Draws the final state and ends the line, so that what follows starts on its own."""
        if self.enabled and self.started is not None:
            if self.drawn != (self.done, self.total):
                self._draw(self.clock())
            self.stream.write("\n")
            self.stream.flush()
        self.started = None
        self.last_draw = None
        self.width = 0
        self.drawn = None

    def __enter__(self) -> ProgressBar:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
