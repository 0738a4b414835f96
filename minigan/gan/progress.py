"""A dependency-free progress bar on stderr: step, rate, time left, and the latest losses."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class Progress:
    def __init__(self, total: int, start: int = 0, stream: TextIO | None = None,
                 enabled: bool = True) -> None:
        self.total, self.start, self.step = total, start, start
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.t0 = time.perf_counter()
        self._last = 0.0
        self._last_fraction = -1.0
        self.info = ""

    def update(self, step: int, info: str = "") -> None:
        self.step = step
        if info:
            self.info = info
        now = time.perf_counter()
        # On a terminal redraw a few times a second; in a log file print every 10%.
        fraction = step / max(self.total, 1)
        if self.tty and now - self._last < 0.2 and step < self.total:
            return
        if not self.tty and int(fraction * 10) == int(self._last_fraction * 10):
            return
        self._last, self._last_fraction = now, fraction
        self._draw(now)

    def _draw(self, now: float) -> None:
        if not self.enabled:
            return
        done = self.step - self.start
        rate = done / max(now - self.t0, 1e-9)
        left = (self.total - self.step) / rate if rate > 0 else float("inf")
        width = 24
        filled = int(width * self.step / max(self.total, 1))
        bar = "#" * filled + "-" * (width - filled)
        eta = f"{left:5.0f}s" if left != float("inf") else "   ?s"
        line = (f"[{bar}] {self.step}/{self.total} {rate:6.1f} it/s eta {eta} {self.info}")
        end = "\r" if self.tty else "\n"
        self.stream.write(line[:160].ljust(100 if self.tty else 0) + end)
        self.stream.flush()

    def close(self) -> None:
        if self.enabled:
            if self.tty or self._last_fraction < self.step / max(self.total, 1):
                self._draw(time.perf_counter())
            if self.tty:
                self.stream.write("\n")
            self.stream.flush()
