"""To and Cc names are kept decoded: shown as people wrote them, found by search, and
`mailyard reindex` mends rows written when they were stored as RFC 2047 encoded words."""

from __future__ import annotations

import email.utils
import html

from sqlalchemy import select

from archive import search
from archive.ingest import format_addresses, ingest_messages
from archive.models import Message
from archive.parse import Address
from archive.search import search_messages
from archive.store import store_message
from lists.manage import create_list
from mailyard.wiring import BLUEPRINTS
from tests.cli_runner import MailyardCli
from web.app import create_app

RAW = (
    b"From: Ada <ada@example.com>\n"
    b"To: =?utf-8?q?Philippe_Mathieu-Daud=C3=A9?= <philmd@example.org>,"
    b" dev@lists.example.org\n"
    b"Cc: =?utf-8?b?RWzDqWFub3IgRHVwb250?= <ed@example.net>,"
    b' "Doe, Jane" <jane@example.com>\n'
    b"Subject: names\nDate: Mon, 02 Mar 2026 10:00:00 +0000\nMessage-ID: <names@example.com>\n"
    b"\nhello\n"
)
TO = "Philippe Mathieu-Daudé <philmd@example.org>, dev@lists.example.org"
CC = 'Eléanor Dupont <ed@example.net>, "Doe, Jane" <jane@example.com>'


def archived(session):
    dev = create_list(session, "dev", "o@example.org")
    result = store_message(session, RAW, "names@example.com", [dev.id])
    ingest_messages(session, [result.message_pk])
    session.commit()
    return dev, session.get(Message, result.message_pk)


def found(session, dev, query: str) -> bool:
    return bool(search_messages(session, [dev.id], query))


def test_to_and_cc_are_stored_and_indexed_decoded(session):
    dev, message = archived(session)
    assert (message.to_text, message.cc_text) == (TO, CC)
    assert found(session, dev, "t:Mathieu-Daudé") and found(session, dev, "c:Eléanor")
    assert found(session, dev, 'c:"Doe, Jane"')


def test_the_message_page_shows_the_decoded_names(session, settings):
    archived(session)
    client = create_app(settings, BLUEPRINTS).test_client()
    page = html.unescape(client.get("/dev/names@example.com/").get_data(as_text=True))
    assert "Philippe Mathieu-Daudé" in page and "Eléanor Dupont" in page
    assert "=?utf-8?" not in page


def test_names_with_specials_stay_quoted_so_the_list_splits_again():
    text = format_addresses(
        [
            Address('Doe, "JJ" Jane', "jane@example.com"),
            Address("Zoë", "zoe@example.org"),
            Address("", "bare@example.org"),
            Address("Ünïcode", "jörg@exämple.org"),  # an SMTPUTF8 address
        ]
    )
    assert text == (
        '"Doe, \\"JJ\\" Jane" <jane@example.com>, Zoë <zoe@example.org>, bare@example.org,'
        " Ünïcode <jörg@exämple.org>"
    )
    assert email.utils.getaddresses([text])[0] == ('Doe, "JJ" Jane', "jane@example.com")


def test_reindex_decodes_names_stored_encoded(session, settings):
    dev, message = archived(session)
    # A row as the old ingest wrote it: formataddr put the names back into encoded words.
    message.to_text = ", ".join(
        email.utils.formataddr(pair) for pair in email.utils.getaddresses([TO])
    )
    message.cc_text = ", ".join(
        email.utils.formataddr(pair) for pair in email.utils.getaddresses([CC])
    )
    assert "=?utf-8?" in message.to_text and "=?utf-8?" in message.cc_text
    search.clear_index(session)
    search.index_message(session, message)
    session.commit()
    assert not found(session, dev, "c:Eléanor")  # the old data: a search finds nothing

    out = MailyardCli(settings)("reindex", "-j", "1")  # what the operator runs
    assert out.returncode == 0, out.stderr
    session.expire_all()
    message = session.scalars(select(Message)).one()
    assert (message.to_text, message.cc_text) == (TO, CC)
    assert found(session, dev, "c:Eléanor") and found(session, dev, "t:Mathieu-Daudé")
