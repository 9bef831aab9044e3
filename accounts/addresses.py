"""The addresses the site itself answers at, declared once (`mail.address_kinds`).

    postmaster@DOMAIN   RFC 5321 4.5.1: every mail domain must take it
    abuse@DOMAIN        RFC 2142: where complaints about its mail go

Both are forwarded, unchanged, to the operator: `MAILYARD_OPERATOR_ADDRESS`, or when it
is empty the site admins' primary addresses. With neither, nobody would read them, so
they are refused, with a reason that says what to set, rather than taken and lost.
They are tried before every other kind (`mailyard/wiring.py`), and list names cannot
take them (`lists.manage.RESERVED_NAMES`). The forward goes out with the null sender, so
that a failure to deliver it can never come back to postmaster@ and go round again.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from accounts.models import User
from accounts.users import primary_address_of
from archive.parse import ParsedMessage
from core.settings import Settings
from mail.address_kinds import AddressKind
from mail.outbox import send_on_commit
from mail.policy import ACCEPT, Decision, Reason, reject

OPERATOR_NAMES = ("postmaster", "abuse")


@dataclass(frozen=True)
class OperatorTarget:
    name: str  # postmaster or abuse
    recipients: tuple[str, ...]


def operator_addresses(session: Session, settings: Settings) -> list[str]:
    """Who reads postmaster@ and abuse@: the setting, else the admins (never these
    addresses themselves, which would forward in a loop)."""
    if settings.operator_address.strip():
        found = [a.strip() for a in settings.operator_address.split(",") if a.strip()]
    else:
        admins = session.scalars(select(User).where(User.is_admin.is_(True)).order_by(User.id))
        found = [a for a in (primary_address_of(session, u) for u in admins) if a]
    own = {f"{name}@{settings.domain}".lower() for name in OPERATOR_NAMES}
    return list(dict.fromkeys(a for a in found if a.lower() not in own))


def find_operator_target(
    session: Session, settings: Settings, match: re.Match[str]
) -> OperatorTarget | Decision:
    recipients = operator_addresses(session, settings)
    if not recipients:
        return reject(
            Reason.UNKNOWN_RECIPIENT,
            f"<{match.group('name')}@{settings.domain}>: nobody reads this address yet"
            " (the operator sets MAILYARD_OPERATOR_ADDRESS or makes an admin)",
        )
    return OperatorTarget(match.group("name"), tuple(recipients))


def judge_operator_mail(msg: ParsedMessage, target: OperatorTarget) -> Decision:
    """Everything is taken: bounces and complaints are what these addresses are for."""
    return ACCEPT


def forward_to_operator(
    session: Session, settings: Settings, msg: ParsedMessage, raw: bytes, target: OperatorTarget
) -> None:
    send_on_commit(
        session,
        envelope_from="",
        recipients=list(target.recipients),
        raw=raw,
        purpose=f"operator-{target.name}",
    )


OPERATOR = AddressKind(
    "operator",
    re.compile(r"(?P<name>postmaster|abuse)"),
    find_target=find_operator_target,
    judge=judge_operator_mail,
    handle=forward_to_operator,
)

ADDRESS_KINDS = (OPERATOR,)
