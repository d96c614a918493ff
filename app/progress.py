"""A progress bar for long-running commands, standard library only."""

import sys
from typing import TextIO


class ProgressBar:
    """``label [#####.....]  500/1,000`` redrawn in place on a terminal, one line per
    update elsewhere (e.g. CI logs)."""

    WIDTH = 30

    def __init__(self, label: str, total: int, stream: TextIO | None = None) -> None:
        self.label = label
        self.total = total
        self.done = 0
        self.stream = stream or sys.stderr
        self.in_place = self.stream.isatty()

    def advance(self, count: int) -> None:
        self.done += count
        filled = self.WIDTH if self.total == 0 else self.WIDTH * self.done // self.total
        bar = "#" * filled + "." * (self.WIDTH - filled)
        line = f"{self.label} [{bar}] {self.done:,}/{self.total:,}"
        self.stream.write(f"\r{line}" if self.in_place else f"{line}\n")
        self.stream.flush()

    def close(self) -> None:
        if self.in_place:
            self.stream.write("\n")
            self.stream.flush()
