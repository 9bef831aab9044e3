"""What the archive hands to the domains, declared here and connected in
`mailyard/wiring.py`, so that the archive never names a domain (DESIGN: floors).

- `AFTER_INGEST(session, [(message, list_id), ...])`: newly archived list messages
  (DESIGN, the path of one message, step 3), in the order connected;
- `RESET(session)`: forget what was derived, before `reindex` rebuilds it;
- `MESSAGE_REMOVED(session, message_pk, list_id)`: an operator removed the message from
  the list (`archive.removal`); called before its link (and maybe its row) goes;
- `PATCH_ID_MESSAGES(patch_ids) -> select of message pks`: what the `patchid:` search
  prefix finds, for `b4`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy.orm import Session

from archive.models import Message
from core.registry import Hook

AFTER_INGEST: Hook[Callable[[Session, Sequence[tuple[Message, int]]], None]] = Hook("after_ingest")
RESET: Hook[Callable[[Session], None]] = Hook("reset")
MESSAGE_REMOVED: Hook[Callable[[Session, int, int], None]] = Hook("message_removed")
PATCH_ID_MESSAGES: Hook[Callable[[Sequence[str]], Any]] = Hook("patch_id_messages")
