"""Attachments on the web: listed on the message page and the ticket page by the same
macro, downloadable at public-inbox's /LIST/MSGID/N-filename, never rendered or run."""

from __future__ import annotations

from tests.archive.test_attachments import LOG, PNG, TEXT, mixed
from trackers.tickets import Origin, create_tracker, open_ticket
from web.mid import ATTACHMENT, MESSAGE, split_message_path

HTML_FILE = (
    'Content-Type: text/html; charset=utf-8\nContent-Disposition: attachment; filename="x.html"\n'
    "\n<html><script>alert(1)</script></html>\n"
)


def attached(msgid: str = "logs@x") -> bytes:
    return (
        "From: Ada <ada@example.com>\nTo: dev@lists.example.org\nSubject: build logs\n"
        f"Message-ID: <{msgid}>\nDate: Mon, 02 Mar 2026 10:00:00 +0000\nMIME-Version: 1.0\n"
        + mixed(TEXT, LOG, PNG, HTML_FILE)
    ).encode()


def test_message_page_lists_each_attachment_with_name_type_size_and_link(client, seed):
    dev = seed.make_list("dev")
    seed.post(dev, "logs@x", raw=attached())
    page = client.get("/dev/logs@x/").get_data(as_text=True)
    assert '<a href="/dev/logs@x/2-build-log.txt" download><bdi>build log.txt</bdi></a>' in page
    assert "text/plain, 40 bytes" in page
    assert 'href="/dev/logs@x/3-shot.png"' in page and "image/png, 8 bytes" in page
    assert 'href="/dev/logs@x/4-x.html"' in page and "text/html" in page
    # The text one is shown, escaped; the HTML one is not shown at all.
    assert "&lt;script&gt;alert(1)&lt;/script&gt; step 1 failed" in page
    assert "<script" not in page and "<html>" not in page


def test_downloads_are_attachments_of_a_type_that_cannot_run(client, seed):
    dev = seed.make_list("dev")
    seed.post(dev, "logs@x", raw=attached())
    log = client.get("/dev/logs@x/2-build-log.txt")
    assert log.status_code == 200
    assert log.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert log.headers["Content-Disposition"] == 'attachment; filename="build-log.txt"'
    assert log.headers["X-Content-Type-Options"] == "nosniff"
    assert log.data == b"<script>alert(1)</script> step 1 failed\n"
    html = client.get("/dev/logs@x/4-x.html")
    assert html.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert html.headers["Content-Disposition"].startswith("attachment;")
    png = client.get("/dev/logs@x/3-anything")  # the name is ignored, as in public-inbox
    assert png.headers["Content-Type"] == "application/octet-stream"
    assert png.data.startswith(b"\x89PNG")
    assert client.get("/all/logs@x/3-shot.png").status_code == 200


def test_an_attachment_that_is_not_there_is_a_404_that_says_so(client, seed):
    dev = seed.make_list("dev")
    seed.post(dev, "logs@x", raw=attached())
    missing = client.get("/dev/logs@x/9-nothing.txt")
    assert missing.status_code == 404 and b"has no attachment 9" in missing.data
    assert client.get("/dev/logs@x/1-body.txt").status_code == 404  # the text is no attachment
    assert client.get("/dev/nosuch@x/2-build-log.txt").status_code == 404


def test_ticket_page_lists_the_attachments_of_the_mail_that_opened_it(client, session):
    raw = attached("bug@x")
    tracker = create_tracker(session, "bugs", "owner@example.com")
    origin = Origin(address="ada@example.com", name="Ada", message_id="bug@x", raw=raw)
    open_ticket(session, tracker, "It fails", "see the log\n", origin)
    session.commit()
    page = client.get("/bugs/tickets/1/").get_data(as_text=True)
    link = '<a href="/bugs/tickets/1/'
    assert link in page and '/2-build-log.txt" download><bdi>build log.txt</bdi></a>' in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt; step 1 failed" in page
    href = page.split(link, 1)[1].split('"', 1)[0]
    log = client.get("/bugs/tickets/1/" + href)
    assert log.status_code == 200 and log.headers["Content-Disposition"].startswith("attachment;")
    assert log.data == b"<script>alert(1)</script> step 1 failed\n"
    png = client.get("/bugs/tickets/1/" + href.replace("2-build-log.txt", "3-shot.png"))
    assert png.headers["Content-Type"] == "application/octet-stream"
    assert client.get("/bugs/tickets/1/999/2-x.txt").status_code == 404


def test_an_attachment_path_is_told_from_a_message_id_with_slashes():
    found = split_message_path("a%2Fb@x/1.2-log.txt", escaped=True)
    assert found is not None and (found.msgid, found.view, found.part) == (
        "a/b@x",
        ATTACHMENT,
        "1.2",
    )
    message = split_message_path("a%2F1-b@x/", escaped=True)
    assert message is not None and (message.msgid, message.view) == ("a/1-b@x", MESSAGE)
