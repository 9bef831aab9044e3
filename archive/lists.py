"""Mailing lists as the archive knows them: found by name, listed with their activity.

Making a list and changing who may use it are the lists domain's (`lists.manage`).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from archive.models import MailingList, Thread


def get_list(session: Session, name: str) -> MailingList | None:
    return session.scalar(select(MailingList).where(MailingList.name == name.lower()))


def lists_by_id(session: Session, ids: list[int]) -> dict[int, MailingList]:
    if not ids:
        return {}
    found = session.scalars(select(MailingList).where(MailingList.id.in_(ids)))
    return {mlist.id: mlist for mlist in found}


def all_lists(session: Session) -> list[MailingList]:
    return list(session.scalars(select(MailingList).order_by(MailingList.name)))


def list_summaries(session: Session) -> list[tuple[MailingList, int, datetime | None]]:
    """Every list with its thread count and last activity, for the front page and `list ls`."""
    rows = session.execute(
        select(MailingList, func.count(Thread.id), func.max(Thread.last_activity))
        .outerjoin(Thread, Thread.list_id == MailingList.id)
        .group_by(MailingList.id)
        .order_by(MailingList.name)
    )
    return [(m, n, last) for m, n, last in rows]
