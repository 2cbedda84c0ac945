"""The one error type users see: a sentence naming the file, op or limit, plus a hint."""

from __future__ import annotations


class TinypipeError(Exception):
    """A user-facing failure. The CLI prints it as one line (plus hint) and exits with code 2."""

    def __init__(self, what: str, hint: str = "") -> None:
        super().__init__(what)
        self.what = what
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.what}\n  hint: {self.hint}" if self.hint else self.what
