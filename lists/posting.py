"""Posting to a list: mail to NAME@DOMAIN, archived on list NAME.

Routing finds the list at RCPT time (`find_list_target`); at DATA, `judge_post` applies
the list's posting policy to the parsed message. Who may post, and whose posts wait for
a moderator, is asked next (`lists.post_rights`): it needs the database, this does not.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy.orm import Session

from archive.lists import get_list
from archive.parse import ParsedMessage
from core.settings import Settings
from mail.addresses import list_addresses
from mail.policy import (
    ACCEPT,
    Decision,
    check_auto_submitted,
    check_list_addressed,
    check_loop,
    check_plain_text,
    check_required_headers,
    first_objection,
)


@dataclass(frozen=True)
class ListTarget:
    """What intake needs to know about a list between RCPT and DATA (no ORM object, so
    it outlives the session that found it)."""

    list_id: int
    name: str
    domain: str
    reject_html: bool = True
    require_list_address: bool = True

    @property
    def posting_address(self) -> str:
        return list_addresses(self.name, self.domain).posting

    @property
    def list_id_value(self) -> str:
        """The List-Id this list's mail carries (RFC 2919), without the angle brackets."""
        return list_addresses(self.name, self.domain).list_id


def find_list_target(
    session: Session, settings: Settings, match: re.Match[str]
) -> ListTarget | None:
    """The list named by the local part, or None when there is none (routing refuses)."""
    mlist = get_list(session, match.group("name"))
    if mlist is None:
        return None
    return ListTarget(
        list_id=mlist.id,
        name=mlist.name,
        domain=settings.domain.lower(),
        reject_html=mlist.reject_html,
        require_list_address=mlist.require_list_address,
    )


def judge_post(msg: ParsedMessage, target: ListTarget) -> Decision:
    """The list's posting policy, drops (robots, loops) before refusals (people)."""
    return first_objection(
        (
            check_auto_submitted(msg),
            check_loop(msg, target.list_id_value),
            check_required_headers(msg),
            check_list_addressed(msg, target.posting_address)
            if target.require_list_address
            else ACCEPT,
            check_plain_text(msg) if target.reject_html else ACCEPT,
        )
    )
