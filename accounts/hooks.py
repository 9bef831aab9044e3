"""What the accounts floor asks of the domains above it (connected in `mailyard/wiring.py`)."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.orm import Session

from core.registry import Hook

# (session, owner_name, name) -> what another domain calls ~OWNER/NAME ("a repository"),
# or "" when nothing: a project and a repository share the names under an owner, since
# both are pages at /~OWNER/NAME.
PATH_TAKEN: Hook[Callable[[Session, str, str], str]] = Hook("path_taken")
