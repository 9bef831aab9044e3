"""Recording pushes and running the push hooks.

git's post-receive hook hands the ref updates to `record_push` (through `mailyard repo
hook post-receive`); anything else that moves refs on a user's behalf (applying a
series) calls it too. The push row and its ref updates are one transaction; the row is
also the hooks' outbox (`HooksState.pending`), so hooks run at least once even when the
broker was away when the push landed (`repos.tasks.sweep_pushes`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from core.db import utcnow
from repos.hooks import AFTER_PUSH
from repos.models import REF_MAX, SHA_MAX, HooksState, Push, PushVia, RefUpdate, Repository

log = logging.getLogger(__name__)

ZERO_SHA = "0" * 40
MAX_HOOK_ATTEMPTS = 5


class PushInputError(ValueError):
    """A line of the post-receive input is not 'OLD NEW REF'."""


@dataclass(frozen=True)
class RefChange:
    ref: str
    old: str
    new: str

    @property
    def created(self) -> bool:
        return set(self.old) == {"0"}

    @property
    def deleted(self) -> bool:
        return set(self.new) == {"0"}


def parse_post_receive(text: str) -> list[RefChange]:
    """git's post-receive input: one 'OLD NEW REF' line per updated ref."""
    changes = []
    for line in text.splitlines():
        if not line.strip():
            continue
        fields = line.split()
        if len(fields) != 3 or not all(_is_sha(f) for f in fields[:2]):
            raise PushInputError(f"not a post-receive line: {line[:200]!r}")
        old, new, ref = fields
        if len(ref) > REF_MAX:
            raise PushInputError(f"a ref longer than {REF_MAX} characters: {ref[:80]}...")
        changes.append(RefChange(ref=ref, old=old, new=new))
    return changes


def _is_sha(text: str) -> bool:
    return 40 <= len(text) <= SHA_MAX and all(c in "0123456789abcdef" for c in text)


def record_push(
    session: Session,
    repository: Repository,
    changes: Sequence[RefChange],
    *,
    pusher_id: int | None,
    via: PushVia,
    now: datetime | None = None,
) -> Push:
    """The push and its ref updates (the caller commits, then `enqueue_hooks`)."""
    now = now or utcnow()
    push = Push(repository_id=repository.id, pusher_user_id=pusher_id, via=via, pushed_at=now)
    session.add(push)
    session.flush()
    session.add_all(
        RefUpdate(push_id=push.id, ref=c.ref, old_sha=c.old, new_sha=c.new) for c in changes
    )
    repository.pushed_at = now
    session.flush()
    return push


def ref_updates(session: Session, push_id: int) -> list[RefUpdate]:
    return list(
        session.scalars(
            select(RefUpdate).where(RefUpdate.push_id == push_id).order_by(RefUpdate.id)
        )
    )


def run_hooks(session: Session, push_id: int) -> bool:
    """Run the AFTER_PUSH hooks of a pending push, and mark it done, in one transaction
    (the caller commits). False when it was not pending (another worker ran them)."""
    claimed = session.execute(
        update(Push)
        .where(Push.id == push_id, Push.hooks_state == HooksState.pending)
        .values(hooks_attempts=Push.hooks_attempts + 1)
    )
    if not claimed.rowcount:  # type: ignore[attr-defined]
        return False
    push = session.get(Push, push_id)
    assert push is not None
    updates = ref_updates(session, push_id)
    for hook in AFTER_PUSH:
        hook(session, push, updates)
    push.hooks_state = HooksState.done
    push.hooks_error = ""
    session.flush()
    return True


def note_hook_failure(session: Session, push_id: int, error: str) -> None:
    """A hook raised: count the attempt; after MAX_HOOK_ATTEMPTS give up (`failed`)."""
    push = session.get(Push, push_id)
    if push is None:
        return
    push.hooks_attempts += 1
    push.hooks_error = error[:2000]
    if push.hooks_attempts >= MAX_HOOK_ATTEMPTS:
        push.hooks_state = HooksState.failed
    session.flush()


def pending_pushes(session: Session, older_than: datetime, limit: int = 500) -> list[int]:
    return list(
        session.scalars(
            select(Push.id)
            .where(Push.hooks_state == HooksState.pending, Push.pushed_at <= older_than)
            .order_by(Push.id)
            .limit(limit)
        )
    )


def pushes_of(
    session: Session, repository: Repository, *, before: int | None = None, limit: int = 50
) -> list[Push]:
    """The repository's pushes, newest first, keyset-paged by id."""
    query = select(Push).where(Push.repository_id == repository.id)
    if before is not None:
        query = query.where(Push.id < before)
    return list(session.scalars(query.order_by(Push.id.desc()).limit(limit)))


def changes_of(updates: Iterable[RefUpdate]) -> list[RefChange]:
    return [RefChange(ref=u.ref, old=u.old_sha, new=u.new_sha) for u in updates]
