"""Export a tracker, read it back, import it elsewhere: numbers, labels and history kept,
and each ticket and comment marked authentic, tampered or unauthenticated."""

from __future__ import annotations

import base64
import gzip
import io
import json
import stat
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from trackers.commands import Resolution, Status
from trackers.export import (
    EXPORT_VERSION,
    Authenticity,
    ImportRefused,
    authenticity_of,
    export_tracker,
    import_tracker,
    instance_id,
    instance_key,
    read_export,
    write_export,
)
from trackers.models import (
    EventKind,
    Label,
    Ticket,
    TicketEvent,
    Tracker,
)

T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
OWNER = "owner@example.org"


@pytest.fixture
def db(session):
    return session


def make_tracker(session, name: str) -> Tracker:
    tracker = Tracker(name=name, description="", owner_email=OWNER, last_number=0)
    session.add(tracker)
    session.flush()
    return tracker


def add_ticket(session, tracker, number, title, description, submitter, authenticated, minute):
    when = T0 + timedelta(minutes=minute)
    ticket = Ticket(
        tracker_id=tracker.id,
        number=number,
        title=title,
        description=description,
        status=Status.reported,
        resolution=Resolution.unresolved,
        submitter=submitter,
        submitter_name=submitter.split("@")[0].title(),
        thread_msgid=f"opened-{number}-{minute}@example.org",  # the report's own
        labels=[],
        assignees=[],
        created_at=when,
        updated_at=when,
    )
    session.add(ticket)
    session.flush()
    add_event(session, ticket, EventKind.opened, submitter, minute, description, authenticated)
    tracker.last_number = max(tracker.last_number, number)
    return ticket


def add_event(session, ticket, kind, actor, minute, text="", authenticated="", data=None):
    mail = kind in (EventKind.opened, EventKind.comment)
    event = TicketEvent(
        ticket_id=ticket.id,
        kind=kind,
        actor=actor,
        actor_name=actor.split("@")[0].title(),
        text=text,
        data=data or {},
        message_id=f"{kind.name}-{ticket.number}-{minute}@example.org" if mail else "",
        raw=b"Subject: secret raw mail\r\n\r\n" if mail else None,
        authenticated=authenticated,
        created_at=T0 + timedelta(minutes=minute),
    )
    session.add(event)
    session.flush()
    return event


@pytest.fixture
def source(db) -> Tracker:
    """Three tickets (#1, #2, #5) with signed and unsigned reports and comments."""
    tracker = make_tracker(db, "source")
    tracker.description = "Bugs of the source"
    db.add_all(
        [
            Label(tracker_id=tracker.id, name="bug", color="#d73a4a"),
            Label(tracker_id=tracker.id, name="ui", color="#0075ca"),
        ]
    )
    one = add_ticket(
        db, tracker, 1, "Crash on start", "It crashes — naïve ✓", "alice@a.org", "dkim", 0
    )
    add_event(db, one, EventKind.comment, "bob@b.org", 1, "Same here", "pgp")
    add_event(db, one, EventKind.comment, "carol@c.org", 2, "Me too (unsigned)", "")
    add_event(db, one, EventKind.label, OWNER, 3, data={"label": "bug"})
    add_event(db, one, EventKind.status, OWNER, 4, data={"old": "reported", "new": "confirmed"})
    add_event(db, one, EventKind.comment, "alice@a.org", 5, "Fixed by 1234abc", "dkim")
    one.labels = ["bug"]
    one.assignees = ["bob@b.org"]
    one.status = Status.confirmed

    two = add_ticket(db, tracker, 2, "Typo", "Teh typo", "dave@d.org", "", 10)
    add_event(db, two, EventKind.comment, "alice@a.org", 11, "Indeed", "dkim")

    five = add_ticket(db, tracker, 5, "Dark mode", "Please", "erin@e.org", "pgp", 20)
    add_event(db, five, EventKind.title, OWNER, 21, data={"old": "Dark mode", "new": "Theme"})
    five.title = "Theme"
    five.status, five.resolution = Status.resolved, Resolution.implemented
    five.labels = ["ui"]
    db.flush()
    return tracker


def exported_bytes(session, settings, tracker) -> bytes:
    out = io.BytesIO()
    write_export(export_tracker(session, settings, tracker), out)
    return out.getvalue()


def import_into(session, settings, doc, name="copy") -> tuple[Tracker, dict[str, int]]:
    target = make_tracker(session, name)
    counts = import_tracker(session, settings, target, doc)
    session.commit()
    return target, counts


def events_of(session, tracker) -> dict[int, list[TicketEvent]]:
    rows = session.scalars(
        select(TicketEvent)
        .join(Ticket, Ticket.id == TicketEvent.ticket_id)
        .where(Ticket.tracker_id == tracker.id)
        .order_by(TicketEvent.id)
    )
    by_number: dict[int, list[TicketEvent]] = {}
    for event in rows:
        by_number.setdefault(session.get(Ticket, event.ticket_id).number, []).append(event)
    return by_number


def tickets_of(session, tracker) -> dict[int, Ticket]:
    rows = session.scalars(select(Ticket).where(Ticket.tracker_id == tracker.id))
    return {t.number: t for t in rows}


def marks_of(session, tracker) -> dict[tuple[int, str], Authenticity | None]:
    """(ticket number, event text or kind) -> mark."""
    return {
        (number, e.text or e.kind.name): authenticity_of(e)
        for number, events in events_of(session, tracker).items()
        for e in events
    }


def test_round_trip_keeps_numbers_labels_and_event_order(db, settings, source):
    doc = read_export(io.BytesIO(exported_bytes(db, settings, source)))
    target, _ = import_into(db, settings, doc)

    assert target.last_number == 5
    assert target.description == "Bugs of the source"
    labels = db.execute(select(Label.name, Label.color).where(Label.tracker_id == target.id))
    assert sorted(labels) == [("bug", "#d73a4a"), ("ui", "#0075ca")]
    old, new = tickets_of(db, source), tickets_of(db, target)
    assert sorted(new) == [1, 2, 5]
    for number, ticket in old.items():
        copy = new[number]
        for field in (
            "title",
            "description",
            "status",
            "resolution",
            "submitter",
            "submitter_name",
            "labels",
            "assignees",
            "created_at",
            "thread_msgid",
        ):
            assert getattr(copy, field) == getattr(ticket, field), (number, field)
    assert new[1].updated_at == T0 + timedelta(minutes=5)

    def history(events):
        return [(e.kind, e.actor, e.actor_name, e.text, e.message_id, e.created_at) for e in events]

    old_events, new_events = events_of(db, source), events_of(db, target)
    for number in old:
        assert history(new_events[number]) == history(old_events[number])
    status = next(e for e in new_events[1] if e.kind is EventKind.status)
    assert status.data == {"old": "reported", "new": "confirmed", "origin": instance_id(settings)}
    assert all(e.raw is None for events in new_events.values() for e in events)


def test_export_names_instance_and_key_and_leaves_raw_mail_out(db, settings, source):
    data = exported_bytes(db, settings, source)
    doc = json.loads(gzip.decompress(data))
    assert doc["version"] == EXPORT_VERSION
    assert doc["instance"] == "http://archive.example.org"
    assert len(base64.b64decode(doc["public_key"])) == 32
    assert doc["tracker"] == {
        "name": "source",
        "description": "Bugs of the source",
        "owner_email": OWNER,
    }
    assert doc["tickets"][0]["created_at"] == "2026-03-02T10:00:00Z"
    assert b"secret raw mail" not in gzip.decompress(data)
    signed = {
        (t["number"], e["text"]) for t in doc["tickets"] for e in t["events"] if "signature" in e
    }
    assert signed == {(1, "Same here"), (1, "Fixed by 1234abc"), (2, "Indeed")}
    assert [("signature" in t) for t in doc["tickets"]] == [True, False, True]


def test_write_export_is_deterministic_with_sorted_keys(db, settings, source):
    first = exported_bytes(db, settings, source)
    assert exported_bytes(db, settings, source) == first
    text = gzip.decompress(first).decode("utf-8")
    assert "naïve ✓" in text  # utf-8, not \u escapes
    top_keys = [line.split('"')[1] for line in text.splitlines() if line.startswith(' "')]
    assert top_keys == sorted(top_keys)


def test_signed_items_are_authentic_and_unsigned_unauthenticated(db, settings, source):
    doc = read_export(io.BytesIO(exported_bytes(db, settings, source)))
    target, counts = import_into(db, settings, doc)

    assert counts == {"authentic": 5, "tampered": 0, "unauthenticated": 2}
    assert marks_of(db, target) == {
        (1, "It crashes — naïve ✓"): Authenticity.authentic,
        (1, "Same here"): Authenticity.authentic,
        (1, "Me too (unsigned)"): Authenticity.unauthenticated,
        (1, "label"): None,
        (1, "status"): None,
        (1, "Fixed by 1234abc"): Authenticity.authentic,
        (2, "Teh typo"): Authenticity.unauthenticated,
        (2, "Indeed"): Authenticity.authentic,
        (5, "Please"): Authenticity.authentic,  # signed with its title as opened
        (5, "title"): None,
    }
    assert all(authenticity_of(e) is None for es in events_of(db, source).values() for e in es)
    origins = {e.data["origin"] for es in events_of(db, target).values() for e in es}
    assert origins == {"http://archive.example.org"}


def edit_export(data: bytes, change) -> dict:
    """Gunzip, change the JSON as a person with an editor would, and read it back."""
    doc = json.loads(gzip.decompress(data))
    change(doc)
    return read_export(io.BytesIO(json.dumps(doc).encode()))


def test_edited_comment_is_tampered_and_the_rest_authentic(db, settings, source):
    def change(doc):
        doc["tickets"][0]["events"][1]["text"] = "Same here, and send money"

    doc = edit_export(exported_bytes(db, settings, source), change)
    target, counts = import_into(db, settings, doc)

    assert counts == {"authentic": 4, "tampered": 1, "unauthenticated": 2}
    marks = marks_of(db, target)
    assert marks[(1, "Same here, and send money")] is Authenticity.tampered
    assert marks[(1, "Fixed by 1234abc")] is Authenticity.authentic
    assert marks[(1, "It crashes — naïve ✓")] is Authenticity.authentic
    tampered = next(e for e in events_of(db, target)[1] if "money" in e.text)
    assert tampered.authenticated == ""  # nothing vouches for the claimed DKIM any more


@pytest.mark.parametrize(
    "change, tampered",
    [
        (lambda d: d["tickets"][0]["events"][1].update(actor="mallory@m.org"), 1),
        (lambda d: d["tickets"][0]["events"][1].update(created_at="2020-01-01T00:00:00Z"), 1),
        (lambda d: d["tickets"][0].update(description="It works"), 1),
        (lambda d: d["tickets"][0]["events"][0].update(text="Edited report"), 1),
        (lambda d: d["tickets"][2]["events"][1]["data"].update(old="Light mode"), 1),
        (lambda d: d["tickets"][2].update(number=9), 1),  # moved to another ticket
        (lambda d: d["tickets"][1].update(number=7), 1),  # its signed comment with it
        (lambda d: d["tracker"].update(name="other"), 5),
        (lambda d: d.update(instance="https://trusted.example"), 5),
    ],
    ids=[
        "author",
        "date",
        "description",
        "report-event",
        "opened-title",
        "ticket-number",
        "comment-ticket",
        "tracker",
        "instance",
    ],
)
def test_changing_signed_fields_makes_items_tampered(db, settings, source, change, tampered):
    doc = edit_export(exported_bytes(db, settings, source), change)
    _, counts = import_into(db, settings, doc)
    assert counts["tampered"] == tampered
    assert counts["authentic"] == 5 - tampered


def test_signature_against_another_key_is_tampered(db, settings, source, tmp_path):
    other = replace(settings, data_dir=tmp_path / "other")
    other_key = export_tracker(db, other, source)["public_key"]
    doc = edit_export(
        exported_bytes(db, settings, source), lambda d: d.update(public_key=other_key)
    )
    _, counts = import_into(db, settings, doc)
    assert counts == {"authentic": 0, "tampered": 5, "unauthenticated": 2}


def test_removed_signature_is_unauthenticated(db, settings, source):
    doc = edit_export(
        exported_bytes(db, settings, source), lambda d: d["tickets"][0].pop("signature")
    )
    _, counts = import_into(db, settings, doc)
    assert counts == {"authentic": 4, "tampered": 0, "unauthenticated": 3}


def test_export_of_another_instance_is_checked_against_its_own_key(db, settings, source, tmp_path):
    upstream = replace(settings, data_dir=tmp_path / "up", base_url="https://todo.example/")
    doc = read_export(io.BytesIO(exported_bytes(db, upstream, source)))
    assert doc["instance"] == "https://todo.example"
    target, counts = import_into(db, settings, doc)
    assert counts == {"authentic": 5, "tampered": 0, "unauthenticated": 2}
    origins = {e.data["origin"] for es in events_of(db, target).values() for e in es}
    assert origins == {"https://todo.example"}


def test_imported_items_are_exported_again_unsigned(db, settings, source):
    doc = read_export(io.BytesIO(exported_bytes(db, settings, source)))
    target, _ = import_into(db, settings, doc)
    again = export_tracker(db, settings, target)
    assert not any("signature" in t for t in again["tickets"])
    assert not any("signature" in e for t in again["tickets"] for e in t["events"])
    _, counts = import_into(db, settings, again, name="third")
    assert counts == {"authentic": 0, "tampered": 0, "unauthenticated": 7}


def test_a_mark_written_into_the_document_is_not_believed(db, settings, source):
    def change(doc):
        doc["tickets"][0]["events"][2]["data"]["authenticity"] = "authentic"  # unsigned
        doc["tickets"][0]["events"][3]["data"]["authenticity"] = "authentic"  # a label

    doc = edit_export(exported_bytes(db, settings, source), change)
    target, _ = import_into(db, settings, doc)
    marks = marks_of(db, target)
    assert marks[(1, "Me too (unsigned)")] is Authenticity.unauthenticated
    assert marks[(1, "label")] is None


def test_import_into_a_tracker_with_tickets_is_refused(db, settings, source):
    doc = read_export(io.BytesIO(exported_bytes(db, settings, source)))
    with pytest.raises(ImportRefused, match=r"^tracker 'source' is not empty"):
        import_tracker(db, settings, source, doc)


@pytest.mark.parametrize(
    "data, reason",
    [
        (b"", "not a Mailyard tracker export"),
        (b"\x1f\x8b\x08garbage", "not a Mailyard tracker export"),
        (b"From: someone\n\nan mbox perhaps", "not a Mailyard tracker export"),
        (gzip.compress(b"\xff\xfe"), "not a Mailyard tracker export"),
        (gzip.compress(b"[1, 2]"), "not a Mailyard tracker export"),
        (gzip.compress(b'{"version": 2, "tickets": []}'), "export version 2"),
        (gzip.compress(b'{"version": 1, "tickets": []}'), "has no 'instance'"),
    ],
    ids=["empty", "broken-gzip", "text", "not-utf8", "list", "version", "incomplete"],
)
def test_garbage_is_refused_with_a_one_line_reason(data, reason):
    with pytest.raises(ImportRefused) as refused:
        read_export(io.BytesIO(data))
    assert reason in str(refused.value)
    assert "\n" not in str(refused.value)


def test_bad_fields_are_refused_naming_them(db, settings, source):
    data = exported_bytes(db, settings, source)
    cases = [
        (lambda d: d["tickets"][1].update(status="lost"), "ticket #2: unknown status 'lost'"),
        (lambda d: d["tickets"][1].update(number=1), "ticket #1: ticket numbers"),
        (lambda d: d["tickets"][0]["events"][2].pop("kind"), "ticket #1, event 3 has no 'kind'"),
        (lambda d: d.update(public_key="nope"), "public_key"),
        (lambda d: d["labels"][0].update(color="red"), "label 1"),
    ]
    for change, reason in cases:
        with pytest.raises(ImportRefused, match=reason):
            edit_export(data, change)


def test_instance_key_is_private_and_stable(settings):
    key = instance_key(settings)
    path = settings.data_dir / "instance_ed25519.pem"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    again = instance_key(settings)
    raw = key.public_key().public_bytes_raw()
    assert again.public_key().public_bytes_raw() == raw
    assert [p.name for p in settings.data_dir.iterdir() if "ed25519" in p.name] == [path.name]


def test_imported_labels_and_assignees_can_be_filtered_on(db, settings, source):
    from trackers.queries import TicketFilter, tickets_page

    doc = read_export(io.BytesIO(exported_bytes(db, settings, source)))
    target, _ = import_into(db, settings, doc)
    by_label = tickets_page(db, target.id, TicketFilter(label="bug")).tickets
    by_assignee = tickets_page(db, target.id, TicketFilter(assignee="BOB@b.org")).tickets
    assert [t.number for t in by_label] == [1] and [t.number for t in by_assignee] == [1]
