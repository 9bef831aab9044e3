"""Patches that close tickets: a `Closes: TRACKER#N` trailer notes the patch on the
ticket, and applying its patchset resolves the ticket `fixed`."""

from __future__ import annotations

import smtplib

from sqlalchemy import select

from archive.lists import get_list
from mailyard.wiring import BLUEPRINTS
from patchsets.models import Patchset, PatchsetStatus
from patchsets.status import change_status
from trackers.commands import Resolution, Status
from trackers.models import EventKind, TicketEvent
from trackers.tickets import Origin, create_tracker, get_ticket, open_ticket

DOMAIN = "lists.example.org"

PATCH = """From: Pat Coder <pat@example.com>
To: dev@lists.example.org
Subject: [PATCH] parser: accept empty input
Date: Mon, 01 Jan 2024 12:00:00 +0000
Message-ID: <fix-1@example.com>
Content-Type: text/plain; charset=utf-8

An empty file made the parser crash.

Closes: bugs#1
Fixes: 1234567890ab ("parser: add the parser")
Signed-off-by: Pat Coder <pat@example.com>
---
 parser.py | 2 ++
 1 file changed, 2 insertions(+)

diff --git a/parser.py b/parser.py
index 1111111..2222222 100644
--- a/parser.py
+++ b/parser.py
@@ -1,2 +1,4 @@
 def parse(text):
+    if not text:
+        return []
     return text.split()
"""


def test_a_closing_trailer_references_the_ticket_and_applying_resolves_it(
    start_servers, relay_settings, sink, session, lists
):
    bugs = create_tracker(session, "bugs", "owner@example.org")
    ticket = open_ticket(session, bugs, "Crash on empty input", "...", Origin("rita@example.com"))
    session.commit()
    server = start_servers(relay_url=relay_settings.relay_url)
    with smtplib.SMTP(*server.smtp_address) as client:
        client.sendmail("pat@example.com", [f"dev@{DOMAIN}"], PATCH.replace("\n", "\r\n").encode())

    session.expire_all()
    [reference] = session.scalars(
        select(TicketEvent).where(TicketEvent.kind == EventKind.reference)
    ).all()
    assert reference.ticket_id == ticket.id and reference.message_id == "fix-1@example.com"
    assert reference.data["how"] == "closes" and "/dev/fix-1@example.com/" in reference.data["url"]
    notes = [r for r in sink.received if r.rcpt_tos == ["rita@example.com"]]
    assert notes and b"referenced by" in notes[0].content

    patchset = session.scalar(select(Patchset))
    mlist = get_list(session, "dev")
    change_status(
        session, mlist, patchset, PatchsetStatus.applied, actor=mlist.owner_email, via="cli"
    )
    session.commit()
    session.expire_all()
    fixed = get_ticket(session, bugs.id, 1)
    assert fixed.status is Status.resolved and fixed.resolution is Resolution.fixed


def test_the_ticket_page_links_the_referring_patch(session, settings):
    from web.app import create_app

    bugs = create_tracker(session, "bugs", "owner@example.org")
    ticket = open_ticket(session, bugs, "Crash", "...", Origin("rita@example.com"))
    from trackers.tickets import add_reference

    add_reference(
        session,
        ticket,
        "[PATCH] fix <it>",
        Origin("pat@example.com", message_id="fix-1@example.com"),
        {"url": "http://archive.example.org/dev/fix-1@example.com/", "how": "closes"},
    )
    session.commit()
    page = (
        create_app(settings, BLUEPRINTS)
        .test_client()
        .get("/bugs/tickets/1/")
        .get_data(as_text=True)
    )
    assert (
        '<a href="http://archive.example.org/dev/fix-1@example.com/">'
        "<bdi>[PATCH] fix &lt;it&gt;</bdi></a>" in page
    )
