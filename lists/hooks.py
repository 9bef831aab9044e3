"""What the lists domain asks of domains above it (connected in `mailyard/wiring.py`)."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.orm import Session

from core.registry import Hook

# (session, name) -> whether another domain has NAME@DOMAIN (a tracker), so that a list
# cannot take it.
NAME_TAKEN: Hook[Callable[[Session, str], bool]] = Hook("name_taken")
