"""Export a tracker to a signed JSON document, and import one into an empty tracker.

As SourceHut's todo does, the exporting instance signs what it can vouch for, so the
instance that imports can say which words really came from whom:

- Signed: a ticket's `opened` content, and each `comment`, when the sender was
  authenticated (DKIM or PGP) as the mail came (the closest thing to a registered user
  until accounts exist). Events that were themselves imported are exported unsigned: this
  instance never saw their mail.
- The signature is Ed25519 by the instance key (`instance_key`) over canonical JSON of
  {tracker, ticket, author, text, instance, kind, created_at}, every value as written in
  the document. A ticket's text is its title *as opened* (before any `!title`), a blank
  line, and its description: the words its author wrote.
- On import, each ticket and comment is checked against the document's own embedded
  `public_key`, whichever instance made it. `authentic` means: the content is what the
  instance named in `instance` signed, unchanged; `tampered`: a signature is there but
  does not match (text, author, ticket number, date... changed); `unauthenticated`: no
  signature. Whether to trust that instance at all is for a person to judge from `origin`.
- The mark goes in the imported event's `data["authenticity"]` (a ticket's on its
  `opened` event), the document's instance in `data["origin"]`. Other imported events
  (status, labels...) only get `origin`: they are changes, not anyone's words. Imported
  events keep `authenticated` ('dkim', 'pgp') only when `authentic`: nothing else vouches
  for it.

Subscribers, members and raw mail bytes are not exported.
"""

from __future__ import annotations

import base64
import binascii
import enum
import gzip
import json
import os
import zlib
from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.settings import Settings
from trackers.export_document import (
    EXPORT_VERSION,
    Document,
    ImportRefused,
    TicketItem,
    parse_document,
)
from trackers.models import EventKind, Label, Ticket, TicketEvent, Tracker
from trackers.tickets import ensure_label, set_assignees, set_labels

__all__ = [
    "EXPORT_VERSION",
    "Authenticity",
    "ImportRefused",
    "authenticity_of",
    "export_tracker",
    "import_tracker",
    "instance_id",
    "instance_key",
    "read_export",
    "write_export",
]

KEY_FILE = "instance_ed25519.pem"
# How a sender must have been authenticated for this instance to vouch for their words.
SIGNED_WHEN = ("dkim", "pgp")


class Authenticity(enum.Enum):
    authentic = "authentic"
    tampered = "tampered"
    unauthenticated = "unauthenticated"


# -- the instance's identity ---------------------------------------------------------------


def instance_key(settings: Settings) -> Ed25519PrivateKey:
    """The key this instance signs exports with, generated once into the data directory."""
    path = settings.data_dir / KEY_FILE
    if not path.exists():
        _create_key_file(path)
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except ValueError:
        raise ValueError(f"{path} is not a PEM private key") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError(f"{path} is not an Ed25519 private key")
    return key


def _create_key_file(path: Path) -> None:
    # Written whole to a private temporary file, then linked into place: a process that
    # races this one either wins the link or reads the winner's complete key.
    path.parent.mkdir(parents=True, exist_ok=True)
    pem = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(pem)
            f.flush()
            os.fsync(f.fileno())
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass
    finally:
        tmp.unlink(missing_ok=True)


def instance_id(settings: Settings) -> str:
    """Names this instance in signatures: its public base URL."""
    return settings.base_url.rstrip("/")


def _public_key_b64(key: Ed25519PrivateKey) -> str:
    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.b64encode(raw).decode("ascii")


def _signed_bytes(
    tracker: str, ticket: int, author: str, text: str, instance: str, kind: str, when: str
) -> bytes:
    """The canonical bytes of one signed item; export and import must agree on them."""
    item = dict(tracker=tracker, ticket=ticket, author=author, text=text)
    item |= dict(instance=instance, kind=kind, created_at=when)
    return json.dumps(item, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _iso(when: datetime) -> str:
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _opened_title(title: str, events: Iterable[tuple[str, Any]]) -> str:
    """The title as the ticket was opened: the first `!title` change's old value, if any."""
    for kind, data in events:
        if kind == EventKind.title.name and isinstance(data, dict):
            old = data.get("old")
            return old if isinstance(old, str) else title
    return title


# -- export ------------------------------------------------------------------------------


def export_tracker(session: Session, settings: Settings, tracker: Tracker) -> dict:
    """The tracker as a JSON-ready document, its authenticated words signed."""
    key = instance_key(settings)
    instance = instance_id(settings)
    tickets = list(
        session.scalars(
            select(Ticket).where(Ticket.tracker_id == tracker.id).order_by(Ticket.number)
        )
    )
    events: dict[int, list[TicketEvent]] = defaultdict(list)
    rows = session.scalars(
        select(TicketEvent)
        .join(Ticket, Ticket.id == TicketEvent.ticket_id)
        .where(Ticket.tracker_id == tracker.id)
        .order_by(TicketEvent.ticket_id, TicketEvent.id)
    )
    for event in rows:
        events[event.ticket_id].append(event)

    def sign(ticket: Ticket, author: str, text: str, kind: str, when: str) -> str:
        data = _signed_bytes(tracker.name, ticket.number, author, text, instance, kind, when)
        return base64.b64encode(key.sign(data)).decode("ascii")

    def vouched(event: TicketEvent) -> bool:
        return event.authenticated in SIGNED_WHEN and "origin" not in (event.data or {})

    out_tickets = []
    for ticket in tickets:
        out_events: list[dict[str, Any]] = []
        for event in events[ticket.id]:
            item: dict[str, Any] = {
                "kind": event.kind.name,
                "actor": event.actor,
                "actor_name": event.actor_name,
                "created_at": _iso(event.created_at),
                "text": event.text,
                "data": event.data or {},
                "message_id": event.message_id,
                "authenticated": event.authenticated,
            }
            if event.kind is EventKind.comment and vouched(event):
                item["signature"] = sign(
                    ticket, event.actor, event.text, "comment", item["created_at"]
                )
            out_events.append(item)
        out: dict[str, Any] = {
            "number": ticket.number,
            "title": ticket.title,
            "description": ticket.description,
            "status": ticket.status.name,
            "resolution": ticket.resolution.name,
            "submitter": ticket.submitter,
            "submitter_name": ticket.submitter_name,
            "created_at": _iso(ticket.created_at),
            "labels": list(ticket.labels or []),
            "assignees": list(ticket.assignees or []),
            "events": out_events,
        }
        opened = next((e for e in events[ticket.id] if e.kind is EventKind.opened), None)
        if opened is not None and vouched(opened):
            title = _opened_title(ticket.title, ((e["kind"], e["data"]) for e in out_events))
            text = f"{title}\n\n{ticket.description}"
            out["signature"] = sign(ticket, ticket.submitter, text, "ticket", out["created_at"])
        out_tickets.append(out)

    labels = session.scalars(
        select(Label).where(Label.tracker_id == tracker.id).order_by(Label.name)
    )
    return {
        "version": EXPORT_VERSION,
        "instance": instance,
        "public_key": _public_key_b64(key),
        "tracker": {
            "name": tracker.name,
            "description": tracker.description,
            "owner_email": tracker.owner_email,
        },
        "labels": [{"name": label.name, "color": label.color} for label in labels],
        "tickets": out_tickets,
    }


def write_export(doc: dict, fileobj: IO[bytes]) -> None:
    """Gzip-compressed UTF-8 JSON, keys sorted and no timestamp: the same tracker gives
    the same bytes, so two exports can be compared."""
    data = json.dumps(doc, sort_keys=True, ensure_ascii=False, indent=1).encode() + b"\n"
    with gzip.GzipFile(fileobj=fileobj, mode="wb", filename="", mtime=0) as gz:
        gz.write(data)


def read_export(fileobj: IO[bytes]) -> dict:
    """The document in an export file (gzip-compressed or, edited by hand, plain JSON)."""
    raw = fileobj.read()
    try:
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
        doc = json.loads(raw.decode("utf-8"))
    except (OSError, EOFError, zlib.error, UnicodeDecodeError, json.JSONDecodeError):
        raise ImportRefused("not a Mailyard tracker export: not (gzip-compressed) JSON") from None
    parse_document(doc)
    return doc


# -- import ------------------------------------------------------------------------------


def import_tracker(
    session: Session, settings: Settings, tracker: Tracker, doc: dict
) -> dict[str, int]:
    """Import `doc` into `tracker`, which must have no tickets; the caller commits.

    Ticket numbers, labels and each ticket's events in order are kept. Returns how many
    tickets and comments are authentic, tampered and unauthenticated.
    """
    parsed = parse_document(doc)
    session.flush()
    # Held until the caller commits: a ticket opened by mail meanwhile waits, then takes
    # the number after the imported ones.
    last_number = session.execute(
        select(Tracker.last_number).where(Tracker.id == tracker.id).with_for_update()
    ).scalar_one()
    count = session.scalar(select(func.count(Ticket.id)).where(Ticket.tracker_id == tracker.id))
    if count:
        tickets = "1 ticket" if count == 1 else f"{count} tickets"
        raise ImportRefused(f"tracker {tracker.name!r} is not empty: it has {tickets}")

    if not tracker.description:
        tracker.description = parsed.description
    for name, color in parsed.labels:
        ensure_label(session, tracker, name, color)
    for name in sorted({name for t in parsed.tickets for name in t.labels}):
        ensure_label(session, tracker, name)

    counts = dict.fromkeys((a.value for a in Authenticity), 0)
    for item in parsed.tickets:
        for mark in _import_ticket(session, tracker, parsed, item):
            counts[mark.value] += 1
    tracker.last_number = max([last_number or 0, *(t.number for t in parsed.tickets)])
    session.flush()
    return counts


def _import_ticket(
    session: Session, tracker: Tracker, doc: Document, item: TicketItem
) -> list[Authenticity]:
    """Add one ticket and its events; returns the marks of the ticket and its comments."""

    def check(signature: str | None, author: str, text: str, kind: str, when: str) -> Authenticity:
        if signature is None:
            return Authenticity.unauthenticated
        data = _signed_bytes(doc.tracker_name, item.number, author, text, doc.instance, kind, when)
        try:
            doc.public_key.verify(base64.b64decode(signature, validate=True), data)
        except (InvalidSignature, binascii.Error, ValueError):
            return Authenticity.tampered
        return Authenticity.authentic

    title = _opened_title(item.title, ((e.kind.name, e.data) for e in item.events))
    ticket_mark = check(
        item.signature, item.submitter, f"{title}\n\n{item.description}", "ticket", item.when
    )
    opened = next((e for e in item.events if e.kind is EventKind.opened), None)
    # The report's event shows the description the ticket's signature covers: a copy
    # that differs from it was changed after signing.
    if ticket_mark is Authenticity.authentic and opened is not None:
        if opened.text != item.description or opened.actor != item.submitter:
            ticket_mark = Authenticity.tampered
    ticket = Ticket(
        tracker_id=tracker.id,
        number=item.number,
        title=item.title,
        description=item.description,
        status=item.status,
        resolution=item.resolution,
        submitter=item.submitter.lower(),
        submitter_name=item.submitter_name,
        created_at=item.created_at,
        updated_at=max([item.created_at, *(e.created_at for e in item.events)]),
        thread_msgid=(opened.message_id if opened else "")
        or f"ticket-{tracker.name}-{item.number}@mailyard",
        labels=[],
        assignees=[],
    )
    session.add(ticket)
    set_labels(session, ticket, item.labels)
    set_assignees(session, ticket, item.assignees)

    marks = []
    rows = []
    for event in item.events:
        # A mark in the document is only a claim: this import's own check replaces it.
        data = {k: v for k, v in event.data.items() if k != "authenticity"}
        data["origin"] = doc.instance
        mark = None
        if event.kind is EventKind.opened:
            mark = ticket_mark
        elif event.kind is EventKind.comment:
            mark = check(event.signature, event.actor, event.text, "comment", event.when)
            marks.append(mark)
        if mark is not None:
            data["authenticity"] = mark.value
        rows.append(
            TicketEvent(
                ticket_id=ticket.id,
                kind=event.kind,
                actor=event.actor.lower(),
                actor_name=event.actor_name,
                created_at=event.created_at,
                text=event.text,
                data=data,
                message_id=event.message_id,
                authenticated=event.authenticated if mark is Authenticity.authentic else "",
            )
        )
    session.add_all(rows)
    session.flush()
    return [ticket_mark, *marks]


def authenticity_of(event: TicketEvent) -> Authenticity | None:
    """The import's mark on a ticket's report or a comment; None for native events and
    for imported changes (status, labels...), which carry nobody's words."""
    value = (event.data or {}).get("authenticity")
    try:
        return Authenticity(value) if value is not None else None
    except ValueError:
        return None
