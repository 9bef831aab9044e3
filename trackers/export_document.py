"""Reading a tracker export (`trackers.export`): every field checked, and named in the
one-line refusal when it is wrong, before anything is written."""

from __future__ import annotations

import base64
import binascii
import copy
import enum
import re
from collections.abc import Sized
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from archive.models import MSGID_MAX
from core.errors import UserError
from trackers.commands import Resolution, Status
from trackers.models import EventKind

EXPORT_VERSION = 1
_COLOR = re.compile(r"^#[0-9a-fA-F]{6}$")


class ImportRefused(UserError):
    """An export cannot be imported; the message says why in one line, for a person."""


@dataclass
class EventItem:
    kind: EventKind
    actor: str
    actor_name: str
    created_at: datetime
    when: str  # as written, for the signature
    text: str
    data: dict
    message_id: str
    authenticated: str
    signature: str | None


@dataclass
class TicketItem:
    number: int
    title: str
    description: str
    status: Status
    resolution: Resolution
    submitter: str
    submitter_name: str
    created_at: datetime
    when: str
    labels: list[str]
    assignees: list[str]
    events: list[EventItem]
    signature: str | None


@dataclass
class Document:
    instance: str
    public_key: Ed25519PublicKey
    tracker_name: str
    description: str
    labels: list[tuple[str, str]]
    tickets: list[TicketItem]


def _get(obj: Any, key: str, kind: type, where: str, *, limit: int = 0) -> Any:
    if not isinstance(obj, dict) or key not in obj:
        raise ImportRefused(f"not a Mailyard tracker export: {where} has no {key!r}")
    value = obj[key]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ImportRefused(
            f"not a Mailyard tracker export: {where}: {key!r} is not {kind.__name__}"
        )
    if limit and len(cast(Sized, value)) > limit:  # limits are given for str fields only
        raise ImportRefused(f"{where}: {key!r} is longer than {limit} characters")
    return value


def _get_date(obj: dict, key: str, where: str) -> tuple[datetime, str]:
    text = _get(obj, key, str, where)
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise ImportRefused(f"{where}: {key!r} is not an ISO 8601 date: {text!r}") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone(UTC), text


def _get_enum(obj: dict, key: str, enum_type: type[enum.Enum], where: str) -> Any:
    name = _get(obj, key, str, where)
    try:
        return enum_type[name]
    except KeyError:
        raise ImportRefused(f"{where}: unknown {key} {name!r}") from None


def _get_strings(obj: dict, key: str, where: str, limit: int) -> list[str]:
    values = _get(obj, key, list, where)
    if not all(isinstance(v, str) and 0 < len(v) <= limit for v in values):
        raise ImportRefused(f"{where}: {key!r} must be a list of names")
    return values


def _optional_signature(obj: dict, where: str) -> str | None:
    return None if obj.get("signature") is None else _get(obj, "signature", str, where)


def parse_document(doc: Any) -> Document:
    """The document checked field by field; ImportRefused names the first bad one."""
    if not isinstance(doc, dict) or "version" not in doc or "tickets" not in doc:
        raise ImportRefused("not a Mailyard tracker export: no version or tickets")
    version = _get(doc, "version", int, "the export")
    if version != EXPORT_VERSION:
        raise ImportRefused(
            f"export version {version} is not one this Mailyard reads ({EXPORT_VERSION})"
        )
    instance = _get(doc, "instance", str, "the export")
    try:
        raw_key = base64.b64decode(_get(doc, "public_key", str, "the export"), validate=True)
        public_key = Ed25519PublicKey.from_public_bytes(raw_key)
    except (binascii.Error, ValueError):
        raise ImportRefused("the export's public_key is not a base64 Ed25519 key") from None
    meta = _get(doc, "tracker", dict, "the export")
    labels = []
    for i, label in enumerate(_get(doc, "labels", list, "the export"), 1):
        where = f"label {i}"
        name = _get(label, "name", str, where, limit=50)
        color = _get(label, "color", str, where)
        if not name or not _COLOR.match(color):
            raise ImportRefused(f"{where}: needs a name and a colour as #rrggbb")
        labels.append((name, color))
    tickets = []
    numbers: set[int] = set()
    for ticket in _get(doc, "tickets", list, "the export"):
        number = _get(ticket, "number", int, "a ticket")
        where = f"ticket #{number}"
        if number < 1 or number in numbers:
            raise ImportRefused(f"{where}: ticket numbers must be positive and unique")
        numbers.add(number)
        created_at, when = _get_date(ticket, "created_at", where)
        events = [
            _parse_event(event, f"{where}, event {i}")
            for i, event in enumerate(_get(ticket, "events", list, where), 1)
        ]
        tickets.append(
            TicketItem(
                number=number,
                title=_get(ticket, "title", str, where),
                description=_get(ticket, "description", str, where),
                status=_get_enum(ticket, "status", Status, where),
                resolution=_get_enum(ticket, "resolution", Resolution, where),
                submitter=_get(ticket, "submitter", str, where, limit=254),
                submitter_name=_get(ticket, "submitter_name", str, where),
                created_at=created_at,
                when=when,
                labels=_get_strings(ticket, "labels", where, 50),
                assignees=_get_strings(ticket, "assignees", where, 254),
                events=events,
                signature=_optional_signature(ticket, where),
            )
        )
    return Document(
        instance=instance,
        public_key=public_key,
        tracker_name=_get(meta, "name", str, "the export's tracker"),
        description=_get(meta, "description", str, "the export's tracker"),
        labels=labels,
        tickets=tickets,
    )


def _parse_event(event: Any, where: str) -> EventItem:
    created_at, when = _get_date(event, "created_at", where)
    return EventItem(
        kind=_get_enum(event, "kind", EventKind, where),
        actor=_get(event, "actor", str, where, limit=254),
        actor_name=_get(event, "actor_name", str, where),
        created_at=created_at,
        when=when,
        text=_get(event, "text", str, where),
        data=copy.deepcopy(_get(event, "data", dict, where)),
        message_id=_get(event, "message_id", str, where, limit=MSGID_MAX),
        authenticated=_get(event, "authenticated", str, where, limit=8),
        signature=_optional_signature(event, where),
    )
