"""What the patchsets domain tells domains above it (connected in `mailyard/wiring.py`).

- `PATCHSET_APPLIED(session, patchset, actor)`: a patchset's status became `applied`
  (the tickets its patches close are resolved).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy.orm import Session

from core.registry import Hook
from patchsets.models import Patchset

PATCHSET_APPLIED: Hook[Callable[[Session, Patchset, Any], None]] = Hook("patchset_applied")
