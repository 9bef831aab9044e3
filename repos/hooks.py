"""What the repositories domain hands to the domains above it, connected in
`mailyard/wiring.py` (the named hook table, as `archive/hooks.py` is for mail).

- `AFTER_PUSH(session, push, updates)`: a push was recorded (`repos.pushes`); run by a
  Celery task after the push's commit, in the order connected, each in the same
  transaction that marks the push's hooks done. The next issues connect "mark patches
  applied", "close tickets from commits" and "start builds" here. A hook must not run one
  query per commit: a push may bring thousands (walk them with pygit2, then look up in
  bulk).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from sqlalchemy.orm import Session

from core.registry import Hook
from repos.models import Push, RefUpdate

AFTER_PUSH: Hook[Callable[[Session, Push, Sequence[RefUpdate]], None]] = Hook("after_push")
