"""List membership: who receives a list's mail, and the requests waiting for confirmation.

Shared by the command addresses (`mta.subscribe`), the CLI, the web's one-click
unsubscribe and bounce handling. Nothing here sends mail; callers do, through the outbox.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from archive.models import MailingList, utcnow
from archive.store import insert_ignoring_conflicts
from mailyard.settings import Settings, secret_key
from mta.models import (
    DeliveryMode,
    ListDelivery,
    PendingRequest,
    RequestKind,
    Subscription,
    SubscriptionStatus,
)

# A confirmation token is good for this long (Mailman's pending_request_life is 3 days).
REQUEST_LIFETIME = timedelta(days=3)
MEMBERS_PAGE = 50


class SubscriptionError(ValueError):
    """A membership change cannot be done; the message says why, for a person."""


def normalize_address(address: str) -> str:
    """The address as email-validator normalizes it (domain lower-cased, IDNA)."""
    from email_validator import EmailNotValidError, validate_email

    try:
        return validate_email(address.strip(), check_deliverability=False).normalized
    except EmailNotValidError as e:
        raise SubscriptionError(f"invalid address {address!r}: {e}") from None


def address_key(address: str) -> str:
    return address.strip().lower()


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


# -- confirmation by reply ---------------------------------------------------------------


def list_scope(list_id: int) -> str:
    """The `scope` of a list's pending requests."""
    return f"list:{list_id}"


def request_change(
    session: Session, scope: str, kind: RequestKind, address: str, now: datetime | None = None
) -> PendingRequest:
    """The pending request for (scope, kind, address): the same token while it is valid,
    a new one once it expired. The caller commits."""
    now = now or utcnow()
    address = normalize_address(address)
    pending = session.scalar(
        select(PendingRequest).where(
            PendingRequest.scope == scope,
            PendingRequest.kind == kind,
            PendingRequest.address_key == address_key(address),
        )
    )
    if pending is not None and pending.expires_at > now:
        return pending
    if pending is None:
        pending = PendingRequest(
            scope=scope, kind=kind, address=address, address_key=address_key(address)
        )
        session.add(pending)
    pending.token = secrets.token_hex(16)
    pending.created_at = now
    pending.expires_at = now + REQUEST_LIFETIME
    session.flush()
    return pending


def take_request(
    session: Session, scope: str, kind: RequestKind, token: str, now: datetime | None = None
) -> PendingRequest | None:
    """The valid request with this token, removed from the pending ones; None when the
    token is unknown, for another scope or kind, or expired."""
    now = now or utcnow()
    pending = session.scalar(select(PendingRequest).where(PendingRequest.token == token.lower()))
    if pending is None or pending.scope != scope or pending.kind is not kind:
        return None
    session.delete(pending)
    session.flush()
    return pending if pending.expires_at > now else None


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
