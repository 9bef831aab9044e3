"""List membership: who receives a list's mail and how, and the one-click unsubscribe
links in it.

Shared by the command addresses (`lists.commands`), the CLI, the web's one-click
unsubscribe and bounce handling. Requests wait for confirmation as `mail.confirmation`
keeps them, in the list's scope (`list_scope`). Nothing here sends mail; callers do,
through the outbox.
"""

from __future__ import annotations

from dataclasses import dataclass

from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from archive.models import MailingList
from archive.store import insert_ignoring_conflicts
from core.db import utcnow
from core.errors import UserError
from core.settings import Settings, secret_key
from lists.models import DeliveryMode, ListDelivery, Subscription, SubscriptionStatus
from mail.addresses import address_key
from mail.addresses import normalize_address as _normalized

MEMBERS_PAGE = 50


class SubscriptionError(UserError):
    """A membership change cannot be done; the message says why, for a person."""


def normalize_address(address: str) -> str:
    """The address as email-validator normalizes it; SubscriptionError if it is none."""
    return _normalized(address, SubscriptionError)


def list_delivery(session: Session, list_id: int) -> ListDelivery:
    """The list's delivery options, created with the defaults on first use (by whichever
    worker gets there first: the others find its row)."""
    options = session.get(ListDelivery, list_id)
    if options is None:
        defaults = {c.name: c.default.arg for c in ListDelivery.__table__.columns if c.default}
        session.execute(
            insert_ignoring_conflicts(session, ListDelivery.__table__),
            [{**defaults, "list_id": list_id}],
        )
        options = session.get(ListDelivery, list_id, populate_existing=True)
        assert options is not None
    return options


def find_subscription(session: Session, list_id: int, address: str) -> Subscription | None:
    return session.scalar(
        select(Subscription).where(
            Subscription.list_id == list_id, Subscription.address_key == address_key(address)
        )
    )


def subscribe(
    session: Session,
    list_id: int,
    address: str,
    *,
    delivery: DeliveryMode | None = None,
    copy_self: bool | None = None,
) -> Subscription:
    """Subscribe `address`, or update (and re-enable) its subscription. The caller commits."""
    address = normalize_address(address)
    sub = find_subscription(session, list_id, address)
    if sub is None:
        sub = Subscription(
            list_id=list_id,
            address=address,
            address_key=address_key(address),
            status=SubscriptionStatus.active,
            delivery=delivery or DeliveryMode.each,
            copy_self=True if copy_self is None else copy_self,
            subscribed_at=utcnow(),
            bounce_score=0.0,
        )
        session.add(sub)
    else:
        enable(sub)
        if delivery is not None:
            sub.delivery = delivery
        if copy_self is not None:
            sub.copy_self = copy_self
    session.flush()
    return sub


def enable(sub: Subscription) -> None:
    sub.status = SubscriptionStatus.active
    sub.disabled_at = None
    sub.bounce_score = 0.0
    sub.last_bounce_at = None


def unsubscribe(session: Session, list_id: int, address: str) -> bool:
    """Remove the subscription; False when there was none. The caller commits."""
    sub = find_subscription(session, list_id, address)
    if sub is None:
        return False
    session.delete(sub)
    session.flush()
    return True


@dataclass(frozen=True)
class MembersPage:
    members: list[Subscription]
    total: int
    next_after: int | None  # the id to pass as `after_id` for the next page


def members_page(
    session: Session, list_id: int, *, after_id: int = 0, limit: int = MEMBERS_PAGE
) -> MembersPage:
    """Subscriptions in subscription order, keyset-paginated on the id."""
    rows = list(
        session.scalars(
            select(Subscription)
            .where(Subscription.list_id == list_id, Subscription.id > after_id)
            .order_by(Subscription.id)
            .limit(limit + 1)
        )
    )
    total = session.scalar(
        select(func.count()).select_from(Subscription).where(Subscription.list_id == list_id)
    )
    more = len(rows) > limit
    rows = rows[:limit]
    return MembersPage(rows, total or 0, rows[-1].id if more else None)


def list_scope(list_id: int) -> str:
    """The `scope` of a list's pending requests."""
    return f"list:{list_id}"


# -- one-click unsubscribe (RFC 8058) ----------------------------------------------------


def _serializer(settings: Settings) -> URLSafeSerializer:
    return URLSafeSerializer(secret_key(settings), salt="mailyard.unsubscribe")


def unsubscribe_token(settings: Settings, list_name: str, address: str) -> str:
    """A token that lets whoever holds it unsubscribe `address`, without a login. It does
    not expire: it sits in mail people keep."""
    return _serializer(settings).dumps([list_name, address_key(address)])


def read_unsubscribe_token(settings: Settings, token: str) -> tuple[str, str] | None:
    """(list name, address) from a token made by `unsubscribe_token`, else None."""
    try:
        value = _serializer(settings).loads(token)
    except BadSignature:
        return None
    if not (isinstance(value, list) and len(value) == 2 and all(isinstance(v, str) for v in value)):
        return None
    return value[0], value[1]


def one_click_url(settings: Settings, mlist: MailingList | str, address: str) -> str:
    name = mlist if isinstance(mlist, str) else mlist.name
    token = unsubscribe_token(settings, name, address)
    return f"{settings.base_url.rstrip('/')}/{name}/unsubscribe/{token}"
