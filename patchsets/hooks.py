"""What the patchsets domain tells domains above it (connected in `mailyard/wiring.py`).

- `PATCHSET_APPLIED(session, patchsets, actor)`: these patchsets' status became
  `applied`, all by one act (the tickets their patches close are resolved).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy.orm import Session

from core.registry import Hook
from patchsets.models import Patchset

PatchsetsApplied = Callable[[Session, Sequence[Patchset], Any], None]
PATCHSET_APPLIED: Hook[PatchsetsApplied] = Hook("patchset_applied")
