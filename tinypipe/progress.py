"""Progress of long work (training epochs, validation samples, pipeline stages) for whoever shows it.

Stages call `stage("build (pio run)")` and `step("validate on the device", 37, 100)`; nothing is
shown unless a caller installed a reporter with `reporting(...)` (the CLI does: a live status
line in a terminal, plain timestamped lines in a log). Used from the Python API, the stages stay
silent.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Protocol


class Reporter(Protocol):
    def stage(self, text: str) -> None: ...

    def step(self, what: str, done: int, total: int, detail: str = "") -> None: ...


_reporters: list[Reporter] = []


def active() -> bool:
    """A reporter is installed (a stage may then leave its own progress bar out)."""
    return bool(_reporters)


def stage(text: str) -> None:
    """A new stage of the work begins."""
    if _reporters:
        _reporters[-1].stage(text)


def step(what: str, done: int, total: int, detail: str = "") -> None:
    """`done` of `total` steps of `what` are finished (detail: e.g. the loss)."""
    if _reporters:
        _reporters[-1].step(what, done, total, detail)


@contextlib.contextmanager
def reporting(reporter: Reporter) -> Iterator[Reporter]:
    _reporters.append(reporter)
    try:
        yield reporter
    finally:
        _reporters.remove(reporter)


class LineReporter:
    """Plain lines for logs (CI, pipes): one per stage, and for steps the first, every tenth of
    the total and the last, each with the time since the start."""

    def __init__(self, write: Callable[[str], None], clock: Callable[[], float]) -> None:
        self.write, self.clock = write, clock
        self.start = clock()
        self._shown: dict[str, int] = {}  # steps series -> last tenth shown

    def _line(self, text: str) -> None:
        self.write(f"[{self.clock() - self.start:6.1f} s] {text}")

    def stage(self, text: str) -> None:
        self._line(text)

    def step(self, what: str, done: int, total: int, detail: str = "") -> None:
        tenth = 10 * done // max(total, 1)
        if done not in (1, total) and self._shown.get(what, -1) >= tenth:
            return
        self._shown[what] = tenth
        self._line(f"{what}: {done}/{total}" + (f" ({detail})" if detail else ""))


class StatusReporter:
    """A terminal's live status line (rich's Status): the stage, and live counts of its steps."""

    def __init__(self, update: Callable[[str], None]) -> None:
        self.update = update
        self.current = ""

    def stage(self, text: str) -> None:
        self.current = text
        self.update(text)

    def step(self, what: str, done: int, total: int, detail: str = "") -> None:
        head = f"{self.current}: " if self.current and what not in self.current else ""
        self.update(f"{head}{what} {done}/{total}" + (f", {detail}" if detail else ""))
