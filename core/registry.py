"""Hooks: how a lower floor hands work to the floors above it without naming them.

A module declares a `Hook` where it calls it (the archive after ingest, a list when a
name is to be taken); `mailyard/wiring.py`, the one list of domains, connects the
functions that answer it and then calls `mark_wired()`. A hook called before that raises
instead of silently doing nothing: a process that forgot to install the wiring would
otherwise archive mail without tracking its patches.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

F = TypeVar("F", bound=Callable[..., object])

_wired = False


class NotWired(RuntimeError):
    """A hook was called before `mailyard.wiring.install()`."""


class Hook(Generic[F]):
    """An extension point: the functions connected to it, in the order connected."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._functions: list[F] = []

    def connect(self, function: F) -> F:
        if function not in self._functions:
            self._functions.append(function)
        return function

    def __iter__(self) -> Iterator[F]:
        if not _wired:
            raise NotWired(f"hook {self.name!r} called before mailyard.wiring.install()")
        return iter(tuple(self._functions))

    def __repr__(self) -> str:
        return f"<Hook {self.name}: {len(self._functions)} connected>"


def mark_wired() -> None:
    """Every hook is connected: calling them is allowed from now on."""
    global _wired
    _wired = True


def is_wired() -> bool:
    return _wired
